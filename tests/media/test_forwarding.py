"""Per-viewer queues, keyframe rate limiting and slot switching (no network)."""

from __future__ import annotations

import asyncio
import fractions

import av
import pytest

from media.codecs import codec_named
from media.forwarding import (
    AUDIO_QUEUE_FRAMES,
    VIDEO_QUEUE_FRAMES,
    Counters,
    FrameQueue,
    KeyframeLimiter,
    PublishedTrack,
    SlotTrack,
)
from media.tap import TrackInfo


def frame(pts: int, keyframe: bool = False, size: int = 100) -> av.Packet:
    packet = av.Packet(bytes([pts % 256]) * size)
    packet.pts, packet.time_base = pts, fractions.Fraction(1, 90000)
    packet.is_keyframe = keyframe
    return packet


def test_a_slow_viewers_video_queue_drops_to_the_next_keyframe() -> None:
    counters = Counters()
    queue = FrameQueue("video", counters)
    assert queue.push(frame(0)) is False and len(queue) == 0  # waits for a keyframe
    queue.push(frame(1, keyframe=True))
    for n in range(2, VIDEO_QUEUE_FRAMES + 1):
        assert queue.push(frame(n)) is False
    assert len(queue) == VIDEO_QUEUE_FRAMES
    assert queue.push(frame(100)) is True  # full: everything goes, a keyframe is needed
    assert len(queue) == 0 and queue.waiting_keyframe
    assert queue.push(frame(101)) is False and len(queue) == 0
    queue.push(frame(102, keyframe=True))
    assert [p.pts for p in queue.frames] == [102]
    assert counters.packets_dropped == 1 + VIDEO_QUEUE_FRAMES + 2
    assert counters.queued_frames == 1 and counters.queued_frames_max == VIDEO_QUEUE_FRAMES


def test_a_keyframe_that_overflows_the_queue_starts_it_over() -> None:
    queue = FrameQueue("video", Counters(), max_frames=3)
    for n in range(3):
        queue.push(frame(n, keyframe=n == 0))
    assert queue.push(frame(3, keyframe=True)) is False
    assert [p.pts for p in queue.frames] == [3]


def test_an_audio_queue_loses_its_oldest_frames_and_counts_bytes() -> None:
    counters = Counters()
    queue = FrameQueue("audio", counters)
    for n in range(AUDIO_QUEUE_FRAMES + 5):
        queue.push(frame(n * 960, size=50))
    assert queue.frames[0].pts == 5 * 960
    assert queue.bytes == 50 * AUDIO_QUEUE_FRAMES and counters.packets_dropped == 5


def test_the_limiter_sends_one_request_per_interval_and_defers_the_next() -> None:
    limiter = KeyframeLimiter(0.5)
    assert limiter.request(10.0) == 0.0
    assert limiter.request(10.1) == pytest.approx(0.4)
    assert limiter.request(10.2) is None  # already due
    limiter.sent(10.5)
    assert limiter.request(10.6) == pytest.approx(0.4)
    limiter.sent(11.0)
    assert limiter.request(11.6) == 0.0


def published(name: str, counters: Counters, asked: list[str]) -> PublishedTrack:
    info = TrackInfo(f"{name}/camera", name, "camera", "video", "vp8", 90000)
    return PublishedTrack(info, codec_named("VP8"), counters, lambda: asked.append(name), 0.0)


async def test_a_slot_keeps_its_clock_running_when_switched_to_another_source() -> None:
    counters = Counters()
    asked: list[str] = []
    ana, bojan = published("ana", counters, asked), published("bojan", counters, asked)
    slot = SlotTrack("video", "VP8", counters)
    slot.bind(ana)
    ana.deliver(frame(90_000, keyframe=True))  # queued before the viewer is connected
    first = asyncio.ensure_future(slot.recv())
    await asyncio.sleep(0)  # the sender starts: what queued is stale, a keyframe is asked for
    assert asked == ["ana"] and len(slot.queue) == 0
    ana.deliver(frame(93_000))
    ana.deliver(frame(96_000, keyframe=True))
    assert (await first).pts == 96_000
    slot.bind(bojan)
    assert asked == ["ana", "bojan"] and counters.tracks_forwarded == 1
    bojan.deliver(frame(5_000))  # not a keyframe: dropped
    bojan.deliver(frame(8_000, keyframe=True))
    bojan.deliver(frame(11_000))
    switched = [await slot.recv(), await slot.recv()]
    assert [p.pts for p in switched] == [99_000, 102_000]  # continuing the slot's clock
    assert bytes(switched[0]) == bytes(frame(8_000)) and switched[0].is_keyframe
    ana.deliver(frame(99_000, keyframe=True))  # no longer bound: not queued
    assert len(slot.queue) == 0
    slot.stop()
    assert counters.tracks_forwarded == 0 and not bojan.slots


def test_a_viewer_not_yet_connected_asks_no_publisher_for_keyframes() -> None:
    counters = Counters()
    asked: list[str] = []
    ana = published("ana", counters, asked)
    slot = SlotTrack("video", "VP8", counters)
    slot.bind(ana)
    for n in range(3 * VIDEO_QUEUE_FRAMES):
        ana.deliver(frame(3000 * n, keyframe=n % 25 == 0))
    assert asked == [] and len(slot.queue) <= VIDEO_QUEUE_FRAMES
    assert counters.packets_dropped > VIDEO_QUEUE_FRAMES
