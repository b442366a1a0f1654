"""The load tool's media: a clip encoded once and replayed, and receivers that count packets."""

from __future__ import annotations

import asyncio
import fractions
from collections.abc import AsyncIterator, Callable

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from loadtest.clip import (
    AUDIO_RATE,
    VIDEO_CLOCK,
    Clip,
    ClipTrack,
    add_clip_track,
    encode_audio,
    encode_video,
)
from loadtest.counter import SRTP_TAG, Reading, StreamCounter, Tap, rates
from media.ice import gather_loopback_when_alone


@pytest.fixture(scope="module")
def video() -> Clip:
    return encode_video(bitrate=500_000, width=320, height=240, fps=30, seconds=2.0)


@pytest.fixture(scope="module")
def audio() -> Clip:
    return encode_audio(seconds=0.5)


def test_the_video_clip_has_its_bitrate_and_a_keyframe_each_second(video: Clip) -> None:
    assert 0.8 <= video.bitrate / 500_000 <= 1.2
    assert video.keyframes == (0, 30)
    assert len(video.frames) == 60


def test_the_audio_clip_is_twenty_millisecond_opus_frames(audio: Clip) -> None:
    assert audio.rate == 50 and audio.clock == AUDIO_RATE
    assert 24 <= len(audio.frames) <= 26


@pytest.mark.parametrize("bitrate", [0, 10_000, 50_000_000])
def test_an_impossible_bitrate_is_refused(bitrate: int) -> None:
    with pytest.raises(ValueError, match="bitrate"):
        encode_video(bitrate=bitrate)


async def test_the_track_loops_with_running_timestamps_and_jumps_to_a_keyframe(
    video: Clip,
) -> None:
    track = ClipTrack(Clip(video.kind, video.frames, 1000.0, video.clock))  # fast pace
    packets = [await track.recv() for _ in range(70)]
    assert [bytes(p) for p in packets[60:]] == [f.data for f in video.frames[:10]]
    step = VIDEO_CLOCK // 1000
    assert [p.pts for p in packets] == [n * step for n in range(70)]
    assert all(p.time_base == fractions.Fraction(1, VIDEO_CLOCK) for p in packets)
    track.request_keyframe()
    assert bytes(await track.recv()) == video.frames[30].data  # frame 10 was next: skip to 30
    assert track.keyframe_requests == 1


def reading(at: float, packets: int, frames: int, size: int, expected: int) -> Reading:
    return Reading(at, packets, frames, size, expected)


@pytest.mark.parametrize(
    ("sequences", "packets", "expected", "lost"),
    [
        ([1, 2, 3, 4], 4, 4, 0),
        ([1, 2, 4, 5], 4, 5, 1),
        ([65534, 65535, 0, 1], 4, 4, 0),  # wraps
        ([65535, 2], 2, 4, 2),  # loss across the wrap
        ([5, 3, 4, 6], 4, 4, 0),  # reordered, earlier than the first
        ([1, 2, 2, 3], 4, 3, 0),  # a duplicate is not negative loss
    ],
)
def test_sequence_numbers_give_loss(
    sequences: list[int], packets: int, expected: int, lost: int
) -> None:
    counter = StreamCounter("video", clock=lambda: 0.0)
    for seq in sequences:
        counter.count(1234, seq, 0, 100, 0)
    assert (counter.packets, counter.expected, counter.lost) == (packets, expected, lost)


