"""Redundant audio (RFC 2198): the payload format, when a viewer gets it, and an outlet
that repeats earlier frames only where its viewer took the ``red`` codec (no network)."""

from __future__ import annotations

import pytest
from aiortc import RTCConfiguration
from aiortc.rtp import RtcpReceiverInfo

from media.codecs import codec_named
from media.congestion import VideoBudget
from media.forwarding import Counters, Outlet, PublishedTrack
from media.redundancy import (
    HOLD_S,
    MAX_LENGTH,
    MAX_OFFSET,
    AudioRedundancy,
    Frames,
    decode,
    encode,
)
from media.subscriber import Slot, Subscriber
from tests.media.test_forwarding import FakeWire, published

OPUS, RED = 111, 63


def test_a_payload_carries_the_earlier_frames_then_the_primary() -> None:
    block = encode(OPUS, 10_000, b"third", [(8_080, b"first"), (9_040, b"second")])
    # RFC 2198: F=1, PT, 14-bit offset and 10-bit length per earlier block; F=0, PT last.
    assert block[:4] == bytes((0x80 | OPUS,)) + ((1920 << 10) | 5).to_bytes(3, "big")
    assert block[8] == OPUS
    assert block[9:] == b"firstsecondthird"
    assert decode(block) == [(OPUS, 1920, b"first"), (OPUS, 960, b"second"), (OPUS, 0, b"third")]


def test_frames_that_do_not_fit_the_header_are_left_out() -> None:
    now = 1_000_000
    earlier = [
        (now - MAX_OFFSET - 1, b"too old"),
        (now - 960, bytes(MAX_LENGTH + 1)),  # too long for 10 bits
        (now - 480, b""),
        (now, b"same time"),
        (now + 960, b"newer"),
    ]
    assert decode(encode(OPUS, now, b"primary", earlier)) == [(OPUS, 0, b"primary")]
    # Offsets count across the RTP clock's wrap.
    wrapped = encode(OPUS, 100, b"after", [((100 - 960) & 0xFFFFFFFF, b"before")])
    assert decode(wrapped) == [(OPUS, 960, b"before"), (OPUS, 0, b"after")]


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x80\x00", bytes((0x80 | OPUS, 0x00, 0x04, 0x05, OPUS)) + b"abc"],
    ids=["empty", "cut header", "block longer than payload"],
)
def test_a_malformed_payload_is_refused(payload: bytes) -> None:
    with pytest.raises(ValueError):
        decode(payload)


def test_frames_repeat_the_last_one_sent() -> None:
    frames = Frames()
    assert decode(frames.wrap(OPUS, 1, 0, b"a")) == [(OPUS, 0, b"a")]
    assert [d for _, _, d in decode(frames.wrap(OPUS, 1, 960, b"b"))] == [b"a", b"b"]
    assert [d for _, _, d in decode(frames.wrap(OPUS, 1, 1920, b"c"))] == [b"b", b"c"]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_viewer_gets_repeats_while_its_audio_is_lost_and_not_after() -> None:
    clock = Clock()
    policy = AudioRedundancy(clock)
    assert not policy.reported(0) and policy.frames == 0
    assert not policy.reported(2)  # under 1%: nothing
    assert policy.reported(5) and policy.frames == 1  # 2%
    clock.now = 5
    assert not policy.reported(40) and policy.frames == 1  # 16%: still one frame
    clock.now = 5 + HOLD_S - 1
    assert not policy.reported(0) and policy.frames == 1
    clock.now = 5 + HOLD_S + 1  # the last loss is older than HOLD_S
    assert policy.reported(0) and policy.frames == 0


def audio_outlet(wire: FakeWire) -> tuple[Outlet, PublishedTrack]:
    counters = Counters()
    track = published("ana", counters, [], kind="audio")
    outlet = Outlet("audio", counters)
    outlet.bind(track)
    outlet.connect(wire)
    return outlet, track


def test_an_outlet_repeats_frames_where_the_viewer_took_red() -> None:
    wire = FakeWire(payload_type=OPUS, red_type=RED)
    outlet, track = audio_outlet(wire)
    track.forward(1, 0, 0, b"one", 0, b"one")
    outlet.redundant(1)
    track.forward(2, 960, 0, b"two", 0, b"two")
    track.forward(3, 1920, 0, b"three", 0, b"three")
    outlet.redundant(0)
    track.forward(4, 2880, 0, b"four", 0, b"four")
    assert wire.types == [OPUS, RED, RED, OPUS]
    seqs = [seq for seq, *_ in wire.sent]
    assert seqs == list(range(seqs[0], seqs[0] + 4))  # one numbering, whatever the type
    first, second = (decode(payload) for _, _, _, payload in wire.sent[1:3])
    assert first == [(OPUS, 0, b"two")]  # nothing kept before it was turned on
    assert second == [(OPUS, 960, b"two"), (OPUS, 0, b"three")]
    assert wire.sent[3][3] == b"four"


def test_an_outlet_sends_plain_opus_to_a_viewer_without_red() -> None:
    wire = FakeWire(payload_type=OPUS)
    outlet, track = audio_outlet(wire)
    outlet.redundant(1)
    track.forward(1, 0, 0, b"one", 0, b"one")
    track.forward(2, 960, 0, b"two", 0, b"two")
    assert wire.types == [OPUS, OPUS]
    assert [payload for *_, payload in wire.sent] == [b"one", b"two"]


def test_video_outlets_never_repeat() -> None:
    outlet = Outlet("video", Counters())
    outlet.redundant(1)
    assert outlet.red == 0


def test_no_repeats_while_not_allowed() -> None:
    clock = Clock()
    policy = AudioRedundancy(clock)
    policy.allowed = False
    assert not policy.reported(40) and policy.frames == 0
    policy.allowed = True
    assert policy.update() and policy.frames == 1  # the loss is still recent


def test_a_viewer_whose_budget_left_out_every_video_gets_no_repeats() -> None:
    """A link too narrow for the voices alone: repeats would overflow it further."""
    clock = Clock()
    budget = VideoBudget(4, clock)
    viewer = Subscriber(
        "olja",
        frozenset({"vp8"}),
        RTCConfiguration(),
        "",
        Counters(),
        send_offer=lambda sdp, tracks: None,
        send_tracks=lambda tracks: None,
        budget=budget,
        redundancy=AudioRedundancy(clock),
    )
    voice = Slot(Outlet("audio", viewer.counters), codec_named("opus"))
    viewer.slots.append(voice)
    viewer._audio_ssrcs.add(1234)
    viewer._reported(RtcpReceiverInfo(1234, 13, 0, 100, 0, 0, 0))  # 5% of audio lost
    assert voice.outlet.red == 1
    budget.wanted, budget.videos = 3, 0  # every video left out, and still losing
    viewer._voices(None)
    assert voice.outlet.red == 0
    budget.wanted = 0  # nobody has a camera on: the voices are all there is
    viewer._voices(None)
    assert voice.outlet.red == 1
