"""A participant's two peer connections: publish (client offers) and subscribe (server offers).

No trickle ICE: every description carries all its candidates (aiortc gathers
before ``setLocalDescription`` returns; the browser waits for gathering to end).
Descriptions from clients are checked before anything is applied, so a bad one
is refused with ``BadDescription`` and changes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription
from aiortc import sdp as aiortc_sdp
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError

from classroom.errors import ClassroomError, InvalidCommand
from media.codecs import (
    AUDIO_CODEC,
    SOURCE_KINDS,
    Codec,
    codec_named,
    offered_video_codecs,
)
from media.forwarding import Counters, PublishedTrack, SlotTrack
from media.ice import announce_public_ip
from media.packing import send_encoded
from media.passthrough import Frames, keep_encoded
from media.tap import SenderReport

log = logging.getLogger("classroom.media")

MAX_MEDIA_SECTIONS = 16
SENDING = ("sendonly", "sendrecv")
AIORTC_ERRORS = (ValueError, InternalError, InvalidAccessError, InvalidStateError, OperationError)


class BadDescription(ClassroomError):
    """A session description from a client is malformed or asks for what is not allowed."""

    code = "invalid"


def parse_description(sdp: str) -> aiortc_sdp.SessionDescription:
    """Parse and check what aiortc would otherwise refuse half-way through applying it."""
    try:
        description = aiortc_sdp.SessionDescription.parse(sdp)
    except Exception as error:  # the parser raises whatever its input provokes
        raise BadDescription(f"malformed SDP: {error or type(error).__name__}") from None
    if not description.media:
        raise BadDescription("malformed SDP: no media section")
    if len(description.media) > MAX_MEDIA_SECTIONS:
        raise BadDescription(f"at most {MAX_MEDIA_SECTIONS} media sections")
    mids = [media.rtp.muxId for media in description.media]
    if any(not mid for mid in mids) or len(set(mids)) != len(mids):
        raise BadDescription("malformed SDP: every media section needs its own a=mid")
    for media in description.media:
        if media.kind not in ("audio", "video"):
            raise BadDescription(f"only audio and video are accepted, not {media.kind}")
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise BadDescription("malformed SDP: ICE username fragment or password missing")
        if media.dtls is None or not media.dtls.fingerprints:
            raise BadDescription("malformed SDP: no DTLS fingerprint")
        if not media.rtcp_mux:
            raise BadDescription("malformed SDP: RTCP multiplexing (a=rtcp-mux) is required")
    return description


def sending(media: aiortc_sdp.MediaDescription) -> bool:
    return media.port != 0 and media.direction in SENDING


# --- publishing ---------------------------------------------------------------


@dataclasses.dataclass
class Inbound:
    """One m-line the participant publishes on: its receiver's frames go to ``target``."""

    mid: str | None
    kind: str
    codec: Codec
    transceiver: RTCRtpTransceiver
    source: str | None = None  # what it carries while the client sends on it
    target: PublishedTrack | None = None
    frames: Frames | None = None

    def deliver(self, packet: av.Packet) -> None:
        if self.target is not None:
            self.target.deliver(packet)


