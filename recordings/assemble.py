"""Joining a track's segments into one file on the session clock, packet by packet (no decoding).

A segment that cannot be read, or stops short, costs only its own packets: the
join goes on with the next one and says what it skipped. A segment the writer
never closed (the server was killed) is read as far as it goes.
"""

from __future__ import annotations

import dataclasses
import fractions
import logging
from pathlib import Path

import av
import av.container

from recordings.timeline import TrackPlan

log = logging.getLogger("classroom.recordings")

MS = fractions.Fraction(1, 1000)


@dataclasses.dataclass(frozen=True)
class Joined:
    """One track on the session clock: where its packets start and end, in seconds."""

    track: str
    file: str
    start_s: float
    end_s: float
    packets: int
    warnings: tuple[str, ...]


def join_track(track: TrackPlan, tracks_dir: Path, destination: Path) -> Joined | None:
    """Write ``destination`` (Matroska) with every readable packet; None if there is none."""
    warnings: list[str] = []
    output: av.container.OutputContainer | None = None
    out_stream = None
    first: float | None = None
    last_ms = -1
    end_s = 0.0
    count = 0
    temporary = destination.with_name(destination.name + ".part")
    try:
        for segment in sorted(track.segments, key=lambda s: s.seq):
            path = tracks_dir / track.dir / segment.file
            try:
                source = av.open(str(path))
            except (OSError, av.FFmpegError) as error:
                warnings.append(f"{track.dir}/{segment.file}: unreadable, skipped ({error})")
                continue
            try:
                stream = source.streams[0]
                if output is None:
                    output = av.open(str(temporary), "w", format="matroska")
                    out_stream = output.add_stream_from_template(stream)
                    out_stream.time_base = MS
                for packet in _packets(source, stream, warnings, path, segment.closed):
                    if packet.pts is None or packet.time_base is None:
                        continue
                    at = track.offset_s + float(packet.pts * packet.time_base)
                    at_ms = round(at * 1000)
                    if at_ms < 0 or at_ms <= last_ms:
                        continue  # before the recording began, or not after the last one
                    duration = float((packet.duration or 0) * packet.time_base)
                    packet.pts = packet.dts = at_ms
                    packet.time_base = MS
                    packet.duration = round(duration * 1000)
                    packet.stream = out_stream
                    output.mux(packet)
                    first = at if first is None else first
                    last_ms, end_s = at_ms, at + duration
                    count += 1
            finally:
                source.close()
    finally:
        if output is not None:
            output.close()
    if first is None:
        temporary.unlink(missing_ok=True)
        return None
    temporary.replace(destination)
    return Joined(track.id, destination.name, first, end_s, count, tuple(warnings))


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
