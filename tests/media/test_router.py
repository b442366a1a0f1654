"""The router over real loopback aiortc connections: forwarding, keyframes, policy, taps, selection.

The clients publish pre-encoded clips and keep what they receive encoded, so a frame
can be compared byte for byte, and no aiortc encoder or decoder is ever built.
"""

from __future__ import annotations

import asyncio
import fractions
import itertools
import time
from typing import Any

import av
import pytest

from classroom.errors import InvalidCommand
from config import Settings
from media.description import BadDescription
from media.tracks import SenderReport, TrackInfo
from tests.media.clients import ClipTrack, PublishingClient, encode_video
from tests.media.conftest import Room


def units(frame: bytes) -> tuple[bytes, ...]:
    """An H.264 frame's NAL units: RTP carries them, not the start codes between them
    (4 bytes or 3), so those are the bytes that must arrive unchanged."""
    if not frame.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01")):
        return (frame,)
    return tuple(u.rstrip(b"\x00") for u in frame.split(b"\x00\x00\x01")[1:])


def contiguous(received: list[bytes], sent: list[bytes]) -> bool:
    """Whether ``received`` is a run of consecutive frames of ``sent`` (same NAL units)."""
    received = [b"".join(units(f)) for f in received]
    sent = [b"".join(units(f)) for f in sent]
    return any(
        sent[i : i + len(received)] == received
        for i in range(len(sent) - len(received) + 1)
        if sent[i] == received[0]
    )


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_frames_arrive_as_published_without_any_codec(
    room: Room, codec_calls: list[str], codec: str
) -> None:
    viewer = await room.viewer("b", (codec,))
    publisher = await room.publisher("a", video=codec)
    await viewer.wait_for(
        lambda: (
            len(viewer.frames("a", "camera")) >= 40 and len(viewer.frames("a", "microphone")) >= 40
        )
    )
    video = viewer.frames("a", "camera")
    assert video[0].keyframe
    assert contiguous([r.data for r in video], publisher.tracks["camera"].sent)
    steps = {b.pts - a.pts for a, b in itertools.pairwise(video)}
    assert steps == {3000}  # the publisher's RTP clock, 30 frames a second
    audio = viewer.frames("a", "microphone")
    assert contiguous([r.data for r in audio], publisher.tracks["microphone"].sent)
    assert codec_calls == []
    counters = room.router.counters
    assert counters.frames_received >= 80
    assert counters.packets_forwarded >= 80  # one or more packets each
    assert counters.tracks_published == 2 and counters.tracks_forwarded == 2


async def test_a_viewer_joining_later_gets_every_camera_in_one_offer(room: Room) -> None:
    await room.publisher("a", video="H264")
    await room.publisher("c", video="H264")
    viewer = await room.viewer("b", ("H264",))
    await viewer.wait_for(
        lambda: (
            all(len(viewer.frames(p, "camera")) >= 10 for p in ("a", "c"))
            and all(len(viewer.frames(p, "microphone")) >= 10 for p in ("a", "c"))
        )
    )
    assert viewer.offers == 1  # two video m-lines in it, both sending (max-bundle)


async def test_a_late_viewer_starts_at_a_keyframe_it_asked_for(room: Room) -> None:
    early = await room.viewer("b")
    publisher = await room.publisher("a", frames=300)  # one keyframe in ten seconds
    await early.wait_for(lambda: len(early.frames("a", "camera")) >= 10)
    camera = publisher.tracks["camera"]
    asked = camera.keyframe_requests
    late = await room.viewer("c")
    await late.wait_for(lambda: len(late.frames("a", "camera")) >= 5)
    assert late.frames("a", "camera")[0].keyframe
    assert camera.keyframe_requests > asked


