"""Fan-out, renumbering, switching, retransmission and keyframe rate limiting (no network)."""

from __future__ import annotations

import fractions
import itertools

import av
import pytest

from media.codecs import codec_named
from media.forwarding import HISTORY_PACKETS, Counters, KeyframeLimiter, Outlet, PublishedTrack
from media.tap import Tap
from media.tracks import TrackInfo

KEY = b"\x10\x00\x9d\x01\x2a"  # VP8: S bit, partition 0; frame tag with the keyframe bit clear
DELTA = b"\x10\x01"
MIDDLE = b"\x00\x01"  # not the first packet of a frame


class FakeWire:
    """Records what an outlet sends: (seq, timestamp, marker, payload), and the payload
    type of each packet in ``types``."""

    def __init__(self, payload_type: int = 111, red_type: int = -1) -> None:
        self.payload_type, self.red_type = payload_type, red_type
        self.sent: list[tuple[int, int, int, bytes]] = []
        self.types: list[int] = []
        self.synced: list[tuple[int, int] | None] = []  # sender report clocks (None: unsync)

    def send(
        self,
        seq: int,
        timestamp: int,
        marker: int,
        payload: bytes,
        padding: int,
        payload_type: int = -1,
    ) -> None:
        self.sent.append((seq, timestamp, marker, payload))
        self.types.append(self.payload_type if payload_type < 0 else payload_type)

    def sync(self, ntp: int, rtp: int) -> None:
        self.synced.append((ntp, rtp))

    def unsync(self) -> None:
        self.synced.append(None)


class BrokenWire(FakeWire):
    def send(
        self,
        seq: int,
        timestamp: int,
        marker: int,
        payload: bytes,
        padding: int,
        payload_type: int = -1,
    ) -> None:
        raise RuntimeError("a bug in one viewer's path")


def published(
    name: str, counters: Counters, asked: list[str], kind: str = "video"
) -> PublishedTrack:
    codec = "vp8" if kind == "video" else "opus"
    info = TrackInfo(
        f"{name}/{kind}", name, "camera" if kind == "video" else "microphone", kind, codec, 90000
    )
    return PublishedTrack(
        info,
        codec_named("VP8" if kind == "video" else "opus"),
        counters,
        lambda: asked.append(name),
        0.0,
    )


def packet(track: PublishedTrack, seq: int, ts: int, payload: bytes, marker: int = 1) -> None:
    # The depayloaded VP8 data starts after the one-byte descriptor.
    track.forward(seq, ts, marker, payload, 0, payload[1:])


def test_the_limiter_sends_one_request_per_interval_and_defers_the_next() -> None:
    limiter = KeyframeLimiter(0.5)
    assert limiter.request(10.0) == 0.0
    assert limiter.request(10.1) == pytest.approx(0.4)
    assert limiter.request(10.2) is None  # already due
    limiter.sent(10.5)
    assert limiter.request(10.6) == pytest.approx(0.4)
    limiter.sent(11.0)
    assert limiter.request(11.6) == 0.0


async def test_video_starts_at_a_keyframe_and_goes_on_across_a_switch() -> None:
    counters = Counters()
    asked: list[str] = []
    ana, bojan = published("ana", counters, asked), published("bojan", counters, asked)
    outlet, wire = Outlet("video", counters), FakeWire()
    outlet.bind(ana)
    packet(ana, 100, 90_000, KEY)  # before the viewer is connected: not sent
    assert asked == [] and counters.tracks_forwarded == 1
    outlet.connect(wire)
    assert asked == ["ana"]  # a keyframe to start with
    packet(ana, 101, 93_000, DELTA)  # not a keyframe: not sent
    packet(ana, 102, 96_000, KEY, marker=0)
    packet(ana, 103, 96_000, MIDDLE)
    packet(ana, 104, 99_000, DELTA)
    packet(ana, 101, 93_000, DELTA)  # a late copy from before the start: never sent
    seqs = [s for s, *_ in wire.sent]
    assert len(seqs) == 3 and [(b - a) & 0xFFFF for a, b in itertools.pairwise(seqs)] == [1, 1]
    assert [ts - wire.sent[0][1] for _, ts, *_ in wire.sent] == [0, 0, 3000]
    assert [m for _, _, m, _ in wire.sent] == [0, 1, 1]
    assert wire.sent[0][3] == KEY  # the payload goes as it came
    last_seq, last_ts = wire.sent[-1][0], wire.sent[-1][1]

    outlet.bind(bojan)
    assert asked == ["ana", "bojan"] and counters.tracks_forwarded == 1
    packet(ana, 105, 102_000, KEY)  # no longer bound
    packet(bojan, 7, 5_000, DELTA)  # waits for bojan's keyframe
    packet(bojan, 8, 8_000, KEY)
    packet(bojan, 9, 11_000, DELTA)
    switched = wire.sent[3:]
    assert [(s - last_seq) & 0xFFFF for s, *_ in switched] == [1, 2]  # no gap, no overlap
    assert [(ts - last_ts) & 0xFFFFFFFF for _, ts, *_ in switched] == [3000, 6000]
    outlet.close()
    assert counters.tracks_forwarded == 0 and not bojan.outlets


