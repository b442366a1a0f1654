"""Reading a track's segments as one stream on the session clock, packet by packet (no decoding).

A segment that cannot be read, or stops short, costs only its own packets: the
reading goes on with the next one and says what it skipped. A segment the writer
never closed (the server was killed) is read as far as it goes. ``join_track``
writes a whole track into one file; ``recordings.lanes`` takes what it needs of
several tracks into the streams of one file.
"""

from __future__ import annotations

import dataclasses
import fractions
import logging
from collections.abc import Iterator
from pathlib import Path

import av
import av.container

from recordings.timeline import SegmentRef, TrackPlan

log = logging.getLogger("classroom.recordings")

MS = fractions.Fraction(1, 1000)
FOREVER = float("inf")
# A segment is read for a time window when it may hold a packet within this of the window
# (its end is only known as the start of the next one, which may come a little late).
SEGMENT_MARGIN_S = 1.0


@dataclasses.dataclass(frozen=True)
class Joined:
    """One track on the session clock: where its packets start and end, in seconds."""

    track: str
    file: str
    start_s: float
    end_s: float
    packets: int
    warnings: tuple[str, ...]


class TrackReader:
    """The packets of one track in session milliseconds, from its segments in order.

    ``within``: only the segments that may hold packets in these (start, end) windows
    (session seconds) are read; the caller picks the packets themselves. After
    ``packets()`` is exhausted, ``joined(file)`` says what was read.
    """

    def __init__(
        self,
        track: TrackPlan,
        tracks_dir: Path,
        within: list[tuple[float, float]] | None = None,
    ) -> None:
        self.track = track
        self.tracks_dir = tracks_dir
        self.within = within
        self.warnings: list[str] = []
        self.template: av.stream.Stream | None = None  # the first readable segment's stream
        self._first: av.container.InputContainer | None = None  # open while template is used
        self.last_ms = -1
        self.first_s: float | None = None
        self.end_s = 0.0
        self.count = 0

    def _wanted(self) -> list[int]:
        """Indices (in playing order) of the segments to read."""
        segments = sorted(self.track.segments, key=lambda s: s.seq)
        if self.within is None:
            return list(range(len(segments)))
        rate = self.track.info.clock_rate
        starts = [self.track.offset_s + s.pts / rate for s in segments]
        wanted = []
        for index, start in enumerate(starts):
            end = starts[index + 1] if index + 1 < len(starts) else FOREVER
            if any(
                start - SEGMENT_MARGIN_S < b and a < end + SEGMENT_MARGIN_S for a, b in self.within
            ):
                wanted.append(index)
        return wanted

    def packets(self) -> Iterator[tuple[int, av.Packet]]:
        """(session ms, packet) with pts/dts in ms (time base 1/1000), each later than the last."""
        segments = sorted(self.track.segments, key=lambda s: s.seq)
        try:
            for index in self._wanted():
                yield from self._segment(segments[index])
        finally:
            if self._first is not None:
                self._first.close()
                self._first = None

    def _segment(self, segment: SegmentRef) -> Iterator[tuple[int, av.Packet]]:
        path = self.tracks_dir / self.track.dir / segment.file
        try:
            source = av.open(str(path), format="matroska")
        except (OSError, av.FFmpegError) as error:
            self.warnings.append(f"{self.track.dir}/{segment.file}: unreadable, skipped ({error})")
            return
        stream = source.streams[0]
        try:
            packets = _packets(source, stream, self.warnings, path, segment.closed)
        finally:
            if self.template is None:
                self.template, self._first = stream, source  # kept open: its stream is used
            else:
                source.close()
        time_base = stream.time_base
        if time_base is None:
            return
        in_ms = time_base == MS  # Matroska's own: no conversion per packet
        scale = float(time_base) * 1000
        offset_ms = self.track.offset_s * 1000
        for packet in packets:
            pts = packet.pts
            if pts is None:
                continue
            at_ms = round(offset_ms + (pts if in_ms else pts * scale))
            if at_ms < 0 or at_ms <= self.last_ms:
                continue  # before the recording began, or not after the last one
            duration = packet.duration or 0
            packet.pts = packet.dts = at_ms
            if not in_ms:
                packet.time_base = MS
                duration = round(duration * scale)
                packet.duration = duration
            self.last_ms = at_ms
            if self.first_s is None:
                self.first_s = at_ms / 1000
            self.end_s = (at_ms + duration) / 1000
            self.count += 1
            yield at_ms, packet

    def joined(self, file: str) -> Joined | None:
        """What was read (None: not a packet)."""
        if self.first_s is None:
            return None
        return Joined(
            self.track.id, file, self.first_s, self.end_s, self.count, tuple(self.warnings)
        )


def join_track(track: TrackPlan, tracks_dir: Path, destination: Path) -> Joined | None:
    """Write ``destination`` (Matroska) with every readable packet; None if there is none."""
    reader = TrackReader(track, tracks_dir)
    output: av.container.OutputContainer | None = None
    temporary = destination.with_name(destination.name + ".part")
    try:
        out_stream = None
        for _, packet in reader.packets():
            if output is None:
                assert reader.template is not None
                output = av.open(str(temporary), "w", format="matroska")
                out_stream = output.add_stream_from_template(reader.template)
                out_stream.time_base = MS
            packet.stream = out_stream
            output.mux(packet)
    finally:
        if output is not None:
            output.close()
    joined = reader.joined(destination.name)
    if joined is None:
        temporary.unlink(missing_ok=True)
        return None
    temporary.replace(destination)
    return joined


def _packets(
    source: av.container.InputContainer,
    stream: av.stream.Stream,
    warnings: list[str],
    path: Path,
    closed: bool,
) -> list[av.Packet]:
    """The segment's packets; a read error ends the segment early, keeping what came before."""
    packets = []
    try:
        for packet in source.demux(stream):
            if packet.size:
                packets.append(packet)
    except (OSError, av.FFmpegError) as error:
        if closed:  # a segment that was finished should read to its end
            warnings.append(f"{path.parent.name}/{path.name}: damaged after packet {len(packets)}")
        log.info("segment read stopped early", extra={"file": str(path), "error": str(error)})
    return packets
