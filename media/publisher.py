"""The connection a participant publishes on: the client offers, the server answers and receives."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Callable, Mapping

import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription
from aiortc import sdp as aiortc_sdp

from media.codecs import Codec, codec_named, offered_video_codecs
from media.description import (
    AIORTC_ERRORS,
    BadDescription,
    Description,
    accept_simulcast,
    opus_fullband,
    parse_description,
    reject_in_answer,
)
from media.forwarding import PublishedTrack
from media.ice import announce_public_ip
from media.passthrough import Frames, keep_encoded
from media.seams import negotiate_stream_ids
from media.simulcast import SimulcastFrames, keep_layers, route_layers
from media.tracks import AUDIO_CODEC, SOURCE_KINDS, VP8, SenderReport, codec_name

log = logging.getLogger("classroom.media")

negotiate_stream_ids()  # simulcast layers are told apart by them


@dataclasses.dataclass
class Inbound:
    """One m-line the participant publishes on: its receiver's frames go to ``target``."""

    mid: str | None
    kind: str
    codec: Codec
    transceiver: RTCRtpTransceiver
    source: str | None = None  # what it carries while the client sends on it
    #: The forwardable video codecs the client offered when the m-line was negotiated.
    offered: dict[str, Codec] = dataclasses.field(default_factory=dict)
    target: PublishedTrack | None = None
    frames: Frames | SimulcastFrames | None = None
    #: Its simulcast layers' rids, smallest first (none: one stream).
    rids: tuple[str, ...] = ()

    def deliver(self, packet: av.Packet) -> None:
        if self.target is not None:
            self.target.deliver(packet)

    def layer(self, index: int) -> PublishedTrack | None:
        """The track of one of its simulcast layers (0: the smallest)."""
        target = self.target
        if target is None or index >= len(target.layers):
            return None
        return target.layers[index]

    def deliver_layer(self, index: int, packet: av.Packet) -> None:
        layer = self.layer(index)
        if layer is not None:
            layer.deliver(packet)

    def forward_layer(
        self,
        index: int,
        seq: int,
        timestamp: int,
        marker: int,
        payload: bytes,
        padding: int,
        data: bytes,
    ) -> None:
        layer = self.layer(index)
        if layer is not None:
            layer.forward(seq, timestamp, marker, payload, padding, data)

    def viewer_loss(self) -> int:
        return self.target.take_viewer_loss() if self.target is not None else 0

    def forward(
        self, seq: int, timestamp: int, marker: int, payload: bytes, padding: int, data: bytes
    ) -> None:
        if self.target is not None:
            self.target.forward(seq, timestamp, marker, payload, padding, data)