async def test_audio_starts_at_once_and_a_viewer_not_connected_asks_for_nothing() -> None:
    counters = Counters()
    asked: list[str] = []
    mic = published("ana", counters, asked, kind="audio")
    outlet, wire = Outlet("audio", counters), FakeWire()
    outlet.bind(mic)
    mic.forward(1, 960, 1, b"opus", 0, b"opus")
    assert counters.packets_dropped == 1  # nowhere to send it yet
    outlet.connect(wire)
    mic.forward(2, 1920, 1, b"opus", 0, b"opus")
    mic.forward(3, 2880, 1, b"opus", 0, b"opus")
    assert len(wire.sent) == 2 and asked == []  # audio never asks for keyframes


async def test_a_nack_is_answered_from_the_history_of_the_bound_source_only() -> None:
    counters = Counters()
    asked: list[str] = []
    ana = published("ana", counters, asked)
    outlet, wire = Outlet("video", counters), FakeWire()
    outlet.bind(ana)
    outlet.connect(wire)
    packet(ana, 65_535, 90_000, KEY)
    packet(ana, 0, 93_000, DELTA)  # the sequence wraps
    first = wire.sent[0][0]
    assert outlet.resend((first + 1) & 0xFFFF)
    assert wire.sent[-1] == wire.sent[1] and counters.packets_retransmitted == 1
    assert not outlet.resend((first - 1) & 0xFFFF)  # before this viewer started
    for seq in range(1, HISTORY_PACKETS + 2):  # the history moves on
        packet(ana, seq, 93_000 + 3000 * seq, DELTA)
    assert not outlet.resend(first)
    outlet.bind(None)
    assert not outlet.resend(wire.sent[-1][0])


async def test_one_viewers_failure_leaves_the_others_forwarding() -> None:
    counters = Counters()
    asked: list[str] = []
    ana = published("ana", counters, asked)
    broken, fine = Outlet("video", counters), Outlet("video", counters)
    wire = FakeWire()
    for outlet, w in ((broken, BrokenWire()), (fine, wire)):
        outlet.bind(ana)
        outlet.connect(w)
    packet(ana, 1, 90_000, KEY)
    packet(ana, 2, 93_000, DELTA)
    assert len(wire.sent) == 2 and broken.wire is None


class Consumer:
    def __init__(self) -> None:
        self.packets: list[int] = []

    def on_track(self, track: TrackInfo) -> None: ...
    def on_packet(self, track_id: str, packet: av.Packet) -> None:
        self.packets.append(int(packet.pts or 0))

    def on_sender_report(self, track_id: str, report: object) -> None: ...
    def on_track_ended(self, track_id: str) -> None: ...


def test_whole_frames_go_to_taps_and_are_counted() -> None:
    counters = Counters()
    ana = published("ana", counters, [])
    consumer = Consumer()
    ana.taps.add(Tap(consumer, "recorder", lambda track_id: None, lambda tap: None))
    frame = av.Packet(KEY)
    frame.pts, frame.time_base, frame.is_keyframe = 3000, fractions.Fraction(1, 90000), True
    ana.deliver(frame)
    assert consumer.packets == [3000] and counters.frames_tapped == 1 and ana.keyframes == 1
