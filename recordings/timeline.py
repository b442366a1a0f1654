"""From a recording's journal to a plan: tracks on one clock, languages, who was on air, chapters.

Pure functions over the journal's entries (no I/O), so the timing rules are
tested without media. Session time 0 is when the recording started.

Timing of a track: its RTP timestamps are continuous, so only the wall-clock
time of one of them is needed. The arrival time journalled with each segment
gives that up to network delay and jitter; the smallest such estimate is the
least delayed. Sender reports tie one sender's tracks to one clock (lip sync):
when a track has them, its time comes from the sender's clock, shifted onto
the server's by the offset seen on that sender's tracks.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any

from media.tracks import TrackInfo

ORIGINAL = "original"
UNDETERMINED = "und"  # ISO 639-2: a language that is not known
DUPLICATE_CHAPTER_S = 5.0
#: How far apart a sender's clock may seem from its packets' arrival (network delay, a
#: busy server) before its sender reports are not believed.
CLOCK_GAP_S = 2.0


@dataclasses.dataclass(frozen=True)
class SegmentRef:
    seq: int
    file: str
    pts: int  # relative RTP timestamp of its first packet
    arrival: float  # wall clock when that packet arrived
    closed: bool  # confirmed in the journal (False: the writer was cut off)


@dataclasses.dataclass
class TrackPlan:
    info: TrackInfo
    dir: str
    segments: list[SegmentRef]
    offset_s: float = 0.0  # session time of relative timestamp 0
    ended_s: float | None = None  # when the journal says the track ended

    @property
    def id(self) -> str:
        return self.info.id


@dataclasses.dataclass(frozen=True)
class Chapter:
    start_s: float
    kind: str  # start, trainer_joined, screen_share, poll, quiz_question, on_air
    title: str  # in English, for the files; players translate from kind and params
    params: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Rendition:
    """One audio language of the replay: the floor, or the floor under one channel."""

    language: str  # BCP 47 code ("und" when the floor language is unknown)
    channel: str | None  # None: the original (floor alone)
    name: str


@dataclasses.dataclass(frozen=True)
class Signer:
    """A sign-language interpreter's video track and when it is shown: while they were on
    air in the channel (session seconds; None: until the end), or, when the journal says
    nobody was on air in that channel, whenever the track has pictures (empty)."""

    track: str  # track id
    spans: tuple[tuple[float, float | None], ...]


@dataclasses.dataclass(frozen=True)
class SignedRendition:
    """One sign language of the replay: the replay's video with its interpreters' video as a
    picture in picture, heard with the original sound."""

    language: str  # the channel's code (ISO 639-3, such as "ysl")
    channel: str
    name: str
    signers: tuple[Signer, ...]


@dataclasses.dataclass
class Plan:
    t0: float
    info: dict[str, Any]  # what the "started" line said (room, title, module...)
    tracks: list[TrackPlan]
    stopped_s: float | None  # None: the recording was cut off (crash)
    last_s: float  # the latest moment the journal knows of
    floor_language: str | None
    renditions: list[Rendition]
    on_air: dict[str, list[tuple[str, float, float | None]]]  # channel -> (who, from, to)
    chapters: list[Chapter]
    signed: list[SignedRendition] = dataclasses.field(default_factory=list)

    def track(self, track_id: str) -> TrackPlan:
        return next(t for t in self.tracks if t.id == track_id)


def titled_spans(chapters: list[Chapter], duration_s: float) -> list[tuple[float, float, str]]:
    """Chapters for files: (start, end, title), those starting together merged into one."""
    merged: list[tuple[float, str]] = []
    for chapter in chapters:
        if merged and abs(merged[-1][0] - chapter.start_s) < 0.001:
            merged[-1] = (merged[-1][0], f"{merged[-1][1]} · {chapter.title}")
        else:
            merged.append((chapter.start_s, chapter.title))
    spans = []
    for index, (start, title) in enumerate(merged):
        end = merged[index + 1][0] if index + 1 < len(merged) else duration_s
        if end > start:
            spans.append((start, end, title))
    return spans


def plan(entries: list[dict[str, Any]]) -> Plan:
    """The plan of a journal (the output of ``journal.read_journal``)."""
    started = next((e for e in entries if e["kind"] == "started"), None)
    if started is None:
        raise ValueError("the journal has no start line")
    t0 = float(started["t"])
    tracks: dict[str, TrackPlan] = {}
    reports: dict[str, list[tuple[float, int]]] = {}
    events: list[tuple[float, str, dict[str, Any]]] = []
    stopped_s = None
    closed: set[tuple[str, int]] = set()
    for entry in entries:
        kind, t = entry["kind"], float(entry["t"])
        if kind == "track":
            info = TrackInfo.from_json(entry["track"])
            tracks[info.id] = TrackPlan(info, str(entry["dir"]), [])
        elif kind == "segment" and entry["track"] in tracks:
            ref = SegmentRef(int(entry["seq"]), str(entry["file"]), int(entry["pts"]), t, False)
            tracks[entry["track"]].segments.append(ref)
        elif kind == "segment_closed":
            closed.add((entry["track"], int(entry["seq"])))
        elif kind == "sender_report":
            reports.setdefault(entry["track"], []).append((float(entry["ntp"]), int(entry["pts"])))
        elif kind == "track_ended" and entry["track"] in tracks:
            tracks[entry["track"]].ended_s = t - t0
        elif kind == "event":
            events.append((t - t0, str(entry["type"]), dict(entry.get("data") or {})))
        elif kind == "stopped":
            stopped_s = t - t0
    for track in tracks.values():
        track.segments = [
            dataclasses.replace(s, closed=(track.id, s.seq) in closed) for s in track.segments
        ]
    align(list(tracks.values()), reports, t0)
    floor = floor_language(events, started)
    on_air = on_air_intervals(events)
    return Plan(
        t0=t0,
        info={k: v for k, v in started.items() if k not in ("kind", "t")},
        tracks=list(tracks.values()),
        stopped_s=stopped_s,
        last_s=max(float(e["t"]) for e in entries) - t0,
        floor_language=floor,
        renditions=renditions(list(tracks.values()), floor),
        on_air=on_air,
        chapters=chapters(events, list(tracks.values()), str(started.get("title") or "")),
        signed=signed_renditions(list(tracks.values()), on_air),
    )


def align(tracks: list[TrackPlan], reports: dict[str, list[tuple[float, int]]], t0: float) -> None:
    """Set each track's ``offset_s`` (see the module's docstring for the method).

    A sender report can be wrong for the track it is filed under: one the publisher sent
    for the stream a codec switch just replaced arrives under the new track's id, its RTP
    time on another clock. So a track's sender clock is the median of its reports, a
    sender's skew ignores a track that disagrees with the sender's others by more than
    ``CLOCK_GAP_S``, and a track whose reports would place it that far from when its
    packets arrived is placed by its arrivals."""
    by_arrival: dict[str, float] = {}
    for track in tracks:
        if track.segments:
            rate = track.info.clock_rate
            by_arrival[track.id] = min(s.arrival - s.pts / rate for s in track.segments)
    sender_time: dict[str, float] = {}
    ahead: dict[str, list[float]] = {}  # per sender: how far the server's clock is ahead
    for track in tracks:
        if track.id in by_arrival and reports.get(track.id):
            rate = track.info.clock_rate
            sender_time[track.id] = statistics.median(n - p / rate for n, p in reports[track.id])
            gap = by_arrival[track.id] - sender_time[track.id]
            ahead.setdefault(track.info.participant, []).append(gap)
    skew: dict[str, float] = {}
    for who, gaps in ahead.items():
        # The gaps most of the sender's tracks agree on; the least delayed of them.
        agreeing = max(([h for h in gaps if abs(h - g) <= CLOCK_GAP_S] for g in gaps), key=len)
        skew[who] = min(agreeing)
    for track in tracks:
        wall = by_arrival.get(track.id, t0)
        if track.id in sender_time:
            reported = sender_time[track.id] + skew[track.info.participant]
            if abs(reported - wall) <= CLOCK_GAP_S:
                wall = reported
        track.offset_s = wall - t0


def floor_language(events: list[tuple[float, str, dict[str, Any]]], started: dict[str, Any]) -> str:
    """The language spoken on the floor: as interpretation set it, else as recorded at start."""
    for _, type_, data in events:
        if type_ == "floor_language_changed" and data.get("lang"):
            return str(data["lang"])
    return str(started.get("floor_language") or UNDETERMINED)


def on_air_intervals(
    events: list[tuple[float, str, dict[str, Any]]],
) -> dict[str, list[tuple[str, float, float | None]]]:
    """Per channel, who was on air from when to when (None: until the end)."""
    intervals: dict[str, list[tuple[str, float, float | None]]] = {}
    for t, type_, data in events:
        if type_ != "on_air_changed" or not data.get("channel"):
            continue
        spans = intervals.setdefault(str(data["channel"]), [])
        if spans and spans[-1][2] is None:
            who, start, _ = spans[-1]
            spans[-1] = (who, start, t)
        if data.get("id"):
            spans.append((str(data["id"]), t, None))
    return intervals


def renditions(tracks: list[TrackPlan], floor: str) -> list[Rendition]:
    """The original, then one per interpretation channel that has recorded audio."""
    found = [Rendition(floor, None, f"Original ({floor})")]
    for track in tracks:
        lang = track.info.language
        if (
            track.info.source == "interpretation"
            and lang
            and track.segments
            and all(r.channel != lang for r in found)
        ):
            found.append(Rendition(lang, lang, f"Interpretation ({lang})"))
    return found


def signed_renditions(
    tracks: list[TrackPlan], on_air: dict[str, list[tuple[str, float, float | None]]]
) -> list[SignedRendition]:
    """One per sign-language channel whose interpreters' video was recorded, in the order
    their tracks were journaled; each signer shown while on air in that channel."""
    found: dict[str, list[Signer]] = {}
    for track in tracks:
        lang = track.info.language
        if track.info.source != "signing" or not lang or not track.segments:
            continue
        who = track.info.participant
        spans = tuple((start, end) for pid, start, end in on_air.get(lang, []) if pid == who)
        if on_air.get(lang) and not spans:
            continue  # recorded, but never on air there: never shown
        found.setdefault(lang, []).append(Signer(track.id, spans))
    return [
        SignedRendition(lang, lang, f"Sign language ({lang})", tuple(signers))
        for lang, signers in found.items()
    ]


def _names(
    events: list[tuple[float, str, dict[str, Any]]], tracks: list[TrackPlan]
) -> dict[str, str]:
    names = {t.info.participant: t.info.name for t in tracks if t.info.name}
    people: list[Any] = []
    for _, type_, data in events:
        if type_ in ("participant_joined", "lobby_entered"):
            people.append(data.get("participant"))
        elif type_ == "room_snapshot":
            people += data.get("participants") or []
    for person in people:
        if isinstance(person, dict) and person.get("name"):
            names[str(person.get("id"))] = str(person["name"])
    return names


def chapters(
    events: list[tuple[float, str, dict[str, Any]]], tracks: list[TrackPlan], title: str
) -> list[Chapter]:
    """Trainers joining, screen shares, polls, quiz questions and interpreters taking the air."""
    names = _names(events, tracks)
    found = [Chapter(0.0, "start", title or "Start", {})]
    for t, type_, data in events:
        at = max(t, 0.0)
        if type_ == "participant_joined":
            person = data.get("participant") or {}
            if person.get("role") == "trainer" and not data.get("rejoined"):
                name = str(person.get("name") or "")
                found.append(
                    Chapter(at, "trainer_joined", f"Trainer joins: {name}", {"name": name})
                )
        elif type_ == "screen_share_changed" and data.get("sharing"):
            name = names.get(str(data.get("id")), "")
            found.append(Chapter(at, "screen_share", f"Screen share: {name}", {"name": name}))
        elif type_ == "poll_opened":
            question = str((data.get("poll") or {}).get("question") or "")
            found.append(Chapter(at, "poll", f"Poll: {question}", {"question": question}))
        elif type_ == "question_opened":
            text = str((data.get("question") or {}).get("text") or "")
            number = int(data.get("index") or 0) + 1
            params = {"number": number, "question": text}
            found.append(Chapter(at, "quiz_question", f"Quiz question {number}: {text}", params))
        elif type_ == "on_air_changed" and data.get("id"):
            name, channel = str(data.get("name") or ""), str(data.get("channel") or "")
            params = {"name": name, "channel": channel}
            found.append(Chapter(at, "on_air", f"Interpreter ({channel}): {name}", params))
    shares = [c.start_s for c in found if c.kind == "screen_share"]
    for track in tracks:
        if track.info.source == "screen" and track.segments:
            start = max(track.offset_s + track.segments[0].pts / track.info.clock_rate, 0.0)
            if all(abs(start - s) > DUPLICATE_CHAPTER_S for s in shares):
                name = track.info.name or names.get(track.info.participant, "")
                found.append(
                    Chapter(start, "screen_share", f"Screen share: {name}", {"name": name})
                )
    found.sort(key=lambda c: c.start_s)
    return found
