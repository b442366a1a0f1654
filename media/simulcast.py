"""Receiving a simulcast m-line without decoding: one publisher's layers told apart.

A browser sends a camera in simulcast as several RTP streams on one m-line, each a
layer of its own size and rate with its own SSRC, none of them named in the offer
(``a=rid`` lines name layers, not SSRCs: RFC 8851, RFC 8853). A stream is known by
the rtp-stream-id header extension its packets carry until the receiver's reports
acknowledge it; its retransmissions (RTX) by the repaired-rtp-stream-id. aiortc 1.16
reads both extensions (``media.seams.negotiate_stream_ids`` has them negotiated) but
routes a packet to an m-line only by an SSRC the offer named or a payload type no
other m-line uses, assembles one stream per receiver, and asks for lost packets
as if every packet were of one stream. So, at three seams of aiortc (``media.seams``):

- ``route_layers`` lets the DTLS transport route a packet of an SSRC it does not
  know by its mid header extension (as RFC 9143 says), and teaches each m-line's
  ``SimulcastFrames`` which SSRC carries which layer, and which RTX SSRC repairs it;
- ``SimulcastFrames`` replaces the receiver's jitter buffer: each layer's packets go
  to that layer's ``VideoFrames`` (``media.passthrough``), which forwards them and
  assembles its frames as for any video; packets of a stream not yet known are dropped
  (it is known from its first packet: every packet carries its rid until then);
- ``LayerNacks`` replaces the receiver's NACK generator: one sequence space per SSRC.

Each layer's sender reports go to that layer (``on_sender_report(layer, report)``), and
keyframes are asked of a layer by its own SSRC (``ssrc(layer)``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpreceiver import NackGenerator, RTCRtpReceiver
from aiortc.rtp import AnyRtcpPacket, RtcpSrPacket, RtpPacket

from media.codecs import Codec
from media.passthrough import Deliver, Forward, VideoFrames
from media.seams import JITTER_BUFFER, NACK_GENERATOR, RTX_SSRC, SeamMissing
from media.tracks import NTP_UNIX_OFFSET, SenderReport

#: Flag on a DTLS transport's RTP router whose routing ``route_layers`` extended.
_ROUTED = "_classroom_routes_layers"


class SimulcastFrames:
    """A simulcast m-line's jitter buffer: each layer's packets to its own ``VideoFrames``.

    ``rids`` are the layers in the order the client listed them (smallest first);
    ``sinks`` gives each its frames' and its packets' callbacks.
    """

    def __init__(self, codec: Codec, rids: Sequence[str], sinks: Sequence[tuple[Deliver, Forward]]):
        self.codec = codec
        self.rids = tuple(rids)
        self.layers = [VideoFrames(codec, deliver, forward) for deliver, forward in sinks]
        self._index = {rid: i for i, rid in enumerate(self.rids)}
        self._by_ssrc: dict[int, VideoFrames] = {}
        self._ssrc_of: dict[str, int] = {}  # rid -> the SSRC of its stream
        self.unknown = 0  # packets dropped: their stream had not said which layer it is

    @property
    def capacity(self) -> int:  # aiortc's JitterBuffer API
        return 0

    def ssrc(self, layer: int) -> int | None:
        """The SSRC a layer's stream has (None: not seen yet), for keyframe requests."""
        return self._ssrc_of.get(self.rids[layer]) if 0 <= layer < len(self.rids) else None

    def layer_of(self, ssrc: int) -> int | None:
        frames = self._by_ssrc.get(ssrc)
        return self.layers.index(frames) if frames is not None else None

    def learn(self, packet: RtpPacket, rtx: dict[int, int]) -> None:
        """A packet that names its stream: note which layer its SSRC carries, or which
        layer's stream it repairs (``rtx``: the receiver's RTX SSRC -> media SSRC)."""
        extensions = packet.extensions
        repaired = extensions.repaired_rtp_stream_id
        if repaired is not None:
            media = self._ssrc_of.get(repaired)
            if media is not None:
                rtx[packet.ssrc] = media
            return
        index = self._index.get(extensions.rtp_stream_id)
        if index is None:
            return
        rid = self.rids[index]
        old = self._ssrc_of.get(rid)
        if old != packet.ssrc:  # a new stream for this layer (the publisher restarted it)
            if old is not None:
                self._by_ssrc.pop(old, None)
            self._ssrc_of[rid] = packet.ssrc
            self._by_ssrc[packet.ssrc] = self.layers[index]

    def add(self, packet: RtpPacket) -> tuple[bool, None]:
        frames = self._by_ssrc.get(packet.ssrc)
        if frames is None:
            self.unknown += 1
            return False, None
        return frames.add(packet)