async def test_a_viewers_picture_loss_reaches_the_publisher(settings: Settings) -> None:
    room = Room(settings, keyframe_interval_s=0.0)
    try:
        viewer = await room.viewer("b")
        publisher = await room.publisher("a", frames=300)
        await viewer.wait_for(lambda: len(viewer.frames("a", "camera")) >= 5)
        camera = publisher.tracks["camera"]
        before = camera.keyframe_requests
        await viewer.send_pli("a", "camera")
        await viewer.wait_for(lambda: camera.keyframe_requests > before)
        keyframes = sum(r.keyframe for r in viewer.frames("a", "camera"))
        await viewer.wait_for(
            lambda: sum(r.keyframe for r in viewer.frames("a", "camera")) > keyframes
        )
    finally:
        await room.close()


async def test_keyframe_requests_are_coalesced(settings: Settings) -> None:
    room = Room(settings, keyframe_interval_s=3600.0)
    try:
        viewer = await room.viewer("b")
        publisher = await room.publisher("a", frames=300)
        await viewer.wait_for(lambda: len(viewer.frames("a", "camera")) >= 5)
        camera = publisher.tracks["camera"]
        before = camera.keyframe_requests
        coalesced = room.router.counters.keyframe_requests_coalesced
        for _ in range(5):
            await viewer.send_pli("a", "camera")
        await viewer.wait_for(
            lambda: room.router.counters.keyframe_requests_coalesced >= coalesced + 5
        )
        assert camera.keyframe_requests == before  # the one allowed went to the join
    finally:
        await room.close()


async def test_a_policy_stops_and_restores_a_track_without_renegotiating(room: Room) -> None:
    muted: set[str] = set()
    room.router.add_policy(lambda pub, source, sub: not (source == "microphone" and pub in muted))
    viewer = await room.viewer("b")
    await room.publisher("a")
    await viewer.wait_for(lambda: len(viewer.frames("a", "microphone")) >= 5)
    offers = viewer.offers
    muted.add("a")
    room.router.refresh()
    await viewer.wait_for(lambda: all(s["source"] != "microphone" for s in viewer.shown.values()))
    heard = len(viewer.frames("a", "microphone"))
    await viewer.wait_for(lambda: len(viewer.frames("a", "camera")) >= 45)
    assert len(viewer.frames("a", "microphone")) == heard  # nothing more of the muted one
    muted.clear()
    room.router.refresh()
    await viewer.wait_for(lambda: len(viewer.frames("a", "microphone")) >= heard + 5)
    assert viewer.offers == offers  # the same m-line took the track back


class Consumer:
    """A tap consumer that keeps what it was given."""

    def __init__(self) -> None:
        self.started: list[TrackInfo] = []
        self.ended: list[str] = []
        self.packets: dict[str, list[av.Packet]] = {}
        self.reports: dict[str, list[SenderReport]] = {}

    def on_track(self, track: TrackInfo) -> None:
        self.started.append(track)

    def on_packet(self, track_id: str, packet: av.Packet) -> None:
        self.packets.setdefault(track_id, []).append(packet)

    def on_sender_report(self, track_id: str, report: SenderReport) -> None:
        self.reports.setdefault(track_id, []).append(report)

    def on_track_ended(self, track_id: str) -> None:
        self.ended.append(track_id)


async def test_a_tap_receives_packets_and_sender_reports_of_what_the_policy_allows(
    room: Room,
) -> None:
    room.router.add_policy(lambda pub, source, sub: sub != "recorder" or source != "microphone")
    consumer = Consumer()
    tap = room.router.add_tap(consumer)
    publisher = await room.publisher("a", frames=300)
    viewer = await room.viewer("b")
    await viewer.wait_for(lambda: len(consumer.reports.get("a/camera", [])) >= 1)
    assert [t.id for t in consumer.started] == ["a/camera"]
    info = consumer.started[0]
    assert (info.participant, info.source, info.kind, info.codec, info.clock_rate) == (
        "a",
        "camera",
        "video",
        "vp8",
        90000,
    )
    packets = consumer.packets["a/camera"]
    assert packets[0].is_keyframe and packets[0].time_base == fractions.Fraction(1, 90000)
    sent = publisher.tracks["camera"].sent
    assert contiguous([bytes(p) for p in packets], sent)
    report = consumer.reports["a/camera"][0]
    assert abs(report.ntp_time - time.time()) < 60  # a wall-clock time, not a counter
    assert report.rtp_timestamp % 3000 == 0  # on the scale of the packets' pts
    camera = publisher.tracks["camera"]
    before = camera.keyframe_requests
    await asyncio.sleep(room.router.keyframe_interval_s)
    tap.request_keyframe("a/camera")
    await viewer.wait_for(lambda: camera.keyframe_requests > before)
    tap.close()
    assert consumer.ended == ["a/camera"]
    assert "a/microphone" not in consumer.packets


