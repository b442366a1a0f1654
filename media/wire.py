"""Sending forwarded RTP on a viewer's connection: a 12-byte header, SRTP, one ``sendto``.

aiortc's ``RTCRtpSender`` would take every forwarded frame as an encoded frame:
packetize it again, build and serialize an ``RtpPacket`` with header extensions,
keep it for retransmission and await the DTLS transport, the ICE connection and
the datagram transport in turn, one coroutine chain per packet and viewer (most
of the forwarding time, profiled in BENCHMARKS.md). A ``Wire`` writes the header
of a forwarded packet and its payload into one buffer, encrypts it in place with
the connection's SRTP session (libsrtp, through pylibsrtp's binding) and hands it
to the socket of the nominated ICE candidate pair (through aioice when the pair is
a TURN relay). A full socket buffer drops the packet (UDP), it never queues.

The m-line itself is still negotiated and served by aiortc: ``attach`` gives the
sender an ``IdleTrack`` (it has nothing of its own to send), makes the wire when
the sender starts (the DTLS handshake is done by then), answers the viewer's
NACKs from the outlet's source, passes PLI/FIR and the loss in the viewer's receiver
reports on, and keeps the sender's RTCP
sender reports true to what the wire sent (packet and octet counts) and to the
publisher's capture clock (``sync``: an NTP and RTP time pair the outlet mapped
from the publisher's sender report), else to the newest RTP time sent with the
time it was sent. Those are private parts of aiortc 1.16,
pylibsrtp and aioice, which are pinned; ``media.seams`` checks them all when the
server starts, and tests/media/test_wire.py fails if they move.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from aiortc import MediaStreamTrack, RTCRtpSender
from aiortc.clock import current_ntp_time
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtp import AnyRtcpPacket, RtcpReceiverInfo, RtcpRrPacket, RtcpSrPacket
from pylibsrtp._binding import ffi, lib

from media.forwarding import Counters, Outlet
from media.redundancy import RED
from media.seams import (
    LAST_REPORT,
    LAST_REPORT_AT,
    NTP_TIMESTAMP,
    OCTET_COUNT,
    PACKET_COUNT,
    RTP_TIMESTAMP,
    SeamMissing,
)

log = logging.getLogger("classroom.media")

#: libsrtp appends at most this much (authentication tag and MKI).
SRTP_TRAILER = 16 + 128
BUFFER = 2048
#: The wire's figures go to the sender's RTCP sender report every this many packets.
REPORT_EVERY = 32

_HEADER = struct.Struct("!BBHII")


class Wire:
    """Sends RTP with one SSRC and payload type on one viewer's connection."""

    def __init__(
        self,
        sendto: Callable[[Any, tuple[Any, ...]], Any],
        address: tuple[Any, ...],
        session: Any,
        ssrc: int,
        payload_type: int,
        counters: Counters,
        sender: RTCRtpSender | None = None,
        red_type: int = -1,
    ) -> None:
        self.sock_sendto = sendto
        self.address = address
        self.session = session  # pylibsrtp's Session: keeps the libsrtp context alive
        self.srtp = session._srtp[0]  # that context (srtp_t)
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.red_type = red_type  # the ``red`` codec's, when negotiated (else -1)
        self.counters = counters
        self.sender = sender
        self.cdata = ffi.new("char[]", BUFFER)
        self.buffer = ffi.buffer(self.cdata)
        self.view = memoryview(self.buffer)
        self.length = ffi.new("int *")
        self.packets = 0  # sent, for sender reports
        self.octets = 0  # payload bytes sent
        self.synced = False  # the sender reports' times come from ``sync``
        self.closed = False

    def send(
        self,
        seq: int,
        timestamp: int,
        marker: int,
        payload: bytes,
        padding: int,
        payload_type: int = -1,
    ) -> None:
        if payload_type < 0:
            payload_type = self.payload_type
        size = len(payload)
        end = 12 + size + padding
        if end > BUFFER - SRTP_TRAILER or self.closed:
            self.counters.packets_dropped += 1
            return
        buffer = self.buffer
        _HEADER.pack_into(
            buffer,
            0,
            0xA0 if padding else 0x80,
            payload_type | 0x80 if marker else payload_type,
            seq,
            timestamp,
            self.ssrc,
        )
        buffer[12 : 12 + size] = payload
        if padding:  # RFC 3550 5.1: zeros, then the count of padding bytes
            buffer[12 + size : end] = bytes(padding - 1) + bytes((padding,))
        length = self.length
        length[0] = end
        if lib.srtp_protect(self.srtp, self.cdata, length):
            self.counters.packets_dropped += 1
            return
        try:
            self.sock_sendto(self.view[: length[0]], self.address)
        except (BlockingIOError, InterruptedError):  # the socket's buffer is full: lost
            self.counters.packets_dropped += 1
            return
        except OSError as error:  # the connection is gone
            log.info("viewer connection closed: %s", error)
            self.close()
            return
        counters = self.counters
        counters.packets_forwarded += 1
        counters.bytes_forwarded += size
        self.packets += 1
        self.octets += size
        if not self.packets % REPORT_EVERY:
            self.report(timestamp)

    def report(self, timestamp: int) -> None:
        """What was sent so far, for the sender's next RTCP sender report."""
        sender = self.sender
        if sender is not None:
            setattr(sender, PACKET_COUNT, self.packets)
            setattr(sender, OCTET_COUNT, self.octets)
            if not self.synced:
                setattr(sender, RTP_TIMESTAMP, timestamp)
                setattr(sender, NTP_TIMESTAMP, current_ntp_time())

    def sync(self, ntp: int, rtp: int) -> None:
        """Sender reports carry this pair: the publisher's capture clock in this viewer's
        RTP time (set per publisher sender report, not per packet)."""
        self.synced = True
        sender = self.sender
        if sender is not None:
            setattr(sender, RTP_TIMESTAMP, rtp)
            setattr(sender, NTP_TIMESTAMP, ntp)

    def unsync(self) -> None:
        """Sender reports go back to the newest RTP time sent and when (from the next
        ``report``)."""
        self.synced = False

    def close(self) -> None:
        self.closed = True


