"""Audio lanes: the floor and each interpretation channel as Opus packets, one stream each.

A lane is one voice of the replay, still encoded: a microphone on the floor, or a
channel's interpreters, each only while on air, cut at packet boundaries (the booth
hands over between two packets, as the live listener heard it). Lanes are written
as the streams of a few Matroska files, so that the encoding ffmpeg decodes each
voice once, only where it is heard, reading one file with no input threads. The
header says mono: the decoder then makes mono directly (a replay rendition is mono).

``python -m recordings.lanes SPEC`` writes one lanes file in a process of its own
(the pipeline writes its lanes files side by side, one per core).
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import operator
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import av.container

from recordings.assemble import FOREVER, MS, Joined, TrackReader
from recordings.journal import JOURNAL_FILE, read_journal
from recordings.recorder import TRACKS_DIR
from recordings.segments import opus_head
from recordings.timeline import Plan, TrackPlan, plan

Spans = tuple[tuple[float, float], ...]


@dataclasses.dataclass(frozen=True)
class Piece:
    """A track's packets within ``spans`` (session seconds; None: all of them)."""

    track: str
    spans: Spans | None = None


@dataclasses.dataclass(frozen=True)
class Lane:
    """One voice: the floor (``channel`` None) or a channel's on-air interpretation."""

    channel: str | None
    pieces: tuple[Piece, ...]
    file: str = ""  # where it was written: this stream of this file
    stream: int = 0
    packets: int = 0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Lane:
        pieces = tuple(
            Piece(p["track"], None if p["spans"] is None else tuple(map(tuple, p["spans"])))
            for p in data["pieces"]
        )
        return cls(**{**data, "pieces": pieces})


def plan_lanes(session: Plan) -> list[Lane]:
    """Each microphone a floor lane; each channel one lane of whoever was on air (cut at
    the handovers), or, when the journal never said who was, a lane per interpreter."""
    lanes = [
        Lane(None, (Piece(t.id),))
        for t in session.tracks
        if t.info.kind == "audio" and t.info.source == "microphone" and t.segments
    ]
    for rendition in session.renditions:
        channel = rendition.channel
        if channel is None:
            continue
        interpreters = [
            t
            for t in session.tracks
            if t.info.source == "interpretation" and t.info.language == channel and t.segments
        ]
        spans = session.on_air.get(channel)
        if spans is None:
            lanes += [Lane(channel, (Piece(t.id),)) for t in interpreters]
            continue
        pieces = []
        for track in interpreters:
            mine = tuple(
                (a, FOREVER if b is None else b)
                for who, a, b in spans
                if who == track.info.participant and (b is None or b > a)
            )
            if mine:
                pieces.append(Piece(track.id, mine))
        if pieces:
            lanes.append(Lane(channel, tuple(pieces)))
    return lanes


def cost(lane: Lane, session: Plan, duration_s: float) -> float:
    """Roughly how much reading a lane takes: the session seconds its pieces cover."""
    total = 0.0
    for piece in lane.pieces:
        spans = piece.spans or ((0.0, FOREVER),)
        total += sum(min(b, duration_s) - max(a, 0.0) for a, b in spans if a < duration_s)
    return total or 1.0


def share_out(lanes: list[Lane], costs: list[float], files: int) -> list[list[int]]:
    """Lane indices per file, the costliest first each to the least loaded file."""
    loads = [0.0] * files
    shares: list[list[int]] = [[] for _ in range(files)]
    for index in sorted(range(len(lanes)), key=lambda i: -costs[i]):
        file = loads.index(min(loads))
        shares[file].append(index)
        loads[file] += costs[index]
    return [sorted(share) for share in shares if share]


def _within(packets: Iterator[tuple[int, av.Packet]], spans: Spans | None) -> Iterator[Any]:
    if spans is None:
        yield from packets
        return
    bounds = sorted((round(a * 1000), b * 1000) for a, b in spans)
    index = 0
    for at_ms, packet in packets:
        while index < len(bounds) and at_ms >= bounds[index][1]:
            index += 1
        if index == len(bounds):
            return
        if at_ms >= bounds[index][0]:
            yield at_ms, packet


def _lane_packets(
    index: int, lane: Lane, readers: dict[str, TrackReader]
) -> Iterator[tuple[int, int, av.Packet]]:
    """(ms, lane index, packet): the lane's pieces in time order, each later than the last."""
    sources = [_within(readers[p.track].packets(), p.spans) for p in lane.pieces]
    merged = sources[0] if len(sources) == 1 else heapq.merge(*sources, key=operator.itemgetter(0))
    last = -1
    for at_ms, packet in merged:
        if at_ms > last:
            last = at_ms
            yield at_ms, index, packet


def write_lanes(
    session: Plan, tracks_dir: Path, lanes: list[Lane], destination: Path
) -> tuple[list[Lane], list[Joined]]:
    """Write ``lanes`` as the streams of ``destination`` (Matroska, packets interleaved by
    time); returns the lanes with their file, stream and packet count, and what was read
    of each track."""
    tracks: dict[str, TrackPlan] = {t.id: t for t in session.tracks}
    readers: dict[str, TrackReader] = {}
    for lane in lanes:
        for piece in lane.pieces:
            within = None if piece.spans is None else list(piece.spans)
            readers[piece.track] = TrackReader(tracks[piece.track], tracks_dir, within)
    counts = [0] * len(lanes)
    temporary = destination.with_name(destination.name + ".part")
    with av.open(str(temporary), "w", format="matroska") as output:
        streams = [_add_stream(output, tracks[lane.pieces[0].track]) for lane in lanes]
        everything = heapq.merge(
            *(_lane_packets(i, lane, readers) for i, lane in enumerate(lanes)),
            key=operator.itemgetter(0),
        )
        for _, index, packet in everything:
            packet.stream = streams[index]
            output.mux(packet)
            counts[index] += 1
    temporary.replace(destination)
    written = [
        dataclasses.replace(lane, file=destination.name, stream=index, packets=counts[index])
        for index, lane in enumerate(lanes)
    ]
    joined = [j for j in (r.joined(destination.name) for r in readers.values()) if j is not None]
    return written, joined


def _add_stream(output: av.container.OutputContainer, track: TrackPlan) -> Any:
    info = track.info
    stream = output.add_stream(info.codec, rate=info.clock_rate)
    if info.codec == "opus":
        context = stream.codec_context
        if isinstance(context, av.AudioCodecContext):
            context.layout = "mono"
        context.extradata = opus_head(channels=1)
    stream.time_base = MS
    return stream


def main(argv: list[str]) -> int:
    """``SPEC``: a JSON file {"directory", "file", "lanes"}; prints the written lanes and
    what was read of each track, as JSON."""
    spec = json.loads(Path(argv[0]).read_text())
    directory = Path(spec["directory"])
    session = plan(read_journal(directory / JOURNAL_FILE))
    lanes = [Lane.from_json(data) for data in spec["lanes"]]
    written, joined = write_lanes(
        session, directory / TRACKS_DIR, lanes, directory / spec["work"] / spec["file"]
    )
    json.dump(
        {
            "lanes": [lane.to_json() for lane in written],
            "joined": [dataclasses.asdict(j) for j in joined],
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
