"""Reassembly without decoding: RTP packets in, the publisher's encoded frames out (sans I/O)."""

from __future__ import annotations

import fractions
import random

import av
from aiortc.codecs import depayload
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtp import RtpPacket

from media.codecs import codec_named
from media.passthrough import AudioFrames, VideoFrames
from media.tracks import is_keyframe
from tests.media.clients import encode_opus, encode_video

SSRC = 1234


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def rtp(frames: list[bytes], codec: str, first_seq: int = 65530, first_ts: int = 2**32 - 6000):
    """The RTP packets a browser would send for these frames (30 a second)."""
    packets = []
    seq = first_seq
    for n, frame in enumerate(frames):
        if codec == "VP8":
            payloads = Vp8Encoder._packetize(frame, n % 32768)
        else:
            payloads = H264Encoder._packetize(H264Encoder._split_bitstream(frame))
        for i, payload in enumerate(payloads):
            packet = RtpPacket(
                payload_type=96,
                marker=int(i == len(payloads) - 1),
                sequence_number=seq % 65536,
                timestamp=(first_ts + 3000 * n) % 2**32,
                ssrc=SSRC,
                payload=payload,
            )
            packet._data = depayload(codec_named(codec).capability, payload)  # type: ignore[attr-defined]
            packets.append(packet)
            seq += 1
    return packets


def assembler(codec: str, clock: Clock | None = None) -> tuple[VideoFrames, list[av.Packet]]:
    out: list[av.Packet] = []
    return VideoFrames(codec_named(codec), out.append, clock=clock or Clock()), out


def test_frames_come_out_whole_in_order_with_unwrapped_timestamps() -> None:
    frames = encode_video("VP8", 12, 320, 240)
    video, out = assembler("VP8")
    for packet in rtp(frames, "VP8"):
        assert video.add(packet) == (False, None)
    assert [bytes(p) for p in out] == frames  # the last one too: its marker bit ends it
    assert [p.pts for p in out] == [3000 * n for n in range(12)]  # across the 32-bit wrap
    assert [p.is_keyframe for p in out] == [True] + [False] * 11
    assert {p.time_base for p in out} == {fractions.Fraction(1, 90000)}
    assert video.ssrc == SSRC and not video.packets


def test_reordered_and_repeated_packets_change_nothing() -> None:
    frames = encode_video("H264", 10, 320, 240)
    packets = rtp(frames, "H264")
    shuffled = packets[:1] + sorted(
        packets[1:], key=lambda p: random.Random(p.sequence_number).random()
    )
    video, out = assembler("H264")
    for packet in shuffled + packets[:5]:  # then a few again, late
        video.add(packet)
    expected = [H264Encoder._split_bitstream(f) for f in frames]
    assert [list(H264Encoder._split_bitstream(bytes(p))) for p in out] == [
        list(e) for e in expected
    ]
    assert video.late == 5


def test_padding_between_frames_is_skipped() -> None:
    frames = encode_video("VP8", 4, 320, 240)
    packets = rtp(frames, "VP8", first_seq=100)
    padded = []
    seq = 100
    for packet in packets:
        packet.sequence_number = seq
        padded.append(packet)
        seq += 1
        if packet.marker:
            pad = RtpPacket(
                payload_type=96, sequence_number=seq, timestamp=packet.timestamp, ssrc=SSRC
            )
            pad._data = b""  # type: ignore[attr-defined]
            padded.append(pad)
            seq += 1
    video, out = assembler("VP8")
    for packet in padded:
        video.add(packet)
    assert [bytes(p) for p in out] == frames


def test_a_lost_packet_is_waited_for_then_given_up_until_the_next_keyframe() -> None:
    clip = encode_video("VP8", 6, 320, 240)
    frames = clip + clip  # the clip again: a keyframe, then deltas
    packets = rtp(frames, "VP8")
    lost = next(
        i for i, p in enumerate(packets) if p.timestamp == (packets[0].timestamp + 3000 * 2) % 2**32
    )
    clock = Clock()
    video, out = assembler("VP8", clock)
    asked = []
    for i, packet in enumerate(packets):
        if i == lost:
            continue
        if i == lost + 3:
            clock.now += 0.1  # a retransmission could still come
        if i == lost + 6:
            clock.now += 1.0  # it will not
        asked.append(video.add(packet)[0])
    assert [bytes(p) for p in out] == clip[:2] + clip  # frames 2-5 lost: none without frame 2
    assert asked.count(True) == 1 and video.given_up == 1


def test_memory_stays_bounded_when_a_frame_never_completes() -> None:
    frames = encode_video("VP8", 30, 320, 240)
    packets = rtp(frames, "VP8")
    video = VideoFrames(codec_named("VP8"), lambda p: None, max_wait_s=1e9, max_packets=20)
    for packet in packets[:1] + packets[2:]:  # the second packet never arrives
        video.add(packet)
        assert len(video.packets) <= 21


def test_keyframes_are_read_from_the_codec_headers() -> None:
    for codec in ("vp8", "h264"):
        frames = encode_video(codec, 3, 320, 240)
        assert [is_keyframe(codec, f) for f in frames] == [True, False, False]
    assert is_keyframe("opus", b"\x01") and not is_keyframe("vp8", b"")


def test_audio_packets_are_frames_at_once_and_late_ones_are_dropped() -> None:
    opus = encode_opus(6)
    out: list[av.Packet] = []
    levels: list[int] = []
    audio = AudioFrames(codec_named("opus"), out.append, on_level=levels.append)
    packets = []
    for n, data in enumerate(opus):
        packet = RtpPacket(
            payload_type=111, sequence_number=n, timestamp=960 * n, ssrc=SSRC, payload=data
        )
        packet._data = data  # type: ignore[attr-defined]
        packet.extensions.audio_level = (True, 30 + n)
        packets.append(packet)
    for packet in [packets[0], packets[2], packets[1], packets[3], packets[4], packets[5]]:
        audio.add(packet)
    assert [bytes(p) for p in out] == [opus[0], opus[2], opus[3], opus[4], opus[5]]
    assert [p.pts for p in out] == [0, 1920, 2880, 3840, 4800]
    assert levels == [30, 32, 33, 34, 35] and audio.late == 1