def test_video_frames_end_on_the_marker_bit_and_audio_packets_are_frames() -> None:
    video, audio = StreamCounter("video"), StreamCounter("audio")
    for seq, marker in enumerate([0, 0, 1, 0, 1]):
        video.count(1, seq, marker, 1000, 3000 * (seq // 3))
        audio.count(2, seq, 0, 80, 960 * seq)
    assert (video.frames, audio.frames) == (2, 5)
    assert video.bytes == 5000


def test_a_frame_is_counted_once_however_often_its_packets_arrive() -> None:
    """A resent or duplicated last packet, or one that arrives after the next frame,
    is no new frame: 30 frames a second are counted as 30, not more."""
    video, audio = StreamCounter("video"), StreamCounter("audio")
    one = 3000  # a frame at 30 a second on a 90 kHz clock
    start = 2**32 - 2 * one  # the RTP clock wraps after two frames
    # (sequence, marker, timestamp): frame 2's last packet twice, frame 1's again after it.
    for seq, marker, ts in [(1, 1, start), (2, 0, start + one), (3, 1, start + one)]:
        video.count(7, seq, marker, 500, ts)
    video.count(7, 3, 1, 500, start + one)
    video.count(7, 1, 1, 500, start)
    video.count(7, 4, 1, 500, 0)
    video.count(7, 5, 1, 500, one)
    for seq in (1, 2, 2, 3):
        audio.count(8, seq, 1, 80, 960 * seq)
    assert (video.frames, video.packets) == (4, 7)
    assert (audio.frames, audio.packets) == (3, 4)


def test_rates_between_two_readings() -> None:
    got = rates(reading(10.0, 100, 30, 12_500, 100), reading(12.0, 290, 90, 262_500, 300))
    assert got == {"fps": 30.0, "pps": 95.0, "bps": 1_000_000.0, "loss": 10 / 200}
    assert rates(reading(1.0, 0, 0, 0, 0), reading(1.0, 0, 0, 0, 0))["fps"] == 0.0


@pytest.fixture
async def peers() -> AsyncIterator[tuple[RTCPeerConnection, RTCPeerConnection]]:
    gather_loopback_when_alone()  # a candidate even on a loopback-only machine
    sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    viewer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    yield sender, viewer
    await sender.close()
    await viewer.close()


async def until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    """Poll a condition that sender and receiver tasks make true (no event to wait on)."""
    async with asyncio.timeout(seconds):
        while True:
            if condition():
                return
            await asyncio.sleep(0.05)


async def test_a_real_peer_connection_carries_the_clip_to_a_tap(
    peers: tuple[RTCPeerConnection, RTCPeerConnection], video: Clip, audio: Clip
) -> None:
    """Real aiortc on loopback: packets counted, none lost, keyframe requests reach the clip."""
    pc, viewer = peers
    video_track, video_transceiver = add_clip_track(pc, video)
    add_clip_track(pc, audio)
    await pc.setLocalDescription(await pc.createOffer())
    await viewer.setRemoteDescription(pc.localDescription)
    tap = Tap(viewer)
    await viewer.setLocalDescription(await viewer.createAnswer())
    await pc.setRemoteDescription(viewer.localDescription)

    counters = {c.kind: c for c in tap.counters.values()}
    await until(lambda: counters["video"].frames >= 40 and counters["audio"].frames >= 60)
    assert counters["video"].lost == 0 and counters["audio"].lost == 0
    assert counters["video"].packets > counters["video"].frames  # a 500k frame spans packets
    assert counters["video"].first_frame_at is not None
    assert tap.unrouted == 0

    receiver = next(t.receiver for t in viewer.getTransceivers() if t.kind == "video")
    # What aiortc's own receiver sends when it cannot decode: a picture loss indication.
    await receiver._send_rtcp_pli(video_transceiver.sender._ssrc)
    await until(lambda: video_track.keyframe_requests == 1)


def rtp(ssrc: int, seq: int, marker: int, payload_type: int = 96, size: int = 100) -> bytes:
    """An RTP packet as it arrives (its header in the clear; the payload would be encrypted)."""
    header = bytes((0x80, payload_type | (0x80 if marker else 0))) + seq.to_bytes(2, "big")
    timestamp = (960 * seq).to_bytes(4, "big")
    return header + timestamp + ssrc.to_bytes(4, "big") + bytes(size)


async def test_packets_go_to_the_m_line_whose_ssrc_the_offer_signals(
    peers: tuple[RTCPeerConnection, RTCPeerConnection], video: Clip, audio: Clip
) -> None:
    """Several m-lines of one codec (a room with several publishers): each stream is counted
    on its own m-line from its first packet, even before aiortc has started that m-line's
    receiver (aiortc would guess from the payload type then, and keep the guess)."""
    pc, viewer = peers
    senders = [add_clip_track(pc, clip)[1] for clip in (video, audio, video, audio, video)]
    await pc.setLocalDescription(await pc.createOffer())
    await viewer.setRemoteDescription(pc.localDescription)
    tap = Tap(viewer)
    receivers = {t.mid: t.receiver for t in viewer.getTransceivers()}
    connection = viewer.getTransceivers()[0].receiver.transport.transport._connection
    ssrcs = [t.sender._ssrc for t in senders]
    # The last video first, then the others: one frame of two packets each.
    for n, sender in reversed(list(enumerate(senders))):
        connection.data_received(rtp(ssrcs[n], 10, 0, 96 if sender.kind == "video" else 111), 1)
        connection.data_received(rtp(ssrcs[n], 11, 1, 96 if sender.kind == "video" else 111), 1)
    connection.data_received(rtp(12345, 1, 1), 1)  # an SSRC nobody signalled
    for n, sender in enumerate(senders):
        counter = tap.counter(receivers[sender.mid])
        assert (counter.kind, counter.packets) == (sender.kind, 2)
        assert list(counter._sequences) == [ssrcs[n]]
        assert counter.frames == (1 if sender.kind == "video" else 2)
    assert tap.unrouted == 1


@pytest.mark.parametrize(("videos", "counted"), [(1, True), (2, False)])
async def test_an_unsignalled_ssrc_goes_to_the_one_m_line_of_its_payload_type(
    peers: tuple[RTCPeerConnection, RTCPeerConnection], video: Clip, videos: int, counted: bool
) -> None:
    """An offer without a=ssrc: a stream is counted when its payload type names one
    m-line; among several, nothing is guessed."""
    pc, viewer = peers
    for _ in range(videos):
        add_clip_track(pc, video)
    await pc.setLocalDescription(await pc.createOffer())
    lines = pc.localDescription.sdp.splitlines(keepends=True)
    sdp = "".join(line for line in lines if not line.startswith(("a=ssrc", "a=msid")))
    await viewer.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
    tap = Tap(viewer)
    vp8 = int(sdp.split(" VP8/90000")[0].rsplit(":", 1)[1])
    connection = viewer.getTransceivers()[0].receiver.transport.transport._connection
    connection.data_received(rtp(4242, 1, 1, vp8), 1)
    connection.data_received(rtp(4242, 2, 1, vp8), 1)
    packets = [c.packets for c in tap.counters.values()]
    assert packets == ([2] if counted else [0, 0])
    assert tap.unrouted == (0 if counted else 2)


async def test_bytes_counted_leave_out_the_header_extensions(
    peers: tuple[RTCPeerConnection, RTCPeerConnection], video: Clip
) -> None:
    """The server writes its send time in a header extension on video: not payload."""
    pc, viewer = peers
    sender = add_clip_track(pc, video)[1].sender
    await pc.setLocalDescription(await pc.createOffer())
    await viewer.setRemoteDescription(pc.localDescription)
    tap = Tap(viewer)
    connection = viewer.getTransceivers()[0].receiver.transport.transport._connection
    plain = rtp(sender._ssrc, 1, 1, size=110)
    extended = bytearray(rtp(sender._ssrc, 2, 1, size=100 + 8))
    extended[0] |= 0x10  # X: one word of one-byte extensions after the header
    extended[12:20] = b"\xbe\xde\x00\x01\x32\x01\x02\x03"
    connection.data_received(plain, 1)
    connection.data_received(bytes(extended), 1)
    counter = tap.counter(viewer.getTransceivers()[0].receiver)
    assert counter.packets == 2 and counter.bytes == (110 - SRTP_TAG) + (100 - SRTP_TAG)
