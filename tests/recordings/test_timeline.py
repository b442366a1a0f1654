"""From journal to plan, without media: timing of tracks, languages, who was on air, chapters."""

from __future__ import annotations

from typing import Any

import pytest

from recordings.timeline import plan, titled_spans

T0 = 1000.0


def track(tid: str, who: str, source: str, kind: str = "audio", **extra: Any) -> dict[str, Any]:
    rate = 48000 if kind == "audio" else 90000
    info = {"id": tid, "participant": who, "source": source, "kind": kind}
    info.update(codec="opus" if kind == "audio" else "vp8", clock_rate=rate, **extra)
    return {"kind": "track", "t": T0, "dir": tid, "track": info}


def segment(tid: str, seq: int, pts: int, arrival: float) -> dict[str, Any]:
    return {
        "kind": "segment",
        "t": arrival,
        "track": tid,
        "seq": seq,
        "file": f"{seq}.mkv",
        "pts": pts,
    }


def event(t: float, type_: str, **data: Any) -> dict[str, Any]:
    return {"kind": "event", "t": T0 + t, "type": type_, "data": data}


START = {"kind": "started", "t": T0, "title": "Borders", "floor_language": "sr"}


def test_a_track_starts_at_its_least_delayed_arrival() -> None:
    journal = [
        START,
        track("a", "ana", "microphone"),
        segment("a", 1, 0, T0 + 2.30),  # jitter: 0.30 s late
        segment("a", 2, 48000 * 3, T0 + 5.05),  # 0.05 s late: the better estimate
        segment("a", 3, 48000 * 6, T0 + 8.20),
        {"kind": "stopped", "t": T0 + 10},
    ]
    made = plan(journal)
    assert made.track("a").offset_s == pytest.approx(2.05)
    assert made.stopped_s == 10 and [s.closed for s in made.track("a").segments] == [False] * 3


def test_sender_reports_line_up_one_senders_tracks() -> None:
    # Ana's machine runs 3 s ahead of the server. Her camera's packets arrive 0.1 s later
    # than her microphone's (a slower path), but her sender reports put both on one clock.
    journal = [
        START,
        track("mic", "ana", "microphone"),
        track("cam", "ana", "camera", "video"),
        segment("mic", 1, 0, T0 + 1.00),
        segment("cam", 1, 0, T0 + 1.10),
        {"kind": "sender_report", "t": T0 + 2, "track": "mic", "ntp": T0 + 3 + 1.0, "pts": 0},
        {"kind": "sender_report", "t": T0 + 2, "track": "cam", "ntp": T0 + 3 + 1.0, "pts": 0},
    ]
    made = plan(journal)
    assert made.track("mic").offset_s == pytest.approx(1.0)
    assert made.track("cam").offset_s == pytest.approx(1.0)  # not 1.1: lip sync kept


def test_a_sender_report_of_the_stream_a_codec_switch_replaced_misplaces_nothing() -> None:
    # Ana's camera went from H.264 (cam) to VP8 (cam#2) at 10 s. A last report of the H.264
    # stream, filed under the new track, carries an RTP time of another clock: alone it
    # would shift every track of hers by hours, and drop the first camera's packets.
    journal = [
        START,
        track("mic", "ana", "microphone"),
        track("cam", "ana", "camera", "video"),
        track("cam#2", "ana", "camera", "video"),
        segment("mic", 1, 0, T0 + 1.00),
        segment("cam", 1, 0, T0 + 1.05),
        segment("cam#2", 1, 0, T0 + 10.05),
        {"kind": "sender_report", "t": T0 + 2, "track": "mic", "ntp": T0 + 4.0, "pts": 0},
        {"kind": "sender_report", "t": T0 + 2, "track": "cam", "ntp": T0 + 4.0, "pts": 0},
        {
            "kind": "sender_report",
            "t": T0 + 11,
            "track": "cam#2",
            "ntp": T0 + 13.0,
            "pts": -90000 * 7300,
        },
        {"kind": "sender_report", "t": T0 + 12, "track": "cam#2", "ntp": T0 + 14.0, "pts": 90000},
        {"kind": "sender_report", "t": T0 + 13, "track": "cam#2", "ntp": T0 + 15.0, "pts": 180000},
    ]
    made = plan(journal)
    assert made.track("mic").offset_s == pytest.approx(1.0)
    assert made.track("cam").offset_s == pytest.approx(1.0)
    assert made.track("cam#2").offset_s == pytest.approx(10.0)


