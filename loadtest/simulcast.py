"""A camera published in simulcast, as Chromium sends it (RFC 8851, RFC 8853).

One video m-line, offered with ``a=rid:<rid> send`` per layer, ``a=simulcast:send
q;h;f`` (smallest first), the rtp-stream-id header extension and no ``a=ssrc`` line;
each layer is an RTP stream of its own SSRC whose every packet carries the mid and
its rid, so the receiver learns which SSRC is which layer from the packets. The
answer takes the layers it lists in ``a=simulcast:recv``; an answer without it takes
the first encoding only, on which the full-size clip is then sent (without a rid).

aiortc knows none of this: it negotiates the m-line (``SimulcastSender.offer`` and
``.answer`` add and read what its descriptions lack) and its ``RTCRtpSender`` is
kept for what it does well, the RTCP: its loop's sender reports (about once a
second) become one per layer, and the PLIs, FIRs and NACKs its DTLS transport
routes to it by SSRC go to the layer they name. The layers' frames, taken from the
pre-encoded clips as ``ClipTrack`` does, are packetized and sent here, paced by one
capture clock: frame ``n`` of every layer has the same RTP time offset from that
layer's random origin, and sender reports map every layer to the same NTP times.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import re
import time
from collections.abc import Sequence
from typing import Any

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender, RTCRtpTransceiver
from aiortc.clock import current_ntp_time
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import (
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
    RTCRtpSendParameters,
)
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RTP_HISTORY_SIZE,
    AnyRtcpPacket,
    HeaderExtensionsMap,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    RtpPacket,
)
from aiortc.utils import random32, uint16_add, uint32_add

from loadtest.clip import VIDEO_CLOCK, Clip, Playhead, SimulcastClip

log = logging.getLogger("loadtest.simulcast")

MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
RTP_STREAM_ID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
#: One-byte header extension ids (RFC 8285): 1 to 14.
EXTENSION_IDS = range(1, 15)

# --- The private parts of aiortc 1.16 (pinned) this module uses, and only here: the load
# tool is a test client, and the server's own seams (media.seams) are not its business.
#
# - RTCDtlsTransport._send_rtp(data): SRTP- or SRTCP-protects one packet and sends it;
# - RTCDtlsTransport._rtp_router.register_sender(sender, ssrc): RTCP about ``ssrc``
#   (feedback, report blocks) goes to ``sender._handle_rtcp_packet``;
# - RTCRtpSender._handle_rtcp_packet and ._send_rtcp: replaced on the instance (aiortc
#   calls them on it), as are the public send() and stop();
# - RTCRtpSender._ssrc and ._rtx_ssrc: the SSRCs aiortc would send with (no layer's);
# - Vp8Encoder._packetize(frame, picture_id): an encoded frame as RTP payloads (RFC 7741).


async def _send_rtp(transport: RTCDtlsTransport, data: bytes) -> None:
    await transport._send_rtp(data)


def _route_rtcp_to(sender: RTCRtpSender, ssrc: int) -> None:
    sender.transport._rtp_router.register_sender(sender, ssrc)


def _vp8_payloads(frame: bytes, picture_id: int) -> list[bytes]:
    return Vp8Encoder._packetize(frame, picture_id)


# --- Session descriptions.


def _sections(sdp: str) -> tuple[list[str], list[list[str]]]:
    """The session's lines and each m-section's lines."""
    session: list[str] = []
    sections: list[list[str]] = []
    for line in sdp.splitlines():
        if line.startswith("m="):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
        elif line:
            session.append(line)
    return session, sections


def _join(session: list[str], sections: list[list[str]]) -> str:
    lines = session + [line for section in sections for line in section]
    return "\r\n".join(line for line in lines if line) + "\r\n"


def _section_of(sections: list[list[str]], mid: str) -> list[str]:
    for section in sections:
        if f"a=mid:{mid}" in section:
            return section
    raise ValueError(f"the description has no m-line of mid {mid}")


_EXTMAP = re.compile(r"a=extmap:(\d+)(?:/\S+)? (\S+)")


def _extensions(section: list[str]) -> list[RTCRtpHeaderExtensionParameters]:
    found = []
    for line in section:
        if m := _EXTMAP.fullmatch(line.strip()):
            found.append(RTCRtpHeaderExtensionParameters(id=int(m.group(1)), uri=m.group(2)))
    return found


def offer_simulcast(sdp: str, mid: str, rids: Sequence[str]) -> str:
    """An offer whose m-line ``mid`` sends ``rids`` in simulcast, as Chromium writes it:
    ``a=rid:<rid> send`` lines, ``a=simulcast:send`` (in ``rids``' order), the
    rtp-stream-id extension (a free id, unless offered already) and no ``a=ssrc`` or
    ``a=ssrc-group`` line."""
    session, sections = _sections(sdp)
    section = _section_of(sections, mid)
    lines = [line for line in section if not line.startswith(("a=ssrc:", "a=ssrc-group:"))]
    extensions = _extensions(lines)
    if all(e.uri != RTP_STREAM_ID for e in extensions):
        # One id space across a BUNDLE group's m-lines (RFC 8285).
        used = {e.id for s in sections for e in _extensions(s)}
        free = next((i for i in EXTENSION_IDS if i not in used), None)
        if free is None:
            raise ValueError("no header extension id is free for rtp-stream-id")
        extmaps = [i for i, line in enumerate(lines) if line.startswith("a=extmap:")]
        at = extmaps[-1] + 1 if extmaps else len(lines)
        lines.insert(at, f"a=extmap:{free} {RTP_STREAM_ID}")
    lines += [f"a=rid:{rid} send" for rid in rids]
    lines.append("a=simulcast:send " + ";".join(rids))
    section[:] = lines
    return _join(session, sections)


@dataclasses.dataclass(frozen=True)
class Answered:
    """What an answer says of a simulcast m-line."""

    #: The layers it takes (``a=simulcast:recv``, paused ones left out), in its order.
    rids: tuple[str, ...]
    #: The header extensions it negotiates (aiortc keeps only those it offers itself).
    extensions: tuple[RTCRtpHeaderExtensionParameters, ...]

    @property
    def stream_ids(self) -> bool:
        """The rtp-stream-id extension is negotiated: layers can be told apart."""
        return any(e.uri == RTP_STREAM_ID for e in self.extensions)


def read_answer(sdp: str, mid: str) -> Answered:
    """The layers an answer takes on m-line ``mid`` and its header extensions."""
    _, sections = _sections(sdp)
    section = _section_of(sections, mid)
    rids: list[str] = []
    for line in section:
        if line.startswith("a=simulcast:"):
            words = line[len("a=simulcast:") :].split()
            for direction, streams in zip(words[::2], words[1::2], strict=False):
                if direction == "recv":
                    first = (s.split(",")[0] for s in streams.split(";"))
                    rids = [r for r in first if r and not r.startswith("~")]
    return Answered(tuple(rids), tuple(_extensions(section)))


# --- Sending.


class _IdleTrack(MediaStreamTrack):
    """The aiortc sender's own track: nothing to send (the layers are sent beside it)."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def recv(self) -> Any:
        if self.readyState == "live":
            await asyncio.shield(self._ended)
        raise MediaStreamError

    def stop(self) -> None:
        if not self._ended.done():
            self._ended.set_result(None)
        super().stop()


class Layer:
    """One simulcast layer: its clip, its SSRC and what it sent."""

    def __init__(self, rid: str | None, clip: Clip, ssrc: int) -> None:
        self.rid = rid  # None: the only stream of an answer that took no simulcast
        self.clip = clip
        self.ssrc = ssrc
        self.playhead = Playhead(clip)
        self.sequence_number = random_sequence_number()
        self.timestamp_origin = random32()
        self.picture_id = random.randrange(1 << 15)
        self.frames_sent = 0
        self.packets_sent = 0
        self.octets_sent = 0  # payload bytes, as sender reports count them
        self.history: dict[int, tuple[int, bytes]] = {}  # seq % size -> (seq, packet)

    @property
    def keyframe_requests(self) -> int:
        return self.playhead.keyframe_requests

    def __repr__(self) -> str:
        return f"Layer(rid={self.rid!r}, ssrc={self.ssrc}, frames_sent={self.frames_sent})"


class SimulcastSender:
    """Sends a ``SimulcastClip`` on a send-only video m-line of ``pc``.

    Before the offer is sent, ``offer(sdp)`` writes the layers into it; before the
    answer is applied, ``answer(sdp)`` reads which ones it takes. ``frames_sent``
    counts capture times sent (each in every layer), like ``ClipTrack.frames_sent``.
    """

    def __init__(self, pc: RTCPeerConnection, clip: SimulcastClip) -> None:
        self.clip = clip
        self.transceiver: RTCRtpTransceiver = pc.addTransceiver(_IdleTrack(), direction="sendonly")
        self.sender: RTCRtpSender = self.transceiver.sender
        self.layers: list[Layer] = []  # those the answer took, once the sender starts
        #: Layers not sent for now, by rid (as a browser drops its top layers when its
        #: uplink or processor cannot carry them).
        self.paused: set[str | None] = set()
        self.frames_sent = 0
        self._answered: Answered | None = None
        self._mid: str | None = None
        self._payload_type = 0
        self._extensions = HeaderExtensionsMap()
        self._by_ssrc: dict[int, Layer] = {}
        self._started_at: float | None = None  # the capture clock's start (monotonic)
        self._task: asyncio.Task[None] | None = None
        self._hook(self.sender)

    @property
    def keyframe_requests(self) -> int:
        return sum(layer.keyframe_requests for layer in self.layers)

    def offer(self, sdp: str) -> str:
        """The offer (after ``setLocalDescription``) with this m-line sending the layers."""
        mid = self.transceiver.mid
        if mid is None:
            raise ValueError("no mid yet: set the local description first")
        return offer_simulcast(sdp, mid, self.clip.rids)

    def answer(self, sdp: str) -> None:
        """Read the answer (call before applying it: the sender starts then)."""
        mid = self.transceiver.mid
        if mid is None:
            raise ValueError("no mid yet: set the local description first")
        self._answered = read_answer(sdp, mid)

    def _hook(self, sender: RTCRtpSender) -> None:
        start, stop = sender.send, sender.stop
        handle_rtcp, send_rtcp = sender._handle_rtcp_packet, sender._send_rtcp

        async def send(parameters: RTCRtpSendParameters) -> None:
            await start(parameters)
            if self._task is None:
                self._begin(parameters)

        async def stop_sending() -> None:
            task, self._task = self._task, None
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await stop()

        async def handle_rtcp_packet(packet: AnyRtcpPacket) -> None:
            if not await self._feedback(packet):
                await handle_rtcp(packet)

        async def send_reports(packets: list[AnyRtcpPacket]) -> None:
            for compound in self._reports(packets):
                await send_rtcp(compound)

        # aiortc calls these on the instance: instance attributes win.
        sender.send = send  # type: ignore[method-assign]
        sender.stop = stop_sending  # type: ignore[method-assign]
        sender._handle_rtcp_packet = handle_rtcp_packet  # type: ignore[method-assign]
        sender._send_rtcp = send_reports  # type: ignore[method-assign]

    def _begin(self, parameters: RTCRtpSendParameters) -> None:
        """The sender started (DTLS is up): make the layers the answer took, send them."""
        codec = parameters.codecs[0]
        if codec.mimeType.lower() != "video/vp8" or codec.payloadType is None:
            log.warning("simulcast clips are VP8, the answer chose %s: nothing sent", codec)
            return
        self._payload_type = codec.payloadType
        self._mid = parameters.muxId
        answered = self._answered or Answered((), tuple(parameters.headerExtensions))
        self._extensions.configure(RTCRtpParameters(headerExtensions=list(answered.extensions)))
        taken = answered.rids if answered.stream_ids else ()
        ssrcs = self._new_ssrcs(len(self.clip.clips))
        if any(rid in self.clip.rids for rid in taken):
            layers = zip(self.clip.rids, self.clip.clips, ssrcs, strict=True)
            self.layers = [Layer(rid, clip, ssrc) for rid, clip, ssrc in layers if rid in taken]
        else:  # webrtc-pc keeps the first encoding; it carries the full-size clip
            self.layers = [Layer(None, self.clip.full, ssrcs[0])]
        self._by_ssrc = {layer.ssrc: layer for layer in self.layers}
        for layer in self.layers:
            _route_rtcp_to(self.sender, layer.ssrc)
        self._task = asyncio.ensure_future(self._run())

    def _new_ssrcs(self, count: int) -> list[int]:
        taken = {self.sender._ssrc, self.sender._rtx_ssrc}
        ssrcs: list[int] = []
        while len(ssrcs) < count:
            ssrc = random32()
            if ssrc and ssrc not in taken:
                taken.add(ssrc)
                ssrcs.append(ssrc)
        return ssrcs

    def _rtp_offset(self, at: float) -> int:
        """The RTP time of the capture clock at ``at`` (monotonic), from any origin."""
        assert self._started_at is not None
        return round((at - self._started_at) * VIDEO_CLOCK)

    async def _run(self) -> None:
        """Send every layer's next frame at each capture time, paced in real time."""
        self._started_at = start = time.monotonic()
        step = VIDEO_CLOCK / self.clip.rate
        transport = self.sender.transport
        try:
            while True:
                delay = start + self.frames_sent / self.clip.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                offset = round(self.frames_sent * step)
                for layer in self.layers:
                    if layer.rid not in self.paused:
                        await self._send_frame(transport, layer, offset)
                self.frames_sent += 1
        except ConnectionError:  # the connection is gone: nothing more to send
            pass
        except Exception:
            log.exception("simulcast sending stopped")

    async def _send_frame(self, transport: RTCDtlsTransport, layer: Layer, offset: int) -> None:
        frame = layer.playhead.next_frame()
        payloads = _vp8_payloads(frame.data, layer.picture_id)
        layer.picture_id = (layer.picture_id + 1) % (1 << 15)
        timestamp = uint32_add(layer.timestamp_origin, offset)
        for i, payload in enumerate(payloads):
            packet = RtpPacket(
                payload_type=self._payload_type,
                marker=int(i == len(payloads) - 1),
                sequence_number=layer.sequence_number,
                timestamp=timestamp,
                ssrc=layer.ssrc,
                payload=payload,
            )
            # Only what the answer negotiated is written (the map has the ids).
            packet.extensions.mid = self._mid
            packet.extensions.rtp_stream_id = layer.rid
            packet.extensions.abs_send_time = (current_ntp_time() >> 14) & 0x00FFFFFF
            data = packet.serialize(self._extensions)
            layer.history[layer.sequence_number % RTP_HISTORY_SIZE] = (
                layer.sequence_number,
                data,
            )
            await _send_rtp(transport, data)
            layer.sequence_number = uint16_add(layer.sequence_number, 1)
            layer.packets_sent += 1
            layer.octets_sent += len(payload)
        layer.frames_sent += 1

    async def _feedback(self, packet: AnyRtcpPacket) -> bool:
        """Act on feedback about a layer: True if it was about one."""
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            ssrcs = {packet.media_ssrc}
            if packet.fmt == RTCP_PSFB_FIR:  # RFC 5104 4.3.1: the SSRCs are in the FCI
                fci = packet.fci
                ssrcs |= {int.from_bytes(fci[i : i + 4], "big") for i in range(0, len(fci) - 7, 8)}
            layers = [self._by_ssrc[s] for s in ssrcs if s in self._by_ssrc]
            for layer in layers:
                layer.playhead.request_keyframe()
            return bool(layers)
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            nacked = self._by_ssrc.get(packet.media_ssrc)
            if nacked is None:
                return False
            # Resent as it was, on the layer's own SSRC (RFC 4585 generic NACK).
            for seq in packet.lost:
                kept = nacked.history.get(seq % RTP_HISTORY_SIZE)
                if kept is not None and kept[0] == seq:
                    with contextlib.suppress(ConnectionError):
                        await _send_rtp(self.sender.transport, kept[1])
            return True
        return False

    def _reports(self, packets: list[AnyRtcpPacket]) -> list[list[AnyRtcpPacket]]:
        """What aiortc's RTCP loop sends about its own SSRC, which sends nothing, made
        about the layers instead: a sender report and SDES per layer that sent, each
        from the one capture clock; BYE for them all."""
        sent = [layer for layer in self.layers if layer.packets_sent]
        compounds: list[list[AnyRtcpPacket]] = []
        for packet in packets:
            if isinstance(packet, RtcpSrPacket) and sent and self._started_at is not None:
                ntp, offset = current_ntp_time(), self._rtp_offset(time.monotonic())
                cname = next(
                    (c.items for p in packets if isinstance(p, RtcpSdesPacket) for c in p.chunks),
                    [],
                )
                for layer in sent:
                    info = RtcpSenderInfo(
                        ntp_timestamp=ntp,
                        rtp_timestamp=uint32_add(layer.timestamp_origin, offset),
                        packet_count=layer.packets_sent & 0xFFFFFFFF,
                        octet_count=layer.octets_sent & 0xFFFFFFFF,
                    )
                    compound: list[AnyRtcpPacket] = [
                        RtcpSrPacket(ssrc=layer.ssrc, sender_info=info)
                    ]
                    if cname:
                        compound.append(RtcpSdesPacket([RtcpSourceInfo(layer.ssrc, cname)]))
                    compounds.append(compound)
            elif isinstance(packet, RtcpByePacket) and sent:
                compounds.append([RtcpByePacket(sources=[layer.ssrc for layer in sent])])
        return compounds
