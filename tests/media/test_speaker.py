"""The active speaker from RTP audio levels, and which videos a viewer gets."""

from __future__ import annotations

from config import Settings
from media.speaker import ActiveSpeaker, VideoCandidate, choose_videos
from tests.media.clients import ClipTrack, PublishingClient, ToneTrack, encode_video
from tests.media.conftest import Room

LOUD, QUIET, SILENT = 30, 50, 127  # RFC 6464 levels: -dBov


def speak(detector: ActiveSpeaker, pid: str, level: int, start: float, seconds: float) -> float:
    """Packets every 20 ms, as a browser sends them; returns the time after the last."""
    t = start
    while t < start + seconds:
        detector.observe(pid, level, t)
        t += 0.02
    return t


def test_the_loudest_voice_takes_the_floor_and_keeps_it_against_a_close_one() -> None:
    detector = ActiveSpeaker()
    assert detector.decide(0.0) is None
    speak(detector, "ana", QUIET, 0.0, 1.0)
    end = speak(detector, "bojan", SILENT, 0.0, 1.0)
    assert detector.decide(end) == "ana"
    speak(detector, "bojan", QUIET - 3, end, 1.0)  # a little louder: not enough
    end = speak(detector, "ana", QUIET, end, 1.0)
    assert detector.decide(end) == "ana"
    speak(detector, "bojan", LOUD, end, 1.0)  # clearly louder
    end = speak(detector, "ana", QUIET, end, 1.0)
    assert detector.decide(end) == "bojan"
    assert set(detector.last_spoke) == {"ana", "bojan"}


def test_silence_keeps_the_last_speaker_and_a_new_voice_takes_over() -> None:
    detector = ActiveSpeaker()
    end = speak(detector, "ana", LOUD, 0.0, 1.0)
    assert detector.decide(end) == "ana"
    end = speak(detector, "ana", SILENT, end, 2.0)  # she stops; nobody speaks
    assert detector.decide(end) == "ana"
    end = speak(detector, "bojan", QUIET, end, 1.0)  # her packets stopped too (muted)
    assert detector.decide(end) == "bojan"
    assert detector.decide(end, candidates=["ana"]) is None  # bojan no longer a candidate
    detector.forget("bojan")
    assert "bojan" not in detector.last_spoke


def test_a_viewer_gets_screens_then_the_pinned_then_speakers_then_the_oldest() -> None:
    candidates = [
        VideoCandidate("a/camera", "a", "camera", 0),
        VideoCandidate("b/camera", "b", "camera", 1),
        VideoCandidate("c/camera", "c", "camera", 2),
        VideoCandidate("d/camera", "d", "camera", 3),
        VideoCandidate("d/screen", "d", "screen", 4),
    ]
    spoke = {"c": 10.0, "b": 5.0}

    def choose(limit: int, pinned: str | None = None, speaker: str | None = None) -> list[str]:
        return choose_videos(candidates, limit, pinned=pinned, speaker=speaker, last_spoke=spoke)

    assert choose(3) == ["d/screen", "c/camera", "b/camera"]
    assert choose(3, pinned="a", speaker="b") == ["d/screen", "a/camera", "b/camera"]
    assert choose(9) == ["d/screen", "c/camera", "b/camera", "a/camera", "d/camera"]
    assert choose(0) == []


async def test_the_router_names_the_speaker_and_shows_them_first(settings: Settings) -> None:
    room = Room(settings.replace(max_videos_per_viewer=1))
    try:
        viewer = await room.viewer("b")
        for pid, amplitude in (("quiet", 0.0), ("loud", 0.5)):  # quiet published first
            client = PublishingClient(room.router, pid)
            client.add("camera", ClipTrack("video", encode_video("VP8", 60), "VP8"))
            client.add_raw("microphone", ToneTrack(amplitude))
            room.clients.append(client)
            await client.publish()
        await viewer.wait_for(lambda: "loud" in room.wire.speakers)
        assert room.router.active_speaker == "loud"
        await viewer.wait_for(
            lambda: (
                [s["participant"] for s in viewer.shown.values() if s["kind"] == "video"]
                == ["loud"]
            )
        )
        await viewer.wait_for(lambda: len(viewer.frames("loud", "camera")) >= 5)
    finally:
        await room.close()