def test_a_track_whose_reports_disagree_with_its_arrivals_is_placed_by_them() -> None:
    journal = [
        START,
        track("cam", "ana", "camera", "video"),
        track("cam#2", "ana", "camera", "video"),
        segment("cam", 1, 0, T0 + 1.0),
        segment("cam#2", 1, 0, T0 + 10.0),
        {"kind": "sender_report", "t": T0 + 2, "track": "cam", "ntp": T0 + 1.0, "pts": 0},
        {"kind": "sender_report", "t": T0 + 11, "track": "cam#2", "ntp": T0 + 500.0, "pts": 0},
    ]
    made = plan(journal)
    assert made.track("cam").offset_s == pytest.approx(1.0)
    assert made.track("cam#2").offset_s == pytest.approx(10.0)


def test_languages_are_the_floor_then_each_channel_with_audio() -> None:
    journal = [
        START,
        track("f", "tea", "microphone"),
        track("i1", "ivo", "interpretation", language="en"),
        track("i2", "ema", "interpretation", language="en"),
        track("i3", "ali", "interpretation", language="ar"),
        track("i4", "bea", "interpretation", language="sq"),  # never sent a packet
        segment("f", 1, 0, T0),
        segment("i1", 1, 0, T0),
        segment("i2", 1, 0, T0),
        segment("i3", 1, 0, T0),
        event(5, "floor_language_changed", lang="mk"),
    ]
    made = plan(journal)
    assert [(r.language, r.channel) for r in made.renditions] == [
        ("mk", None),
        ("en", "en"),
        ("ar", "ar"),
    ]


def test_without_a_known_floor_language_the_original_is_undetermined() -> None:
    made = plan([{"kind": "started", "t": T0}])
    assert [r.language for r in made.renditions] == ["und"]
    assert made.stopped_s is None  # cut off: no stop line


def test_on_air_spans_follow_handovers() -> None:
    journal = [
        START,
        event(1, "on_air_changed", channel="en", id="ivo", name="Ivo", previous=None),
        event(60, "on_air_changed", channel="en", id="ema", name="Ema", previous="ivo"),
        event(90, "on_air_changed", channel="en", id=None, name=None, previous="ema"),
        event(95, "on_air_changed", channel="en", id="ivo", name="Ivo", previous=None),
        event(2, "on_air_changed", channel="sq", id="bea", name="Bea", previous=None),
    ]
    assert plan(journal).on_air == {
        "en": [("ivo", 1, 60), ("ema", 60, 90), ("ivo", 95, None)],
        "sq": [("bea", 2, None)],
    }


def test_chapters_come_from_the_rooms_events() -> None:
    journal = [
        START,
        track("s", "tea", "screen", "video", name="Tea"),
        segment("s", 1, 0, T0 + 30),  # a screen track without a matching event
        event(0.5, "room_snapshot", participants=[{"id": "tea", "name": "Tea"}]),
        event(1, "participant_joined", participant={"id": "tea", "name": "Tea", "role": "trainer"}),
        event(2, "participant_joined", participant={"id": "ana", "name": "Ana", "role": "trainee"}),
        event(3, "participant_joined", participant={"id": "tea", "role": "trainer"}, rejoined=True),
        event(10, "screen_share_changed", id="tea", sharing=True),
        event(12, "screen_share_changed", id="tea", sharing=False),
        event(20, "poll_opened", poll={"question": "Ready?"}),
        event(25, "question_opened", quiz="q", index=1, question={"text": "Who?"}),
        event(40, "on_air_changed", channel="en", id="ema", name="Ema", previous="ivo"),
        event(50, "chat_posted", text="hello"),
    ]
    chapters = plan(journal).chapters
    assert [(c.start_s, c.kind, c.title) for c in chapters] == [
        (0.0, "start", "Borders"),
        (1.0, "trainer_joined", "Trainer joins: Tea"),
        (10.0, "screen_share", "Screen share: Tea"),
        (20.0, "poll", "Poll: Ready?"),
        (25.0, "quiz_question", "Quiz question 2: Who?"),
        (30.0, "screen_share", "Screen share: Tea"),
        (40.0, "on_air", "Interpreter (en): Ema"),
    ]
    assert chapters[4].params == {"number": 2, "question": "Who?"}


def test_chapters_that_start_together_are_one_in_files() -> None:
    journal = [
        START,
        event(5, "on_air_changed", channel="en", id="a", name="A", previous=None),
        event(5, "on_air_changed", channel="sq", id="b", name="B", previous=None),
    ]
    spans = titled_spans(plan(journal).chapters, 9.0)
    assert spans == [
        (0.0, 5.0, "Borders"),
        (5.0, 9.0, "Interpreter (en): A · Interpreter (sq): B"),
    ]


def test_a_journal_without_a_start_is_refused() -> None:
    with pytest.raises(ValueError, match="no start line"):
        plan([{"kind": "stopped", "t": 1.0}])