async def test_each_viewer_gets_at_most_the_limit_and_a_pin_switches_in_place(
    settings: Settings,
) -> None:
    room = Room(settings.replace(max_videos_per_viewer=1))
    try:
        viewer = await room.viewer("b")
        await room.publisher("a", audio=False, frames=300)
        await room.publisher("c", audio=False, frames=300)
        await viewer.wait_for(lambda: len(viewer.frames("a", "camera")) >= 10)
        assert [s["participant"] for s in viewer.shown.values()] == ["a"]
        offers = viewer.offers
        room.router.pin("c")
        await viewer.wait_for(lambda: len(viewer.frames("c", "camera")) >= 10)
        assert [s["participant"] for s in viewer.shown.values()] == ["c"]
        assert viewer.offers == offers  # the same m-line shows the pinned one
        before, after = viewer.frames("a", "camera")[-1], viewer.frames("c", "camera")[0]
        assert after.keyframe
        assert 0 < after.pts - before.pts <= 3000 * 21  # the RTP clock went on
    finally:
        await room.close()


async def test_a_viewer_that_never_connects_holds_nothing_back(room: Room) -> None:
    viewer = await room.viewer("b")
    await room.router.ready("stalled", ("VP8",))  # it never answers the offer
    publisher = await room.publisher("a", frames=300)
    await viewer.wait_for(lambda: len(viewer.frames("a", "camera")) >= 60)
    stalled = room.router.subscribers["stalled"]
    assert stalled.awaiting_answer and len(stalled.slots) == 2
    assert all(slot.outlet.wire is None for slot in stalled.slots)
    assert room.router.counters.packets_dropped > 20  # its packets, not sent
    video = viewer.frames("a", "camera")
    assert contiguous([r.data for r in video], publisher.tracks["camera"].sent)


async def test_leaving_ends_every_forwarding(room: Room) -> None:
    viewer = await room.viewer("b")
    await room.publisher("a")
    await viewer.wait_for(lambda: len(viewer.shown) == 2)
    room.router.remove("a")
    await viewer.wait_for(lambda: not viewer.shown)
    counters = room.router.counters
    assert (counters.tracks_published, counters.tracks_forwarded) == (0, 0)
    room.router.remove("b")
    assert room.router.idle


async def test_stopping_a_source_in_a_new_offer_unpublishes_it(room: Room) -> None:
    viewer = await room.viewer("b")
    publisher = await room.publisher("a")
    await viewer.wait_for(lambda: len(viewer.shown) == 2)
    microphone = next(
        t
        for t in publisher.pc.getTransceivers()
        if t.sender.track is publisher.tracks["microphone"]
    )
    microphone.direction = "inactive"
    await publisher.publish()
    await viewer.wait_for(lambda: len(viewer.shown) == 1)
    assert [t.id for t in room.router.published()] == ["a/camera"]
    microphone.direction = "sendonly"
    await publisher.publish()
    await viewer.wait_for(
        lambda: len(viewer.frames("a", "microphone")) >= 5 and len(viewer.shown) == 2
    )


