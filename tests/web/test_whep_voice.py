"""What a WHEP player hears: the speaker's voice, or a channel's interpreter on air."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from classroom.channel import Channel
from media.tracks import TrackInfo
from web.whep import voice_of


def track(who: str, source: str, kind: str = "audio") -> Any:
    codec = "opus" if kind == "audio" else "vp8"
    rate = 48000 if kind == "audio" else 90000
    return SimpleNamespace(info=TrackInfo(f"{who}/{source}", who, source, kind, codec, rate))


def room(speaker: str | None, on_air: str | None) -> Any:
    channels = {"sq": Channel("sq", booth=["ivo", "ema"], on_air=on_air)}
    return SimpleNamespace(
        media=SimpleNamespace(active_speaker=speaker),
        interpretation=SimpleNamespace(channels=channels),
    )


TRACKS = [
    track("ana", "screen", "video"),
    track("tea", "camera", "video"),
    track("tea", "microphone"),
    track("ana", "microphone"),
    track("ivo", "interpretation"),
    track("ema", "interpretation"),
]


def test_the_floor_is_the_active_speakers_voice_else_the_stages() -> None:
    assert voice_of(room("tea", None), None)(TRACKS).info.participant == "tea"  # type: ignore[union-attr]
    # Nobody has spoken yet: whoever is on the stage (the first video) is heard.
    assert voice_of(room(None, None), None)(TRACKS).info.participant == "ana"  # type: ignore[union-attr]


def test_a_channel_is_its_interpreter_on_air_and_follows_a_handover() -> None:
    assert voice_of(room("tea", "ivo"), "sq")(TRACKS).info.participant == "ivo"  # type: ignore[union-attr]
    assert voice_of(room("tea", "ema"), "sq")(TRACKS).info.participant == "ema"  # type: ignore[union-attr]
    assert voice_of(room("tea", None), "sq")(TRACKS) is None  # nobody on air: the last voice stays
