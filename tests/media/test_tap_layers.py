"""The recorder of a simulcast camera gets the largest layer that flows: a browser drops
its top layers when its uplink or processor cannot carry them, and a recording of the
top layer alone then had no picture (seen in a CI run: Chromium under load sent the
VP8 camera's full layer 24 packets in 30 s, and the recording stayed empty)."""

from __future__ import annotations

from types import SimpleNamespace

import av

from config import Settings
from media.codecs import codec_named
from media.layers import TapFeed
from media.publisher import Inbound
from media.router import MediaRouter
from media.tracks import SenderReport
from tests.media.test_router import Consumer
from tests.media.test_router_deltas import Quiet

KEY, DELTA = b"\x10\x00\x9d\x01\x2a", b"\x11\x00"


def frame(pts: int, key: bool) -> av.Packet:
    packet = av.Packet(KEY if key else DELTA)
    packet.pts, packet.is_keyframe = pts, key
    return packet


def report(ntp: float, pts: int) -> SenderReport:
    return SenderReport(ntp_time=ntp, rtp_timestamp=pts, wire_rtp_timestamp=pts)


def test_the_taps_line_goes_on_across_a_switch_by_both_layers_sender_reports() -> None:
    now = [100.0]
    feed = TapFeed(1, 90_000, lambda: now[0])
    top = [frame(pts, pts == 0) for pts in (0, 3000, 6000)]
    assert [feed.frame(1, f) for f in top] == [True, True, True]
    assert [f.pts for f in top] == [0, 3000, 6000]
    assert not feed.frame(0, frame(500, True))  # not wanted: the top flows
    # Both clocks at one instant: the top read 6000 at t=10.0, the low 900 at t=10.1.
    assert feed.report(1, report(10.0, 6000)) == report(10.0, 6000)
    assert feed.report(0, report(10.1, 900)) is None
    assert feed.want(0)  # the top stopped: a keyframe of the low layer is awaited
    assert not feed.frame(0, frame(1800, False))  # not a keyframe: not yet
    low = frame(900 + 9000, True)  # t=10.2 by the low clock: the top's would read 24000
    assert feed.frame(0, low)
    assert low.pts == 6000 + 18_000 and feed.switches == 1
    assert not feed.frame(1, frame(9000, True))  # the top is not taken back unasked
    mapped = feed.report(0, report(11.0, 900 + 81_000))
    assert mapped is not None and mapped.rtp_timestamp == 6000 + 90_000  # the top's line at 11.0
    assert not feed.want(0)


def test_without_sender_reports_the_time_since_the_last_frame_places_the_new_layer() -> None:
    now = [0.0]
    feed = TapFeed(1, 90_000, lambda: now[0])
    assert feed.frame(1, frame(0, True)) and feed.frame(1, frame(3000, False))
    now[0] += 0.5
    feed.want(0)
    switched = frame(777_777, True)
    assert feed.frame(0, switched)
    assert switched.pts == 3000 + 45_000
    after = frame(777_777 + 3000, False)
    assert feed.frame(0, after) and after.pts == 3000 + 45_000 + 3000


def test_the_taps_line_never_goes_back() -> None:
    feed = TapFeed(1, 90_000, lambda: 0.0)
    feed.frame(1, frame(90_000, True))
    feed.report(1, report(10.0, 90_000))
    feed.report(0, report(10.0, 5_000_000))  # a report of the other layer far off
    feed.want(0)
    back = frame(5_000_000 - 90_000, True)  # would land a second before the last frame
    assert feed.frame(0, back) and back.pts == 90_001


