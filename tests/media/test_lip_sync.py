"""Lip sync: sender reports carry each publisher's capture clock in each viewer's RTP time,
mapped per publisher sender report (never per packet), and only where a browser lines up
the tracks of one participant."""

from __future__ import annotations

import os
import socket

from aiortc import RTCPeerConnection
from pylibsrtp import Policy, Session

from media.codecs import codec_named
from media.forwarding import Counters, Outlet
from media.subscriber import Subscriber
from media.tracks import NTP_UNIX_OFFSET, SenderReport
from media.wire import NTP_TIMESTAMP, REPORT_EVERY, RTP_TIMESTAMP, IdleTrack, Wire
from tests.media.test_forwarding import DELTA, KEY, FakeWire, packet, published

NTP = (3_970_000_000 << 32) | 0x8000_0000  # a capture time in 2025, and a half second


def test_a_sender_reports_ntp_time_goes_back_to_the_64_bits_it_came_from() -> None:
    unix = (NTP >> 32) - NTP_UNIX_OFFSET + (NTP & 0xFFFFFFFF) / 2**32
    report = SenderReport(unix, rtp_timestamp=0, wire_rtp_timestamp=0)
    assert abs(report.ntp_timestamp - NTP) < 2**32 // 1_000_000  # within a microsecond


async def test_each_outlet_maps_the_publishers_report_through_its_own_offset_once() -> None:
    counters, asked = Counters(), []
    camera = published("ana", counters, asked)
    outlets = [Outlet("video", counters), Outlet("video", counters)]
    wires = [FakeWire(), FakeWire()]
    outlets[0].bind(camera)
    outlets[0].connect(wires[0])
    camera.sender_report(NTP, 1_000)  # before anything was sent: nothing to map yet
    assert wires[0].synced == []
    packet(camera, 10, 90_000, KEY)
    outlets[1].bind(camera)
    outlets[1].connect(wires[1])
    for seq in range(11, 11 + 3 * REPORT_EVERY):
        packet(camera, seq, 90_000 + 3000 * (seq - 10), DELTA if seq != 50 else KEY)
    # Each outlet started with the report already known, mapped into its own RTP time.
    for outlet, wire in zip(outlets, wires, strict=True):
        first_out, first_in = wire.sent[0][1], 90_000 if outlet is outlets[0] else 90_000 + 120_000
        assert wire.synced == [(NTP, (first_out - first_in + 1_000) & 0xFFFFFFFF)]
    later = NTP + (2 << 32)
    camera.sender_report(later, 181_000)  # two seconds on
    for wire in wires:
        offset = (wire.synced[0][1] - 1_000) & 0xFFFFFFFF  # type: ignore[index]
        assert wire.synced[1:] == [(later, (181_000 + offset) & 0xFFFFFFFF)]


async def test_without_a_report_no_time_is_reported_and_told_not_to_the_servers_time() -> None:
    counters, asked = Counters(), []
    ana, bojan = published("ana", counters, asked), published("bojan", counters, asked)
    outlet, wire = Outlet("video", counters), FakeWire()
    outlet.bind(ana)
    outlet.connect(wire)
    ana.sender_report(NTP, 5)
    packet(ana, 1, 100, KEY)
    assert wire.synced == [(NTP, wire.sent[0][1] - 95)]
    outlet.bind(bojan)  # no report of bojan's yet: ana's clock must not stay on, nor
    packet(bojan, 7, 50, KEY)  # may a send time go among the pairs of bojan's clock
    assert wire.synced[-1] == (0, 0)
    bojan.sender_report(NTP + 1, 40)
    assert wire.synced[-1] == (NTP + 1, (wire.sent[-1][1] - 10) & 0xFFFFFFFF)
    outlet.lip_sync(False)
    bojan.sender_report(NTP + 2, 70)
    assert wire.synced[-2:] == [None, None]
    outlet.lip_sync(True)
    assert wire.synced[-1] == (NTP + 2, (wire.sent[-1][1] + 20) & 0xFFFFFFFF)


async def test_the_wire_keeps_the_mapped_pair_until_told_to_report_its_send_time() -> None:
    pc = RTCPeerConnection()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sender = pc.addTransceiver(IdleTrack("audio"), direction="sendonly").sender
        session = Session(Policy(key=os.urandom(30), ssrc_type=Policy.SSRC_ANY_OUTBOUND))
        wire = Wire(sock.sendto, ("127.0.0.1", 9), session, 1, 111, Counters(), sender)
        wire.sync(NTP, 4242)
        for seq in range(REPORT_EVERY):
            wire.send(seq, 960 * seq, 1, b"opus", 0)
        assert (getattr(sender, NTP_TIMESTAMP), getattr(sender, RTP_TIMESTAMP)) == (NTP, 4242)
        wire.unsync()
        for seq in range(REPORT_EVERY, 2 * REPORT_EVERY):
            wire.send(seq, 960 * seq, 1, b"opus", 0)
        assert getattr(sender, RTP_TIMESTAMP) == 960 * (2 * REPORT_EVERY - 1)
        assert getattr(sender, NTP_TIMESTAMP) != NTP
    finally:
        sock.close()
        await pc.close()


async def test_a_participants_voice_and_camera_share_a_stream_and_sync_only_together() -> None:
    counters, asked = Counters(), []
    tracks = {
        (who, kind): published(who, counters, asked, kind=kind)
        for who in ("ana", "bojan")
        for kind in ("audio", "video")
    }
    subscriber = Subscriber(
        "viewer",
        frozenset({codec_named("VP8").name}),
        None,  # type: ignore[arg-type]  # never connects: no offer is sent
        "127.0.0.1",
        counters,
        lambda sdp, shown: None,
        lambda shown: None,
    )
    subscriber.closed = True  # decisions only: no negotiation
    subscriber.assign([tracks["ana", "audio"], tracks["bojan", "audio"], tracks["ana", "video"]])
    voice, other_voice, camera = subscriber.slots
    assert camera.partner is voice and voice.stream_id == camera.stream_id
    assert other_voice.partner is None and other_voice.stream_id != voice.stream_id
    assert voice.outlet.synced and camera.outlet.synced
    # Bojan takes the one video m-line, which is in the stream of Ana's voice: neither
    # may report its publisher's clock (the browser would line up Ana's voice with him).
    subscriber.assign([tracks["ana", "audio"], tracks["bojan", "audio"], tracks["bojan", "video"]])
    assert subscriber.slots == [voice, other_voice, camera] and camera.shows("bojan")
    assert not camera.outlet.synced and not voice.outlet.synced and other_voice.outlet.synced
    # Ana's voice gone, her m-line free: Bojan's camera syncs with nothing else, so again.
    subscriber.assign([tracks["bojan", "audio"], tracks["bojan", "video"]])
    assert camera.outlet.synced
    # Ana's voice comes back into the free m-line of her old stream, whose video now
    # shows Bojan: her camera gets a stream of its own, and the pair stays unsynced.
    subscriber.assign([tracks["ana", "audio"], tracks["bojan", "video"], tracks["ana", "video"]])
    assert voice.shows("ana") and subscriber.slots[3].shows("ana")
    assert subscriber.slots[3].partner is None and not voice.outlet.synced