class Publisher:
    """The connection a participant publishes on; the server answers the client's offers."""

    def __init__(
        self,
        pid: str,
        configuration: RTCConfiguration,
        public_ip: str,
        on_audio_level: Callable[[Inbound, int], None],
        on_sender_report: Callable[[Inbound, SenderReport], None],
    ) -> None:
        self.pid = pid
        self.pc = RTCPeerConnection(configuration)
        self.public_ip = public_ip
        self.inbound: list[Inbound] = []
        self._on_audio_level = on_audio_level
        self._on_sender_report = on_sender_report
        self._tasks: set[asyncio.Task[None]] = set()

    def by_mid(self, mid: str) -> Inbound | None:
        return next((i for i in self.inbound if i.mid == mid), None)

    def check(
        self,
        description: aiortc_sdp.SessionDescription,
        sources: Mapping[str, str],
        choose_video: Callable[[dict[str, Codec]], Codec],
    ) -> list[tuple[aiortc_sdp.MediaDescription, str | None, Codec]]:
        """Each m-line with the source it carries (None: not sending) and its codec."""
        mids = {media.rtp.muxId for media in description.media}
        unknown = sorted(set(sources) - mids)
        if unknown:
            raise BadDescription(f"sources name m-lines the offer does not have: {unknown}")
        plan = []
        used: set[str] = set()
        for media in description.media:
            mid = media.rtp.muxId
            source = sources.get(mid) if sending(media) else None
            if sending(media) and source is None:
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
            if media.kind == "audio":
                if not any(name.lower() == AUDIO_CODEC for name, _ in offered):
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
            plan.append((media, source, codec))
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
        for media, _, codec in plan:
            if self.by_mid(media.rtp.muxId) is None:
                transceiver = self.pc.addTransceiver(media.kind, direction="recvonly")
                transceiver.setCodecPreferences(codec.preferences())
                inbound = Inbound(None, media.kind, codec, transceiver)
                inbound.frames = keep_encoded(
                    transceiver.receiver,
                    codec,
                    inbound.deliver,
                    on_audio_level=functools.partial(self._on_audio_level, inbound),
                    on_sender_report=functools.partial(self._on_sender_report, inbound),
                )
                fresh.append(inbound)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        except AIORTC_ERRORS as error:
            raise BadDescription(f"the offer cannot be applied: {error}") from None
        for inbound in fresh:
            inbound.mid = inbound.transceiver.mid
            self.inbound.append(inbound)
        for media, source, _ in plan:
            found = self.by_mid(media.rtp.muxId)
            if found is not None:
                found.source = source
        return announce_public_ip(self.pc.localDescription.sdp, self.public_ip)

    def send_pli(self, inbound: Inbound) -> None:
        """Ask the publisher for a keyframe on this m-line (RTCP PLI)."""
        ssrc = inbound.frames.ssrc if inbound.frames is not None else None
        if ssrc is None:
            return
        task = asyncio.get_running_loop().create_task(
            inbound.transceiver.receiver._send_rtcp_pli(ssrc)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for inbound in self.inbound:
            inbound.target = None
        await self.pc.close()


# --- subscribing --------------------------------------------------------------


@dataclasses.dataclass
class Slot:
    """One m-line of the subscribe connection and the track it sends."""

    track: SlotTrack
    codec: Codec
    transceiver: RTCRtpTransceiver | None = None
    answered: bool = False
    broken: bool = False  # the answer chose another codec: never used again

    @property
    def mid(self) -> str | None:
        return self.transceiver.mid if self.transceiver is not None else None

    @property
    def free(self) -> bool:
        return self.track.source is None and not self.broken


class Subscriber:
    """The connection a participant receives on; the server offers, renegotiating as
    slots are added. Re-binding a slot to another source needs no renegotiation,
    only a ``send_tracks`` update of which participant each m-line now shows."""

    def __init__(
        self,
        pid: str,
        codecs: frozenset[str],
        configuration: RTCConfiguration,
        public_ip: str,
        counters: Counters,
        send_offer: Callable[[str, dict[str, Any]], None],
        send_tracks: Callable[[dict[str, Any]], None],
    ) -> None:
        self.pid = pid
        self.codecs = codecs  # video codecs the client decodes
        self.configuration = configuration
        self.public_ip = public_ip
        self.counters = counters
        self.pc: RTCPeerConnection | None = None
        self.slots: list[Slot] = []
        self.awaiting_answer = False
        self.closed = False
        self.offers = 0
        self._send_offer = send_offer
        self._send_tracks = send_tracks
        self._sent: dict[str, Any] = {}  # what the client was last told it shows
        self._desired: list[PublishedTrack] = []
        self._task: asyncio.Task[None] | None = None

    def accepts(self, track: PublishedTrack) -> bool:
        return track.info.kind == "audio" or track.codec.name.upper() in self.codecs

    def assign(self, tracks: list[PublishedTrack]) -> None:
        """Forward exactly these tracks from now on (bindings are kept where possible)."""
        self._desired = [t for t in tracks if self.accepts(t)]
        wanted = {t.info.id for t in self._desired}
        for slot in self.slots:
            source = slot.track.source
            if source is not None and (source.info.id not in wanted or slot.broken):
                slot.track.bind(None)
        bound = {s.track.source.info.id for s in self.slots if s.track.source is not None}
        for track in self._desired:
            if track.info.id not in bound:
                self._free_slot(track).track.bind(track)
        self.schedule()  # tells the client when what it shows changed

    def _free_slot(self, track: PublishedTrack) -> Slot:
        codec = track.codec
        free = [s for s in self.slots if s.free and s.track.kind == track.info.kind]
        free = [s for s in free if s.codec.matches(codec)]
        if free:
            return min(free, key=lambda s: not s.answered)  # negotiated ones first
        slot = Slot(SlotTrack(track.info.kind, codec.name, self.counters), codec)
        self.slots.append(slot)
        return slot

    def tracks(self) -> dict[str, Any]:
        """Which participant's source each m-line shows now, for the client."""
        shown = {}
        for slot in self.slots:
            if slot.mid is not None and slot.track.source is not None:
                info = slot.track.source.info
                shown[slot.mid] = {
                    "participant": info.participant,
                    "source": info.source,
                    "kind": info.kind,
                }
        return shown

    def schedule(self) -> None:
        if self.closed or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(self._sync())
        self._task.add_done_callback(self._sync_done)

    def _sync_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "subscribe negotiation failed: %s",
                task.exception(),
                extra={"participant": self.pid},
                exc_info=task.exception(),
            )

    async def _sync(self) -> None:
        while not self.closed and not self.awaiting_answer:
            if any(slot.transceiver is None for slot in self.slots):
                await self._offer()
            elif self.tracks() != self._sent:
                self._sent = self.tracks()
                self._send_tracks(self._sent)
            else:
                return

    async def _offer(self) -> None:
        if self.pc is None:
            self.pc = RTCPeerConnection(self.configuration)
        for slot in self.slots:
            if slot.transceiver is None:
                transceiver = self.pc.addTransceiver(slot.track, direction="sendonly")
                transceiver.setCodecPreferences(slot.codec.preferences())
                # Its own stream: browsers lip-sync the tracks of one stream together.
                transceiver.sender._stream_id = uuid.uuid4().hex
                send_encoded(
                    transceiver.sender,
                    slot.codec,
                    functools.partial(self._keyframe, slot),
                    self.counters,
                )
                slot.transceiver = transceiver
        await self.pc.setLocalDescription(await self.pc.createOffer())
        if self.closed:
            return
        self.awaiting_answer = True
        self.offers += 1
        sdp = announce_public_ip(self.pc.localDescription.sdp, self.public_ip)
        self._sent = self.tracks()
        self._send_offer(sdp, self._sent)

    def _keyframe(self, slot: Slot) -> None:
        """A viewer's PLI/FIR: forwarded to the publisher of what the slot shows."""
        if slot.track.source is not None:
            slot.track.source.request_keyframe()

    async def accept(self, sdp: str) -> None:
        """Apply the client's answer to the last offer; raises BadDescription/InvalidCommand."""
        if not self.awaiting_answer or self.pc is None:
            raise InvalidCommand("no subscribe offer is waiting for an answer")
        description = parse_description(sdp)
        local = self.pc.localDescription
        offered = [
            (m.kind, m.rtp.muxId) for m in aiortc_sdp.SessionDescription.parse(local.sdp).media
        ]
        answered = [(m.kind, m.rtp.muxId) for m in description.media]
        if offered != answered:
            raise BadDescription("the answer's media sections do not match the offer")
        chosen = {
            m.rtp.muxId: m.rtp.codecs[0].name if m.rtp.codecs else None for m in description.media
        }
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
        except AIORTC_ERRORS as error:
            raise BadDescription(f"the answer cannot be applied: {error}") from None
        self.awaiting_answer = False
        for slot in self.slots:
            if slot.transceiver is not None and not slot.answered:
                slot.answered = True
                if (chosen.get(slot.mid or "") or "").lower() != slot.codec.name.lower():
                    log.warning(
                        "viewer refused %s", slot.codec.name, extra={"participant": self.pid}
                    )
                    slot.broken = True
        if any(slot.broken and slot.track.source is not None for slot in self.slots):
            self.assign(self._desired)
        self.schedule()

    async def close(self) -> None:
        self.closed = True
        if self._task is not None:
            self._task.cancel()
        for slot in self.slots:
            slot.track.stop()
        if self.pc is not None:
            await self.pc.close()