async def test_the_recorder_gets_a_lower_layer_while_the_top_one_stops(
    settings: Settings,
) -> None:
    router = MediaRouter("demo", settings, Quiet())
    asked: list[int] = []
    codec = codec_named("VP8")
    inbound = Inbound("0", "video", codec, None, rids=("q", "h", "f"))  # type: ignore[arg-type]
    publisher = SimpleNamespace(pid="tea", send_pli=lambda inbound, index: asked.append(index))
    router._retarget(inbound, "camera", publisher)  # type: ignore[arg-type]
    consumer = Consumer()
    router.add_tap(consumer)
    assert asked == [2]  # the recorder starts from a keyframe of the full layer

    def send(layer: int, pts: int, key: bool) -> None:
        inbound.forward_layer(layer, pts // 3000, pts, 1, b"\x10\x00", 0, b"\x00")
        inbound.deliver_layer(layer, frame(pts, key))

    send(2, 0, True)
    send(1, 0, True)
    router.check_layers()
    assert [p.pts for p in consumer.packets["tea/camera"]] == [0]
    # The browser stops the full layer (its uplink, or its processor): the recorder is
    # moved to the half layer at that layer's next keyframe, on the same timeline.
    router._sender_report(inbound, 2, report(50.0, 0))
    router._sender_report(inbound, 1, report(50.0, 0))
    for pts in (3000, 6000):
        send(1, pts, False)
    router.check_layers()
    assert asked[-1] == 1  # a keyframe of the half layer
    send(1, 9000, True)
    send(1, 12_000, False)
    assert [p.pts for p in consumer.packets["tea/camera"]] == [0, 9000, 12_000]
    router._sender_report(inbound, 1, report(51.0, 90_000))
    assert [r.rtp_timestamp for r in consumer.reports["tea/camera"]] == [0, 90_000]
    # The full layer comes back: the recorder goes back to it at its keyframe.
    send(2, 15_000, False)
    router.check_layers()
    feed = router.tracks["tea/camera"].feed
    assert feed is not None and feed.wanted == 2  # its keyframe is asked (rate-limited)
    send(2, 18_000, True)
    assert [p.pts for p in consumer.packets["tea/camera"]] == [0, 9000, 12_000, 18_000]
    await router.close()


def sized_keyframe(pts: int, width: int, height: int) -> av.Packet:
    """A VP8 keyframe whose header says its picture size (RFC 6386 section 9.1)."""
    data = b"\x10\x00\x00\x9d\x01\x2a" + width.to_bytes(2, "little") + height.to_bytes(2, "little")
    packet = av.Packet(data)
    packet.pts, packet.is_keyframe = pts, True
    return packet


async def test_a_layer_whose_first_keyframe_was_missed_is_asked_for_one_then_fits_a_viewer(
    settings: Settings,
) -> None:
    """Seen in CI: the half layer's first keyframe came before the server knew the layer,
    its height stayed unknown, and a viewer showing the video small kept the full layer."""
    from tests.media.test_router_budget import Viewer

    router = MediaRouter("demo", settings, Quiet())
    asked: list[int] = []
    inbound = Inbound("0", "video", codec_named("VP8"), None, rids=("h", "f"))  # type: ignore[arg-type]
    publisher = SimpleNamespace(pid="tea", send_pli=lambda inbound, index: asked.append(index))
    router._retarget(inbound, "camera", publisher)  # type: ignore[arg-type]
    lena = Viewer(router, "lena", [0.0])
    router.refresh()
    router.view_sizes("lena", {"tea/camera": 200})

    def send(layer: int, pts: int) -> None:
        inbound.forward_layer(layer, pts // 3000, pts, 1, b"\x10\x00", 0, b"\x00")

    send(1, 0)
    inbound.deliver_layer(1, sized_keyframe(0, 640, 480))
    send(0, 3000)  # the half layer flows, its keyframe never seen
    asked.clear()
    router.check_layers()
    assert asked == [0]  # a keyframe of the half layer, so its size is known
    assert [slot.outlet.source.layer for slot in lena.subscriber.slots] == [1]  # type: ignore[union-attr]

    inbound.deliver_layer(0, sized_keyframe(3000, 320, 240))
    send(0, 6000)
    send(1, 6000)
    router.check_layers()
    assert [slot.outlet.source.layer for slot in lena.subscriber.slots] == [0]  # type: ignore[union-attr]
    send(0, 9000)
    send(1, 9000)
    asked.clear()
    router.check_layers()
    assert asked == []  # both sizes known: nothing more asked
    await router.close()


async def test_a_switch_waiting_for_a_keyframe_asks_again_until_one_comes(
    settings: Settings,
) -> None:
    """A keyframe request, or the keyframe, can be lost: a viewer moved to a smaller layer
    would then keep the larger one for good."""
    from tests.media.test_router_budget import Viewer

    router = MediaRouter("demo", settings, Quiet(), keyframe_interval_s=0.0)  # no rate limit
    asked: list[int] = []
    inbound = Inbound("0", "video", codec_named("VP8"), None, rids=("h", "f"))  # type: ignore[arg-type]
    publisher = SimpleNamespace(pid="tea", send_pli=lambda inbound, index: asked.append(index))
    router._retarget(inbound, "camera", publisher)  # type: ignore[arg-type]
    lena = Viewer(router, "lena", [0.0])
    router.refresh()
    inbound.deliver_layer(1, sized_keyframe(0, 640, 480))
    inbound.deliver_layer(0, sized_keyframe(0, 320, 240))
    outlet = lena.subscriber.slots[0].outlet
    outlet.wire = SimpleNamespace(send=lambda *args, **kwargs: None)  # type: ignore[assignment]
    outlet.waiting = False  # the full layer flows to her
    router.view_sizes("lena", {"tea/camera": 200})
    router.check_layers()
    assert outlet.pending is inbound.layer(0)

    def delta(layer: int, pts: int) -> None:  # a frame that is not a keyframe
        inbound.forward_layer(layer, pts // 3000, pts, 1, b"\x10\x00", 0, b"\x01")

    asked.clear()
    for look in range(1, 7):
        delta(0, 3000 * look)
        delta(1, 3000 * look)
        router.check_layers()
    assert asked == [0, 0, 0]  # every other look
    inbound.forward_layer(0, 99, 30_000, 1, b"\x10\x00", 0, b"\x00")  # its keyframe
    assert outlet.pending is None and outlet.source is inbound.layer(0)
    asked.clear()
    router.check_layers()
    assert asked == []
    await router.close()


async def test_a_layer_whose_keyframes_say_no_size_is_not_asked_again_and_again(
    settings: Settings,
) -> None:
    router = MediaRouter("demo", settings, Quiet(), keyframe_interval_s=0.0)  # no rate limit
    asked: list[int] = []
    inbound = Inbound("0", "video", codec_named("VP8"), None, rids=("h", "f"))  # type: ignore[arg-type]
    publisher = SimpleNamespace(pid="tea", send_pli=lambda inbound, index: asked.append(index))
    router._retarget(inbound, "camera", publisher)  # type: ignore[arg-type]
    inbound.deliver_layer(0, frame(0, True))  # a keyframe too short to say its size
    inbound.deliver_layer(1, sized_keyframe(0, 640, 480))
    for pts in (3000, 6000, 9000):
        inbound.forward_layer(0, pts // 3000, pts, 1, b"\x10\x00", 0, b"\x01")
        inbound.forward_layer(1, pts // 3000, pts, 1, b"\x10\x00", 0, b"\x01")
        router.check_layers()
    assert asked == []
    await router.close()