class LayerNacks:
    """aiortc's NACK generator, one per SSRC: what is missing is of the last packet's."""

    def __init__(self) -> None:
        self._generators: dict[int, NackGenerator] = {}
        self.missing: set[int] = set()

    def add(self, packet: RtpPacket) -> bool:
        generator = self._generators.get(packet.ssrc)
        if generator is None:
            generator = self._generators[packet.ssrc] = NackGenerator()
        missed = generator.add(packet)
        self.missing = generator.missing
        return missed


def keep_layers(
    receiver: RTCRtpReceiver,
    codec: Codec,
    rids: Sequence[str],
    sinks: Sequence[tuple[Deliver, Forward]],
    on_sender_report: Callable[[int, SenderReport], None] | None = None,
) -> SimulcastFrames:
    """Make the receiver of a simulcast m-line hand each layer on as ``keep_encoded``
    hands on one stream (call it before the answer is applied); ``route_layers`` must
    be called on its transport once the answer is."""
    for name in (JITTER_BUFFER, NACK_GENERATOR, RTX_SSRC):
        if not hasattr(receiver, name):
            raise SeamMissing(f"aiortc's RTCRtpReceiver has no {name}")
    frames = SimulcastFrames(codec, rids, sinks)
    setattr(receiver, JITTER_BUFFER, frames)
    setattr(receiver, NACK_GENERATOR, LayerNacks())
    if on_sender_report is not None:
        _watch_layer_reports(receiver, frames, on_sender_report)
    return frames


def route_layers(transport: RTCDtlsTransport) -> None:
    """Route the RTP of SSRCs no offer named by its mid header extension, and let each
    simulcast m-line learn its layers' SSRCs (idempotent; once per transport)."""
    router: Any = transport._rtp_router
    if getattr(router, _ROUTED, False):
        return
    route: Callable[[RtpPacket], Any] = router.route_rtp
    mids: dict[str, Any] = router.mid_table
    ssrcs: dict[int, Any] = router.ssrc_table

    def route_rtp(packet: RtpPacket) -> Any:
        receiver = route(packet)
        extensions = packet.extensions
        if receiver is None:
            mid = extensions.mid
            receiver = mids.get(mid) if mid is not None else None
            if receiver is None:
                return None
            ssrcs[packet.ssrc] = receiver
        if extensions.rtp_stream_id is not None or extensions.repaired_rtp_stream_id is not None:
            frames = getattr(receiver, JITTER_BUFFER, None)
            if isinstance(frames, SimulcastFrames):
                frames.learn(packet, getattr(receiver, RTX_SSRC))
        return receiver

    router.route_rtp = route_rtp
    setattr(router, _ROUTED, True)


def _watch_layer_reports(
    receiver: RTCRtpReceiver,
    frames: SimulcastFrames,
    report: Callable[[int, SenderReport], None],
) -> None:
    handle: Callable[[AnyRtcpPacket], Awaitable[None]] = receiver._handle_rtcp_packet

    async def handle_rtcp(packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpSrPacket):
            layer = frames.layer_of(packet.ssrc)
            unwrapper = frames.layers[layer].unwrapper if layer is not None else None
            if layer is not None and unwrapper is not None and unwrapper.origin is not None:
                info = packet.sender_info
                ntp = info.ntp_timestamp
                unix = (ntp >> 32) - NTP_UNIX_OFFSET + (ntp & 0xFFFFFFFF) / 2**32
                pts = unwrapper.peek(info.rtp_timestamp)
                report(
                    layer,
                    SenderReport(unix, rtp_timestamp=pts, wire_rtp_timestamp=info.rtp_timestamp),
                )
        await handle(packet)

    receiver._handle_rtcp_packet = handle_rtcp  # type: ignore[method-assign]
