"""The recorder's tap: a disk that does not keep up costs video up to its next keyframe."""

from __future__ import annotations

import asyncio
import fractions
import threading
from typing import Any

import av
import pytest

from media.tracks import TrackInfo
from recordings import capture
from recordings.capture import Capture

KEY, DELTA = b"\x00\x01\x02", b"\x01\x01\x02"  # VP8 frame tags: P bit 0 is a keyframe


class SlowRecorder:
    """Stands in for the Recorder: its first packet waits until the test lets the disk go."""

    def __init__(self) -> None:
        self.clock: Any = None
        self.disk = threading.Event()
        self.packets: list[bytes] = []
        self.calls: list[str] = []

    def on_track(self, track: Any) -> None:
        self.calls.append("on_track")

    def on_packet(self, track_id: str, packet: av.Packet) -> None:
        self.disk.wait(10)
        self.packets.append(bytes(packet))

    def on_track_ended(self, track_id: str) -> None:
        self.calls.append("on_track_ended")

    def stop(self, reason: str) -> None:
        self.calls.append(f"stop:{reason}")


def frame(data: bytes, pts: int) -> av.Packet:
    packet = av.Packet(data)
    packet.pts, packet.time_base = pts, fractions.Fraction(1, 90000)
    return packet


async def test_a_full_queue_drops_video_to_the_next_keyframe_and_asks_for_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(capture, "QUEUE_LIMIT", 4)
    recorder = SlowRecorder()
    asked: list[str] = []
    tap = Capture(recorder, lambda pid: ("Tea", "trainer", None), request_keyframe=asked.append)  # type: ignore[arg-type]
    tap.on_track(TrackInfo("t/camera", "t", "camera", "video", "vp8", 90000))
    tap.on_packet("t/camera", frame(KEY, 0))  # the writer thread takes it and waits on the disk
    for n in range(1, 10):
        tap.on_packet("t/camera", frame(DELTA, 3000 * n))
    assert asked == ["t/camera"] and tap.dropped >= 5  # full: skip to a keyframe, ask once
    tap.on_packet("t/camera", frame(DELTA, 30_000))  # still skipping: no keyframe yet
    assert asked == ["t/camera"]
    recorder.disk.set()
    for _ in range(200):  # the writer catches up
        if not tap.queued:
            break
        await asyncio.sleep(0.01)
    tap.on_packet("t/camera", frame(DELTA, 33_000))  # room again, but still no keyframe
    tap.on_packet("t/camera", frame(KEY, 36_000))
    tap.on_packet("t/camera", frame(DELTA, 39_000))
    tap.on_track_ended("t/camera")  # control items are never dropped
    await tap.stop()
    assert len(recorder.packets) + tap.dropped == 14  # every packet written or counted
    assert recorder.packets[0] == KEY and recorder.packets[-2:] == [KEY, DELTA]
    assert asked == ["t/camera"]
    assert recorder.calls == ["on_track", "on_track_ended", "stop:stopped"]


async def test_a_signing_video_and_a_channel_voice_name_their_language() -> None:
    recorder = SlowRecorder()
    recorder.disk.set()
    tap = Capture(recorder, lambda pid: ("Sanja", "interpreter", "ysl"))  # type: ignore[arg-type]
    signing = tap.track_info(TrackInfo("s/signing", "s", "signing", "video", "vp8", 90000))
    camera = tap.track_info(TrackInfo("s/camera", "s", "camera", "video", "vp8", 90000))
    voice = tap.track_info(
        TrackInfo("s/interpretation", "s", "interpretation", "audio", "opus", 48000)
    )
    assert (signing.language, camera.language, voice.language) == ("ysl", None, "ysl")
    await tap.stop()