async def test_bad_descriptions_are_refused_and_change_nothing(room: Room) -> None:
    viewer = await room.viewer("b")
    with pytest.raises(BadDescription, match="malformed SDP"):
        await room.router.publish("a", "v=0\r\nthis is not SDP", {})
    client = PublishingClient(room.router, "a")
    room.clients.append(client)
    client.add("camera", ClipTrack("video", encode_video("VP8", 5), "VP8"))
    await client.pc.setLocalDescription(await client.pc.createOffer())
    offer = client.pc.localDescription.sdp
    mid = client.pc.getTransceivers()[0].mid
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "names no source"),
        ({mid: "microphone"}, "is not video"),
        ({mid: "camera", "9": "microphone"}, "does not have"),
    ]
    for sources, message in cases:
        with pytest.raises(BadDescription, match=message):
            await room.router.publish("a", offer, sources)
    assert room.router.publishers == {} and room.router.published() == []
    with pytest.raises(InvalidCommand, match="no subscribe offer"):
        await room.router.answer("b", offer)
    with pytest.raises(InvalidCommand, match="no subscribe offer"):
        await room.router.answer("nobody", offer)
    await room.router.publish("a", offer, {mid: "camera"})  # the same offer, right this time
    assert [t.id for t in room.router.published()] == ["a/camera"]
    assert viewer.errors == []


async def test_packets_a_viewer_lost_are_sent_again_on_its_nack(room: Room) -> None:
    viewer = await room.viewer("b")
    publisher = await room.publisher("a", audio=False, frames=300)
    await viewer.wait_for(lambda: len(viewer.frames("a", "camera")) >= 5)
    (slot,) = [s for s in room.router.subscribers["b"].slots if s.kind == "video"]
    wire = slot.outlet.wire
    assert wire is not None
    send, lost = wire.send, set()

    def lossy(seq: int, timestamp: int, marker: int, payload: bytes, padding: int) -> None:
        if seq % 4 == 0 and seq not in lost:  # the network loses one packet in four
            lost.add(seq)
            return
        send(seq, timestamp, marker, payload, padding)

    wire.send = lossy  # type: ignore[method-assign]
    start = len(viewer.frames("a", "camera"))
    await viewer.wait_for(lambda: len(viewer.frames("a", "camera")) >= start + 60)
    video = viewer.frames("a", "camera")
    assert len(lost) >= 10
    assert contiguous([r.data for r in video], publisher.tracks["camera"].sent)  # none missing
    assert room.router.counters.packets_retransmitted >= len(lost) // 2


async def test_an_h264_camera_is_republished_in_vp8_when_a_vp8_only_viewer_arrives(
    room: Room, codec_calls: list[str]
) -> None:
    both = await room.viewer("b", ("H264", "VP8"))
    publisher = PublishingClient(room.router, "a")
    publisher.add_video("camera")
    room.clients.append(publisher)
    await publisher.publish()
    assert publisher.tracks["camera"].codec == "h264"  # everyone decodes it
    await both.wait_for(lambda: len(both.frames("a", "camera")) >= 5)
    assert room.wire.republish_requests == []

    vp8_only = await room.viewer("c", ("VP8",))
    await vp8_only.wait_for(lambda: room.wire.republish_requests == [("a", ["camera"])])
    await asyncio.sleep(0.2)
    assert vp8_only.frames("a", "camera") == []
    room.router.refresh()  # another change of the room: still one request outstanding
    await room.router.ready("d", ("VP8",))
    assert room.wire.republish_requests == [("a", ["camera"])]

    await publisher.republish(["camera"])
    camera = publisher.tracks["camera"]
    assert camera.codec == "vp8"
    assert [t.codec for t in room.router.published() if t.id == "a/camera"] == ["vp8"]
    await vp8_only.wait_for(lambda: len(vp8_only.frames("a", "camera")) >= 10)
    assert vp8_only.frames("a", "camera")[0].keyframe
    assert contiguous([r.data for r in vp8_only.frames("a", "camera")], camera.sent)
    seen = len(both.frames("a", "camera"))
    await both.wait_for(
        lambda: sum(r.data in camera.sent for r in both.frames("a", "camera")[seen:]) >= 10
    )
    assert codec_calls == []
    assert room.wire.republish_requests == [("a", ["camera"])]  # VP8 suits everyone
