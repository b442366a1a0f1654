"""Simulcast without a browser: the layers read from an offer and taken in the answer, a
viewer's layer switched at the new layer's keyframe, and the choice of layers (sizes and
the budget's ladder)."""

from __future__ import annotations

import itertools
import re

from aiortc import sdp as aiortc_sdp

from media.description import accept_simulcast, parse_description
from media.forwarding import Counters, Outlet
from media.layers import fitting, ladder
from media.publisher import Inbound
from media.simulcast import SimulcastFrames
from tests.media.test_description import choose, offer, publisher
from tests.media.test_forwarding import DELTA, KEY, FakeWire, packet, published


def simulcast_offer(listing: str = "h;f", rids: tuple[str, ...] = ("h", "f")) -> str:
    """Chromium's trainee offer (fixtures) with its camera in simulcast, as Chromium writes
    it: no a=ssrc lines on that m-line, an a=rid line per layer and the a=simulcast list."""
    session, sections = aiortc_sdp.grouplines(offer("chromium", "trainee"))
    lines = list(session)
    for section in sections:
        if section[0].startswith("m=video"):
            section = [line for line in section if not line.startswith(("a=ssrc", "a=ssrc-group"))]
            section += [f"a=rid:{rid} send" for rid in rids] + [f"a=simulcast:send {listing}"]
        lines += section
    return "\r\n".join(lines) + "\r\n"


def test_an_offer_names_its_layers_smallest_first_and_the_answer_takes_them() -> None:
    description = parse_description(simulcast_offer())
    assert description.simulcast == {"0": ("h", "f")}
    # A paused layer (~) and alternatives (the first is taken); a rid never declared, or
    # a list on an audio m-line, is no simulcast at all.
    assert parse_description(simulcast_offer("~h;f,x")).simulcast == {"0": ("h", "f")}
    assert parse_description(simulcast_offer("h;f;z")).simulcast == {}
    assert parse_description(simulcast_offer("h", ("h",))).simulcast == {}
    answer = accept_simulcast(
        "v=0\r\nm=video 9 X 96\r\na=mid:0\r\nm=audio 9 X 111\r\na=mid:1\r\n", {"0": ("h", "f")}
    )
    video = answer.split("m=audio")[0]
    assert "a=rid:h recv\r\na=rid:f recv\r\na=simulcast:recv h;f\r\n" in video
    assert "simulcast" not in answer.split("m=audio")[1]


async def test_a_publisher_answers_the_layers_with_their_stream_id_extension() -> None:
    server = publisher()
    try:
        answer = await server.negotiate(
            simulcast_offer(), {"0": "camera", "1": "microphone"}, choose
        )
        camera = next(i for i in server.inbound if i.mid == "0")
        assert camera.rids == ("h", "f") and isinstance(camera.frames, SimulcastFrames)
        video = (
            answer.split("m=audio")[0]
            if answer.index("m=video") < answer.index("m=audio")
            else answer.split("m=video")[1]
        )
        assert "a=simulcast:recv h;f" in video
        # Chromium starts its estimate high enough for every layer at once.
        fmtps = [line for line in video.split("\r\n") if line.startswith("a=fmtp:")]
        assert fmtps and all(
            "x-google-start-bitrate=1500" in line for line in fmtps if "apt=" not in line
        ), fmtps
        assert re.search(r"a=extmap:\d+ urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id", video)
        microphone = next(i for i in server.inbound if i.mid == "1")
        assert microphone.rids == () and not isinstance(microphone.frames, SimulcastFrames)
    finally:
        await server.close()