class Publisher:
    """The connection a participant publishes on; the server answers the client's offers."""

    def __init__(
        self,
        pid: str,
        configuration: RTCConfiguration,
        public_ip: str,
        on_audio_level: Callable[[Inbound, int], None],
        on_sender_report: Callable[[Inbound, int, SenderReport], None],
        on_failed: Callable[[Publisher], None] | None = None,
    ) -> None:
        self.pid = pid
        self.pc = RTCPeerConnection(configuration)
        self.public_ip = public_ip
        self.inbound: list[Inbound] = []
        #: RTCP sender reports received so far: a publisher that sends anything sends
        #: these (about one a second per video stream, one in five for audio), so a
        #: count that stops moving means nothing arrives; read at leisure, never per packet.
        self.reports = 0
        self.closed = False  # by close(), not by the connection dying
        self._on_audio_level = on_audio_level
        self._on_sender_report = on_sender_report
        self._on_failed = on_failed
        self._tasks: set[asyncio.Task[None]] = set()
        self.pc.on("connectionstatechange", self._state_changed)

    def _state_changed(self) -> None:
        # ICE never connected ("failed"), or its consent expired: aioice closes the
        # connection when six consent checks in a row went unanswered (about 30 s),
        # and aiortc then closes the whole peer connection ("closed", or "failed"
        # first), which nobody here asked for.
        state = self.pc.connectionState
        log.info(
            "publish connection of %s %s (ice %s)",
            self.pid,
            state,
            self.pc.iceConnectionState,
            extra={"participant": self.pid},
        )
        if state in ("failed", "closed") and not self.closed and self._on_failed is not None:
            self._on_failed(self)

    @property
    def sending(self) -> bool:
        """Whether the client is meant to send on any m-line now."""
        return any(inbound.source is not None for inbound in self.inbound)

    def _sender_report(self, inbound: Inbound, layer: int, report: SenderReport) -> None:
        self.reports += 1
        self._on_sender_report(inbound, layer, report)

    def by_mid(self, mid: str) -> Inbound | None:
        return next((i for i in self.inbound if i.mid == mid), None)

    def check(
        self,
        description: Description,
        sources: Mapping[str, str],
        choose_video: Callable[[dict[str, Codec]], Codec],
    ) -> list[tuple[aiortc_sdp.MediaDescription, str | None, Codec, dict[str, Codec]]]:
        """Each m-line with the source it carries (None: not sending), its codec and the
        forwardable video codecs it offers (none for audio). A rejected m-line sends
        nothing and keeps the codec it had (new: Opus or VP8), whatever it offers."""
        mids = {media.rtp.muxId for media in description.media}
        unknown = sorted(set(sources) - mids)
        if unknown:
            raise BadDescription(f"sources name m-lines the offer does not have: {unknown}")
        plan = []
        used: set[str] = set()
        for media in description.media:
            mid = media.rtp.muxId
            sending = description.sending(media)
            source = sources.get(mid) if sending else None
            if sending and source is None:
                raise BadDescription(f"m-line {mid} sends {media.kind} but names no source")
            if source is not None:
                if SOURCE_KINDS.get(source) != media.kind:
                    raise BadDescription(f"{source} is not {media.kind} (m-line {mid})")
                if source in used:
                    raise BadDescription(f"{source} is published twice")
                used.add(source)
            existing = self.by_mid(mid)
            if existing is not None and existing.kind != media.kind:
                raise BadDescription(f"m-line {mid} changed from {existing.kind} to {media.kind}")
            offered = [(c.name, dict(c.parameters)) for c in media.rtp.codecs]
            video: dict[str, Codec] = {}
            if description.rejected(media):
                default = AUDIO_CODEC if media.kind == "audio" else VP8
                codec = existing.codec if existing else codec_named(default)
            elif media.kind == "audio":
                if not any(codec_name(name) == AUDIO_CODEC for name, _ in offered):
                    raise BadDescription(f"m-line {mid} does not offer Opus")
                codec = existing.codec if existing else codec_named(AUDIO_CODEC)
            else:
                video = offered_video_codecs(offered)
                if existing is not None:
                    if existing.codec.name not in video:
                        raise BadDescription(f"m-line {mid} no longer offers {existing.codec.name}")
                    codec = existing.codec
                else:
                    try:
                        codec = choose_video(video)
                    except ValueError as error:
                        raise BadDescription(f"m-line {mid}: {error}") from None
            plan.append((media, source, codec, video))
        return plan

    async def negotiate(
        self,
        sdp: str,
        sources: Mapping[str, str],
        choose_video: Callable[[dict[str, Codec]], Codec],
    ) -> str:
        """Apply the client's offer and return the answer; raises BadDescription."""
        description = parse_description(sdp)
        plan = self.check(description, sources, choose_video)
        # New m-lines get a transceiver prepared before the offer is applied (aiortc
        # takes the first unused one of the kind, in order) so that it negotiates
        # the chosen codec only and never decodes, even for its first packet.
        fresh: list[Inbound] = []
        for media, _, codec, video in plan:
            if self.by_mid(media.rtp.muxId) is None:
                transceiver = self.pc.addTransceiver(media.kind, direction="recvonly")
                transceiver.setCodecPreferences(codec.preferences())
                inbound = Inbound(None, media.kind, codec, transceiver, offered=video)
                rids = description.simulcast.get(media.rtp.muxId, ())
                if rids and not description.rejected(media):
                    inbound.rids = rids
                    inbound.frames = keep_layers(
                        transceiver.receiver,
                        codec,
                        rids,
                        [
                            (
                                functools.partial(inbound.deliver_layer, i),
                                functools.partial(inbound.forward_layer, i),
                            )
                            for i in range(len(rids))
                        ],
                        on_sender_report=functools.partial(self._sender_report, inbound),
                    )
                else:
                    inbound.frames = keep_encoded(
                        transceiver.receiver,
                        codec,
                        inbound.deliver,
                        forward=inbound.forward,
                        on_audio_level=functools.partial(self._on_audio_level, inbound),
                        on_sender_report=functools.partial(self._sender_report, inbound, 0),
                        viewer_loss=inbound.viewer_loss if media.kind == "audio" else None,
                    )
                fresh.append(inbound)
        codecs = {media.rtp.muxId: codec for media, _, codec, _ in plan}
        applicable = description.for_aiortc(sdp, lambda media: codecs[media.rtp.muxId])
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(applicable, "offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        except AIORTC_ERRORS as error:
            raise BadDescription(f"the offer cannot be applied: {error}") from None
        for inbound in fresh:
            inbound.mid = inbound.transceiver.mid
            self.inbound.append(inbound)
            if inbound.rids:
                route_layers(inbound.transceiver.receiver.transport)
        for media, source, _, _ in plan:
            found = self.by_mid(media.rtp.muxId)
            if found is not None:
                found.source = source
        answer = reject_in_answer(self.pc.localDescription.sdp, description.rejected_mids)
        layered = {
            i.mid: i.rids
            for i in self.inbound
            if i.rids and i.mid is not None and i.mid not in description.rejected_mids
        }
        answer = accept_simulcast(answer, layered)
        return announce_public_ip(opus_fullband(answer), self.public_ip)

    def send_pli(self, inbound: Inbound, layer: int = 0) -> None:
        """Ask the publisher for a keyframe on this m-line (RTCP PLI), of one of its
        simulcast layers."""
        frames = inbound.frames
        if isinstance(frames, SimulcastFrames):
            ssrc = frames.ssrc(layer)
        else:
            ssrc = frames.ssrc if frames is not None else None
        if ssrc is None:
            return
        task = asyncio.get_running_loop().create_task(
            inbound.transceiver.receiver._send_rtcp_pli(ssrc)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self.closed = True
        for inbound in self.inbound:
            inbound.target = None
        await self.pc.close()
