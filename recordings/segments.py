"""Writing one track's encoded packets, never re-encoded, into short Matroska segment files.

A segment is closed every few seconds (at a keyframe for video when one comes in
time), so a crash loses at most the segment being written. Each segment is
announced in the journal when it opens, with the RTP timestamp of its first packet
and the wall-clock time that packet arrived, and confirmed when it closes.
"""

from __future__ import annotations

import contextlib
import fractions
import logging
import os
import struct
from collections.abc import Callable
from pathlib import Path

import av
import av.container

from media.tracks import RtpClock, TrackInfo, is_keyframe
from recordings.journal import Journal

log = logging.getLogger("classroom.recordings")

SEGMENT_S = 3.0
# A video segment waits this many times SEGMENT_S for a keyframe before it is cut anyway
# (the pipeline joins segments in order, so a cut between keyframes loses nothing).
KEYFRAME_PATIENCE = 2.0
SEGMENT_SUFFIX = ".mkv"
# Every packet goes to the file as it is muxed (one write each), in clusters of at most
# a second: a killed process leaves the open segment readable up to its last packets.
MUXER_OPTIONS = {"cluster_time_limit": "1000", "flush_packets": "1"}


def opus_head(channels: int = 2, sample_rate: int = 48000) -> bytes:
    """The OpusHead a container needs; WebRTC Opus carries none (RFC 7845, section 5.1)."""
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, 0, sample_rate, 0, 0)


def segment_name(seq: int) -> str:
    return f"{seq:06d}{SEGMENT_SUFFIX}"


class TrackWriter:
    """The segment files of one track, under ``directory``; writes are synchronous."""

    def __init__(
        self,
        directory: Path,
        track: TrackInfo,
        journal: Journal,
        clock: Callable[[], float],
        segment_s: float = SEGMENT_S,
    ) -> None:
        self.directory = directory
        self.track = track
        self.journal = journal
        self.clock = clock
        self.segment_ticks = int(segment_s * track.clock_rate)
        self.time_base = fractions.Fraction(1, track.clock_rate)
        self.rtp = RtpClock()
        self.base: int | None = None  # unwrapped RTP timestamp of the first packet written
        self.last: int | None = None  # relative timestamp of the last packet written
        self.seq = 0
        self.container: av.container.OutputContainer | None = None
        self.stream: av.stream.Stream | None = None
        self.segment_start = 0
        self.segment_packets = 0
        self.dropped = 0
        self.ended = False  # the media layer ended the track (it may come back: see Recorder)
        directory.mkdir(parents=True, exist_ok=True)

    def write(self, packet: av.Packet) -> None:
        """Append one encoded frame (copied: the caller's packet is left untouched)."""
        data = bytes(packet)
        if not data or packet.pts is None:
            return
        pts = self._ticks(packet)
        keyframe = is_keyframe(self.track.codec, data)
        if self.base is None:
            if self.track.kind == "video" and not keyframe:
                self.dropped += 1  # undecodable until the first keyframe
                return
            self.base = pts
        relative = pts - self.base
        if self.last is not None and relative <= self.last:
            self.dropped += 1  # a duplicate or reordered frame: the muxer needs rising times
            return
        if self.container is None or self._segment_due(relative, keyframe):
            self._open_segment(relative)
        copy = av.Packet(data)
        copy.pts = copy.dts = relative
        copy.time_base = self.time_base
        copy.is_keyframe = keyframe
        assert self.container is not None and self.stream is not None
        copy.stream = self.stream
        self.container.mux(copy)
        self.last = relative
        self.segment_packets += 1

    def _ticks(self, packet: av.Packet) -> int:
        pts = int(packet.pts or 0)
        time_base = packet.time_base
        if time_base is not None and time_base != self.time_base:
            pts = round(pts * time_base * self.track.clock_rate)
        return self.rtp.unwrap(pts)

    def relative(self, rtp_timestamp: int) -> int | None:
        """An RTP timestamp of this track (say from a sender report) on the segments' scale."""
        if self.base is None:
            return None
        return self.rtp.peek(rtp_timestamp) - self.base

    def _segment_due(self, relative: int, keyframe: bool) -> bool:
        age = relative - self.segment_start
        if age < self.segment_ticks:
            return False
        if self.track.kind == "audio" or keyframe:
            return True
        return age >= self.segment_ticks * KEYFRAME_PATIENCE

    def _open_segment(self, relative: int) -> None:
        self.close_segment()
        self.seq += 1
        name = segment_name(self.seq)
        container = av.open(
            str(self.directory / name), "w", format="matroska", options=MUXER_OPTIONS
        )
        try:
            if self.track.kind == "audio":
                stream = container.add_stream(self.track.codec, rate=self.track.clock_rate)
                if self.track.codec == "opus":
                    stream.codec_context.extradata = opus_head()
            else:
                stream = container.add_stream(self.track.codec)
            stream.time_base = self.time_base
        except BaseException:
            container.close()
            raise
        self.container, self.stream = container, stream
        self.segment_start, self.segment_packets = relative, 0
        # "t" is when the segment's first packet arrived: the timing of last resort.
        self.journal.append(
            "segment", self.clock(), track=self.track.id, seq=self.seq, file=name, pts=relative
        )

    def close_segment(self) -> None:
        """Finish the open segment (if any) and confirm it in the journal."""
        container, self.container, self.stream = self.container, None, None
        if container is None:
            return
        path = Path(container.name)
        try:
            container.close()
        except (OSError, av.FFmpegError):
            # The muxer may still hold buffers it could not write: let it go all the same.
            with contextlib.suppress(OSError, av.FFmpegError):
                container.close()
            raise
        if self.journal.durable:
            _fsync(path)
        self.journal.append(
            "segment_closed",
            self.clock(),
            track=self.track.id,
            seq=self.seq,
            packets=self.segment_packets,
            end_pts=self.last,
        )

    def close_or_abandon(self) -> None:
        """After an error elsewhere: close the open segment if the disk lets us, else drop it."""
        try:
            self.close_segment()
        except (OSError, av.FFmpegError):
            log.warning("could not close a segment", extra={"track": self.track.id})


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