async def test_a_viewer_switches_layers_at_the_new_ones_keyframe_without_a_gap() -> None:
    counters, asked = Counters(), []
    low, high = published("ana-low", counters, asked), published("ana-high", counters, asked)
    low.layers = high.layers = (low, high)
    outlet, wire = Outlet("video", counters), FakeWire()
    outlet.bind(high)
    outlet.connect(wire)
    packet(high, 10, 1000, KEY)
    packet(high, 11, 4000, DELTA)
    asked.clear()

    outlet.switch(low)
    assert asked == ["ana-low"] and outlet.source is high  # the keyframe is asked for
    packet(low, 500, 70_000, DELTA)  # the low layer before its keyframe: not sent
    packet(high, 12, 7000, DELTA)  # the high layer goes on meanwhile
    last_seq, last_ts = wire.sent[-1][0], wire.sent[-1][1]
    packet(low, 501, 73_000, KEY)  # the switch
    packet(high, 13, 10_000, DELTA)  # no longer sent
    packet(low, 502, 76_000, DELTA)
    assert outlet.source is low and outlet not in high.outlets
    after = wire.sent[3:]
    assert [(s - last_seq) & 0xFFFF for s, *_ in after] == [1, 2]
    assert [(ts - last_ts) & 0xFFFFFFFF for _, ts, *_ in after] == [3000, 6000]
    assert counters.tracks_forwarded == 1

    # Asked to switch and back before the keyframe came: nothing changes.
    outlet.switch(high)
    outlet.switch(low)
    assert not high.pending and outlet.pending is None
    packet(high, 14, 13_000, KEY)
    assert outlet.source is low
    # A layer that stops while switched to: the viewer stays where it is.
    outlet.switch(high)
    high.close()
    assert outlet.source is low and outlet.pending is None
    seqs = [s for s, *_ in wire.sent]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))


def test_the_layer_that_fits_is_the_smallest_at_least_as_tall_as_the_tile() -> None:
    heights, flowing = [120, 240, 480], [True, True, True]
    assert fitting(heights, flowing, None) == 2  # not said: the largest
    assert fitting(heights, flowing, 0) == 0  # not seen: the smallest
    assert fitting(heights, flowing, 100) == 0
    assert fitting(heights, flowing, 130) == 0  # 120 is within 10% of 130
    assert fitting(heights, flowing, 140) == 1
    assert fitting(heights, flowing, 260) == 1  # 240 is within 10% of 260
    assert fitting(heights, flowing, 300) == 2
    assert fitting(heights, flowing, 2000) == 2  # none is tall enough: the largest
    assert fitting([120, None, None], flowing, 300) == 2  # sizes not known yet
    # A layer that does not flow is never chosen while one does.
    assert fitting(heights, [True, True, False], 2000) == 1
    assert fitting(heights, [False, True, True], 0) == 1
    assert fitting(heights, [False, False, False], 0) == 0


def test_the_ladder_takes_the_thumbnails_layers_then_the_stages_then_the_videos() -> None:
    # The stage wants the full layer, two thumbnails the half one; all can go to 0.
    assert ladder([2, 1, 1], [0, 0, 0]) == [
        (2, 1, 1),
        (2, 0, 0),
        (1, 0, 0),  # the stage one layer down, still readable
        (1, 0, None),
        (1, None, None),
        (0, None, None),
        (None, None, None),
    ]
    # Single-layer videos: one rung per video, as the budget counted before layers.
    assert ladder([0, 0, 0], [0, 0, 0]) == [
        (0, 0, 0),
        (0, 0, None),
        (0, None, None),
        (None, None, None),
    ]
    assert ladder([], []) == [()]
    # A layer that does not flow is no rung.
    assert ladder([2], [1]) == [(2,), (1,), (None,)]


def test_an_inbound_hands_each_layers_packets_to_that_layers_track() -> None:
    counters, asked = Counters(), []
    low, high = published("ana-low", counters, asked), published("ana-high", counters, asked)
    low.layers = high.layers = (low, high)
    inbound = Inbound("0", "video", low.codec, None, target=high, rids=("h", "f"))  # type: ignore[arg-type]
    inbound.forward_layer(0, 1, 0, 0, b"\x10\x00", 0, b"\x00")
    inbound.forward_layer(1, 1, 0, 0, b"\x10\x00", 0, b"\x00")
    inbound.forward_layer(1, 2, 0, 0, b"\x10\x00", 0, b"\x00")
    inbound.forward_layer(2, 1, 0, 0, b"\x10\x00", 0, b"\x00")  # no such layer: dropped
    assert (low.received, high.received) == (1, 2)