class IdleTrack(MediaStreamTrack):
    """What an attached sender "sends": nothing, until it is stopped (the wire sends)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def recv(self) -> Any:
        if self.readyState == "live":
            await asyncio.shield(self._ended)
        raise MediaStreamError

    def stop(self) -> None:
        if not self._ended.done():
            self._ended.set_result(None)
        super().stop()


def attach(
    sender: RTCRtpSender,
    outlet: Outlet,
    counters: Counters,
    on_report: Callable[[RtcpReceiverInfo, float | None], None] | None = None,
) -> None:
    """Let ``outlet`` send on this sender's m-line (call before the sender starts).

    The sender's track must be an ``IdleTrack``. The outlet gets its wire when the
    sender starts and loses it when the sender stops. ``on_report`` gets each report
    block of the viewer about this m-line (its loss, for the viewer's video budget), with
    the round trip it tells (seconds; None when it echoes no sender report of ours, or
    an older one).
    """
    for name in (PACKET_COUNT, OCTET_COUNT, RTP_TIMESTAMP, NTP_TIMESTAMP, LAST_REPORT):
        if not hasattr(sender, name):
            raise SeamMissing(f"aiortc's RTCRtpSender has no {name}")
    start, stop = sender.send, sender.stop

    async def send(parameters: RTCRtpSendParameters) -> None:
        await start(parameters)
        if outlet.wire is None:
            try:
                outlet.connect(wire_for(sender, parameters, counters))
            except (SeamMissing, ConnectionError):
                log.exception("cannot forward on this connection")

    async def stop_sending() -> None:
        wire = outlet.wire
        outlet.connect(None)
        if isinstance(wire, Wire):
            wire.close()
        await stop()

    async def retransmit(seq: int) -> None:
        outlet.resend(seq)

    handle_rtcp = sender._handle_rtcp_packet

    async def handle_rtcp_packet(packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpRrPacket | RtcpSrPacket):  # the viewer's loss, per m-line
            for report in packet.reports:
                if report.ssrc == sender._ssrc:
                    outlet.viewer_reported(report.fraction_lost)
                    if on_report is not None:
                        on_report(report, round_trip(sender, report))
        await handle_rtcp(packet)

    # aiortc calls these on the instance (send/stop from the peer connection and
    # transceiver, the others for NACK and PLI/FIR): instance attributes win.
    sender.send = send  # type: ignore[method-assign]
    sender.stop = stop_sending  # type: ignore[method-assign]
    sender._retransmit = retransmit  # type: ignore[method-assign,assignment]
    sender._send_keyframe = outlet.request_keyframe  # type: ignore[method-assign]
    sender._handle_rtcp_packet = handle_rtcp_packet  # type: ignore[method-assign]


def round_trip(sender: RTCRtpSender, report: RtcpReceiverInfo) -> float | None:
    """The round trip a viewer's report block tells (RFC 3550 6.4.1): now, less when
    the sender report it echoes went, less the delay the viewer says it held it.

    aiortc keeps the time of its last sender report only, and ours repeat their NTP
    time (the publisher's capture clock, mapped, changes with the publisher's reports):
    a block that echoes the report before, with the same LSR, would count from the
    wrong one and come out shorter by the reports' interval (half a second or more),
    so below zero for any round trip shorter than that. Those are left out."""
    last, sent_at = getattr(sender, LAST_REPORT), getattr(sender, LAST_REPORT_AT)
    if sent_at is None or not report.lsr or report.lsr != last:
        return None
    trip: float = time.time() - sent_at - report.dlsr / 65536
    return trip if trip >= 0 else None


def wire_for(sender: RTCRtpSender, parameters: RTCRtpSendParameters, counters: Counters) -> Wire:
    """The wire of a started sender: its DTLS transport is connected by now."""
    dtls = sender.transport
    srtp = getattr(dtls, "_tx_srtp", None)
    connection = getattr(dtls.transport, "_connection", None)
    pairs = getattr(connection, "_nominated", None)
    if srtp is None or not isinstance(pairs, dict):
        raise SeamMissing("aiortc's DTLS transport has no _tx_srtp or aioice no _nominated")
    pair = pairs.get(1)
    if pair is None:
        raise ConnectionError("the viewer's ICE connection has no nominated pair")
    # The answer may list ``red`` (redundant audio, ``media.redundancy``) first.
    codecs = {codec.name.lower(): codec.payloadType for codec in parameters.codecs}
    media = [c for c in parameters.codecs if c.name.lower() not in (RED, "rtx")]
    payload_type = media[0].payloadType if media else None
    if payload_type is None:
        raise ConnectionError("the sender's codec has no payload type")
    red_type = codecs.get(RED)
    transport = pair.protocol.transport
    # A host or server-reflexive candidate: asyncio's datagram transport over a socket,
    # which is written to directly (a full buffer drops the packet instead of queueing
    # it). A TURN relay: aioice's transport, which wraps each packet for the server.
    sock = getattr(transport, "_sock", None)
    sendto = sock.sendto if isinstance(sock, socket.socket) else transport.sendto
    return Wire(
        sendto,
        pair.remote_addr,
        srtp,
        sender._ssrc,
        payload_type,
        counters,
        sender,
        -1 if red_type is None else red_type,
    )
