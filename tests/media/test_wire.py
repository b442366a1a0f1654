"""The wire: what it puts on the network decrypts to the forwarded packet, header and all."""

from __future__ import annotations

import os
import socket
import time
from types import SimpleNamespace

import pytest
from aiortc import RTCPeerConnection, RTCRtpCodecParameters
from aiortc.rtp import RtcpReceiverInfo, RtpPacket
from pylibsrtp import Policy, Session

from media.forwarding import Counters, Outlet
from media.wire import (
    LAST_REPORT,
    LAST_REPORT_AT,
    NTP_TIMESTAMP,
    PACKET_COUNT,
    REPORT_EVERY,
    IdleTrack,
    SeamMissing,
    Wire,
    attach,
    round_trip,
    wire_for,
)


@pytest.fixture
def sockets() -> object:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.setblocking(False)
    yield sender, receiver
    sender.close()
    receiver.close()


def sessions() -> tuple[Session, Session]:
    key = os.urandom(30)
    outbound = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    inbound = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND))
    return outbound, inbound


def test_a_sent_packet_decrypts_to_the_header_and_payload_given(sockets: object) -> None:
    sender, receiver = sockets  # type: ignore[misc]
    outbound, inbound = sessions()
    counters = Counters()
    wire = Wire(sender.sendto, receiver.getsockname(), outbound, 0x11223344, 96, counters)
    payload = os.urandom(1100)
    wire.send(65_535, 0xFFFFFFFF, 1, payload, 0)
    wire.send(0, 3000, 0, b"\x10\x00", 4)  # padded
    first = RtpPacket.parse(inbound.unprotect(receiver.recv(2048)))
    second = RtpPacket.parse(inbound.unprotect(receiver.recv(2048)))
    assert (first.sequence_number, first.timestamp, first.marker) == (65_535, 0xFFFFFFFF, 1)
    assert (first.payload_type, first.ssrc, first.payload) == (96, 0x11223344, payload)
    assert (second.sequence_number, second.marker, second.payload) == (0, 0, b"\x10\x00")
    assert second.padding_size == 4
    assert (counters.packets_forwarded, counters.bytes_forwarded) == (2, 1102)


def test_a_packet_too_big_or_a_closed_socket_is_dropped_not_raised(sockets: object) -> None:
    sender, receiver = sockets  # type: ignore[misc]
    outbound, _ = sessions()
    counters = Counters()
    wire = Wire(sender.sendto, receiver.getsockname(), outbound, 1, 96, counters)
    wire.send(1, 1, 1, bytes(1900), 0)
    assert counters.packets_dropped == 1
    sender.close()
    wire.send(2, 2, 1, b"x", 0)  # the viewer's connection went away
    assert wire.closed and counters.packets_forwarded == 0
    wire.send(3, 3, 1, b"x", 0)
    assert counters.packets_dropped == 2


async def test_attach_needs_aiortcs_sender_internals_and_keeps_its_reports_true(
    sockets: object,
) -> None:
    sender_socket, receiver = sockets  # type: ignore[misc]
    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver(IdleTrack("video"), direction="sendonly")
        sender = transceiver.sender
        outlet = Outlet("video", Counters())
        attach(sender, outlet, outlet.counters)  # raises SeamMissing if aiortc moved
        assert sender._send_keyframe == outlet.request_keyframe
        outbound, _ = sessions()
        wire = Wire(
            sender_socket.sendto, receiver.getsockname(), outbound, 1, 96, Counters(), sender
        )
        for seq in range(REPORT_EVERY):
            wire.send(seq, 3000 * seq, 1, b"\x10\x00", 0)
        assert getattr(sender, PACKET_COUNT) == REPORT_EVERY and getattr(sender, NTP_TIMESTAMP)
    finally:
        await pc.close()
    with pytest.raises(SeamMissing):
        attach(object(), outlet, outlet.counters)  # type: ignore[arg-type]


class RelayTransport:
    """Stands in for aioice's TURN transport: no socket of its own, a sendto that wraps."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((bytes(data), addr))


def test_a_turn_relayed_viewer_is_sent_to_through_the_relay() -> None:
    outbound, inbound = sessions()
    relay = RelayTransport()
    pair = SimpleNamespace(
        protocol=SimpleNamespace(transport=relay), remote_addr=("10.0.0.9", 4000)
    )
    ice = SimpleNamespace(_connection=SimpleNamespace(_nominated={1: pair}))
    sender = SimpleNamespace(transport=SimpleNamespace(_tx_srtp=outbound, transport=ice), _ssrc=7)
    opus = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, payloadType=111)
    parameters = SimpleNamespace(codecs=[opus])
    wire = wire_for(sender, parameters, Counters())  # type: ignore[arg-type]
    wire.send(1, 960, 1, b"opus", 0)
    ((data, addr),) = relay.sent
    packet = RtpPacket.parse(inbound.unprotect(data))
    assert addr == ("10.0.0.9", 4000) and (packet.payload_type, packet.ssrc) == (111, 7)


def test_a_wire_sends_opus_or_red_by_their_negotiated_types_whichever_came_first() -> None:
    outbound, inbound = sessions()
    relay = RelayTransport()
    pair = SimpleNamespace(protocol=SimpleNamespace(transport=relay), remote_addr=("10.0.0.9", 1))
    ice = SimpleNamespace(_connection=SimpleNamespace(_nominated={1: pair}))
    sender = SimpleNamespace(transport=SimpleNamespace(_tx_srtp=outbound, transport=ice), _ssrc=7)
    red = RTCRtpCodecParameters(mimeType="audio/red", clockRate=48000, payloadType=63)
    opus = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, payloadType=111)
    wire = wire_for(sender, SimpleNamespace(codecs=[red, opus]), Counters())  # type: ignore[arg-type]
    assert (wire.payload_type, wire.red_type) == (111, 63)
    wire.send(1, 960, 0, b"opus", 0)
    wire.send(2, 1920, 0, b"red", 0, wire.red_type)
    types = [RtpPacket.parse(inbound.unprotect(data)).payload_type for data, _ in relay.sent]
    assert types == [111, 63]
    plain = wire_for(sender, SimpleNamespace(codecs=[opus]), Counters())  # type: ignore[arg-type]
    assert plain.red_type == -1


async def test_a_report_block_that_echoes_our_last_sender_report_tells_the_round_trip() -> None:
    pc = RTCPeerConnection()
    try:
        sender = pc.addTransceiver(IdleTrack("video"), direction="sendonly").sender
        assert round_trip(sender, RtcpReceiverInfo(1, 0, 0, 0, 0, 0, 0)) is None  # none sent
        setattr(sender, LAST_REPORT, 0x12345678)
        setattr(sender, LAST_REPORT_AT, time.time() - 0.3)
        held = RtcpReceiverInfo(1, 0, 0, 0, 0, lsr=0x12345678, dlsr=65536 // 10)  # 0.1 s
        trip = round_trip(sender, held)
        assert trip is not None and 0.19 < trip < 0.25
        older = RtcpReceiverInfo(1, 0, 0, 0, 0, lsr=0x11111111, dlsr=0)
        assert round_trip(sender, older) is None  # not our last one: its time is gone
        # The report before ours, with the same NTP time (held 0.8 s since it came): the
        # count would start from the wrong report.
        same = RtcpReceiverInfo(1, 0, 0, 0, 0, lsr=0x12345678, dlsr=65536 * 8 // 10)
        assert round_trip(sender, same) is None
    finally:
        await pc.close()
