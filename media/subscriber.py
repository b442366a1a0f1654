"""The connection a participant receives on: the server offers, the client answers."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Callable
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription
from aiortc import sdp as aiortc_sdp
from aiortc.rtp import RtcpReceiverInfo

from classroom.errors import InvalidCommand
from media.codecs import Codec
from media.congestion import VideoBudget
from media.description import AIORTC_ERRORS, BadDescription, parse_description
from media.forwarding import Counters, Outlet, PublishedTrack
from media.ice import announce_public_ip
from media.redundancy import RED, AudioRedundancy
from media.seams import negotiate_red
from media.tracks import codec_name
from media.wire import IdleTrack, attach

log = logging.getLogger("classroom.media")


@dataclasses.dataclass
class Slot:
    """One m-line of the subscribe connection and what it forwards."""

    outlet: Outlet
    codec: Codec
    transceiver: RTCRtpTransceiver | None = None
    answered: bool = False
    broken: bool = False  # the answer chose another codec: never used again
    #: The m-line's media stream (msid): a browser lip-syncs the audio and the video of
    #: one stream, so a participant's voice and camera slots share one (``partner``).
    stream_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)
    partner: Slot | None = dataclasses.field(default=None, compare=False, repr=False)

    def shows(self, participant: str) -> bool:
        source = self.outlet.source
        return source is not None and source.info.participant == participant

    @property
    def mid(self) -> str | None:
        return self.transceiver.mid if self.transceiver is not None else None

    @property
    def kind(self) -> str:
        return self.outlet.kind

    @property
    def free(self) -> bool:
        return self.outlet.source is None and not self.broken


class Subscriber:
    """The connection a participant receives on; the server offers, renegotiating as
    slots are added. Re-binding a slot to another source needs no renegotiation,
    only a ``send_tracks`` update of which participant each m-line now shows.

    ``budget`` (when given) learns from the viewer's receiver reports how many videos its
    downlink carries; ``on_budget`` is called when that number changed. ``redundancy``
    (when given) is offered as the ``red`` codec beside Opus and decides, from the same
    reports, how many earlier frames the viewer's voices repeat."""

    def __init__(
        self,
        pid: str,
        codecs: frozenset[str],
        configuration: RTCConfiguration,
        public_ip: str,
        counters: Counters,
        send_offer: Callable[[str, dict[str, Any]], None],
        send_tracks: Callable[[dict[str, Any]], None],
        on_failed: Callable[[Subscriber], None] | None = None,
        budget: VideoBudget | None = None,
        on_budget: Callable[[Subscriber], None] | None = None,
        redundancy: AudioRedundancy | None = None,
    ) -> None:
        self.pid = pid
        self.codecs = codecs  # video codecs the client decodes (named as in media.tracks)
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
        self._on_failed = on_failed
        self.budget = budget
        self._on_budget = on_budget
        self.redundancy = redundancy
        self._red = negotiate_red() if redundancy is not None else None
        self._audio_ssrcs: set[int] = set()  # the audio m-lines' (their report blocks)
        self._sent: dict[str, Any] = {}  # what the client was last told it shows
        self._desired: list[PublishedTrack] = []
        self._task: asyncio.Task[None] | None = None

    def accepts(self, track: PublishedTrack) -> bool:
        return track.info.kind == "audio" or track.codec.name in self.codecs

    def assign(self, tracks: list[PublishedTrack]) -> None:
        """Forward exactly these tracks from now on (bindings are kept where possible)."""
        self._desired = [t for t in tracks if self.accepts(t)]
        wanted = {t.info.id: t for t in self._desired}
        for slot in self.slots:
            source = slot.outlet.source
            if source is None:
                continue
            if source.info.id not in wanted or slot.broken:
                slot.outlet.bind(None)
            else:  # another layer of the same video, or back to this one
                slot.outlet.switch(wanted[source.info.id])
        bound = {s.outlet.source.info.id for s in self.slots if s.outlet.source is not None}
        for track in self._desired:
            if track.info.id not in bound:
                self._free_slot(track).outlet.bind(track)
        for slot in self.slots:
            slot.outlet.lip_sync(self._in_sync(slot))
        self.schedule()  # tells the client when what it shows changed

    def _free_slot(self, track: PublishedTrack) -> Slot:
        codec, who = track.codec, track.info.participant
        free = [s for s in self.slots if s.free and s.kind == track.info.kind]
        free = [s for s in free if s.codec.matches(codec)]
        if free:  # in the stream of this participant's other track, else negotiated ones
            paired = [s for s in free if s.partner is not None and s.partner.shows(who)]
            return min(paired or free, key=lambda s: not s.answered)
        slot = Slot(Outlet(track.info.kind, self.counters), codec)
        if self.redundancy is not None:
            slot.outlet.redundant(self.redundancy.frames)
        partner = next(
            (s for s in self.slots if s.kind != slot.kind and s.partner is None and s.shows(who)),
            None,
        )
        if partner is not None:
            slot.partner, partner.partner, slot.stream_id = partner, slot, partner.stream_id
        self.slots.append(slot)
        return slot

    @staticmethod
    def _in_sync(slot: Slot) -> bool:
        """Whether the slot's sender reports may carry its publisher's clock: not when the
        other track of its stream shows someone else (the browser would line up two
        people's clocks; both report the server's time then, as before lip sync)."""
        source, partner = slot.outlet.source, slot.partner
        other = partner.outlet.source if partner is not None else None
        return source is None or other is None or other.info.participant == source.info.participant

    def tracks(self) -> dict[str, Any]:
        """Which participant's source each m-line shows now, for the client."""
        shown = {}
        for slot in self.slots:
            if slot.mid is not None and slot.outlet.source is not None:
                info = slot.outlet.source.info
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
                continue
            shown = self.tracks()
            if shown == self._sent:
                return
            self._sent = shown
            self._send_tracks(shown)

    async def _offer(self) -> None:
        if self.pc is None:
            self.pc = RTCPeerConnection(self.configuration)
            self.pc.on("connectionstatechange", self._state_changed)
        for slot in self.slots:
            if slot.transceiver is None:
                track = IdleTrack(slot.kind)
                transceiver = self.pc.addTransceiver(track, direction="sendonly")
                preferences = slot.codec.preferences()
                if slot.kind == "audio" and self._red is not None:
                    preferences.append(self._red)
                    self._audio_ssrcs.add(transceiver.sender._ssrc)
                transceiver.setCodecPreferences(preferences)
                # Browsers lip-sync the tracks of one stream together (see Slot.partner).
                transceiver.sender._stream_id = slot.stream_id
                attach(transceiver.sender, slot.outlet, self.counters, self._reported)
                slot.transceiver = transceiver
        await self.pc.setLocalDescription(await self.pc.createOffer())
        if self.closed:
            return
        self.awaiting_answer = True
        self.offers += 1
        sdp = announce_public_ip(self.pc.localDescription.sdp, self.public_ip)
        self._sent = self.tracks()
        self._send_offer(sdp, self._sent)

    def _state_changed(self) -> None:
        # ICE never connected, or its consent expired (see Publisher._state_changed).
        state = self.pc.connectionState if self.pc is not None else "new"
        ice = self.pc.iceConnectionState if self.pc is not None else "new"
        log.info(
            "subscribe connection of %s %s (ice %s)",
            self.pid,
            state,
            ice,
            extra={"participant": self.pid},
        )
        if state in ("failed", "closed") and not self.closed and self._on_failed is not None:
            self._on_failed(self)

    def _reported(self, report: RtcpReceiverInfo, round_trip: float | None = None) -> None:
        """A report block of the viewer about one m-line (and the round trip it tells):
        to the video budget, and an audio m-line's loss to the voices' redundancy."""
        if self.closed:
            return
        if report.ssrc in self._audio_ssrcs:  # offered ``red`` (so ``redundancy`` is set)
            self._voices(report.fraction_lost)
        budget = self.budget
        if budget is None:
            return
        if round_trip is not None:
            budget.round_trip(round_trip)
        changed = budget.report(report.ssrc, report.highest_sequence, report.packets_lost)
        if changed:
            self._voices(None)
            if self._on_budget is not None:
                self._on_budget(self)

    def _voices(self, fraction_lost: int | None) -> None:
        """The voices' redundancy, after an audio report's loss (None: the budget moved).
        Off while the budget has left out every video the viewer would see."""
        redundancy = self.redundancy
        if redundancy is None:
            return
        budget = self.budget
        redundancy.allowed = budget is None or budget.level > 0 or budget.wanted == 0
        if fraction_lost is None:
            changed = redundancy.update()
        else:
            changed = redundancy.reported(fraction_lost)
        if changed:
            for slot in self.slots:
                slot.outlet.redundant(redundancy.frames)

    def _keyframe(self, slot: Slot) -> None:
        """A viewer's PLI/FIR: forwarded to the publisher of what the slot shows."""
        if slot.outlet.source is not None:
            slot.outlet.source.request_keyframe()

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
        chosen = {  # the m-line's codec (``red`` only wraps it)
            m.rtp.muxId: next((c.name for c in m.rtp.codecs if c.name.lower() != RED), None)
            for m in description.media
        }
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
        except AIORTC_ERRORS as error:
            raise BadDescription(f"the answer cannot be applied: {error}") from None
        self.awaiting_answer = False
        for slot in self.slots:
            if slot.transceiver is not None and not slot.answered:
                slot.answered = True
                if codec_name(chosen.get(slot.mid or "") or "") != slot.codec.name:
                    log.warning(
                        "viewer refused %s", slot.codec.name, extra={"participant": self.pid}
                    )
                    slot.broken = True
        if any(slot.broken and slot.outlet.source is not None for slot in self.slots):
            self.assign(self._desired)
        self.schedule()

    async def close(self) -> None:
        self.closed = True
        if self._task is not None:
            self._task.cancel()
        for slot in self.slots:
            slot.outlet.close()
        if self.pc is not None:
            await self.pc.close()
