"""A WHEP viewer (draft-ietf-wish-whep): a player that offers, and gets the room's programme.

A WHEP player (an overflow room's screen, a lobby display, a player someone else
wrote) sends an offer with one video and one audio m-line to receive on; the server
answers. What it gets is a programme, as a viewer on the stage would see it: the
first video of the router's order (a shared screen, the pinned participant, the
active speaker) and one voice, chosen by ``voice`` (the speaker's microphone, or the
on-air interpreter of a language). Like a participant's subscribe connection, it
forwards the publishers' packets as they are (``media.wire``), so the video codec is
agreed once, from the offer (H.264 when the player takes it, else VP8), and the room
publishes in a codec every viewer decodes, this one included. The router treats it as
one of its subscribers (``accepts``, ``assign``, ``close``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from media.codecs import Codec, codec_named, offered_video_codecs
from media.description import AIORTC_ERRORS, BadDescription, parse_description
from media.forwarding import Counters, Outlet, PublishedTrack
from media.ice import announce_public_ip
from media.tracks import AUDIO_CODEC, H264, VP8
from media.wire import IdleTrack, attach

log = logging.getLogger("classroom.media")

#: Which audio track the programme plays now, given what it may get in the router's order
#: (videos first the stage's); None: keep the last one.
Voice = Callable[[list[PublishedTrack]], PublishedTrack | None]


class WhepViewer:
    """One WHEP session: an answered connection with one video and one audio outlet."""

    def __init__(
        self,
        pid: str,
        configuration: RTCConfiguration,
        public_ip: str,
        counters: Counters,
        voice: Voice,
        on_failed: Callable[[WhepViewer], None] | None = None,
    ) -> None:
        self.pid = pid
        self.configuration = configuration
        self.public_ip = public_ip
        self.counters = counters
        self.voice = voice
        self._on_failed = on_failed
        self.pc: RTCPeerConnection | None = None
        self.video: Codec | None = None
        self.codecs: frozenset[str] = frozenset()  # the video codec agreed, for the router
        self.outlets: dict[str, Outlet] = {}  # kind -> outlet
        self.sdp = ""  # the answer given
        self.closed = False

    async def answer(self, offer: str) -> str:
        """Apply the player's offer; the answer. Raises BadDescription."""
        description = parse_description(offer)
        kinds = [m.kind for m in description.media if not description.rejected(m)]
        if sorted(kinds) not in (["audio", "video"], ["video"], ["audio"]):
            raise BadDescription("offer one video and/or one audio m-line to receive on")
        for media in description.media:
            if media.kind == "video" and not description.rejected(media):
                offered = offered_video_codecs((c.name, c.parameters) for c in media.rtp.codecs)
                chosen = offered.get(H264) or offered.get(VP8)
                if chosen is None:
                    raise BadDescription("the player takes neither H.264 nor VP8")
                self.video, self.codecs = chosen, frozenset({chosen.name})
        self.pc = pc = RTCPeerConnection(self.configuration)
        pc.on("connectionstatechange", self._state_changed)
        # Made before the offer is applied, which takes them (a transceiver of the same
        # kind with no mid yet): so the codec preferences decide the answer.
        for kind in kinds:
            codec = self.video if kind == "video" else codec_named(AUDIO_CODEC)
            assert codec is not None
            outlet = self.outlets[kind] = Outlet(kind, self.counters)
            transceiver = pc.addTransceiver(IdleTrack(kind), direction="sendonly")
            transceiver.setCodecPreferences(codec.preferences())
            attach(transceiver.sender, outlet, self.counters)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        except AIORTC_ERRORS as error:
            raise BadDescription(f"the offer cannot be applied: {error}") from None
        try:
            await pc.setLocalDescription(await pc.createAnswer())
        except AIORTC_ERRORS as error:
            raise BadDescription(f"no answer to this offer: {error}") from None
        return announce_public_ip(pc.localDescription.sdp, self.public_ip)

    def accepts(self, track: PublishedTrack) -> bool:
        return track.info.kind == "audio" or track.codec.name in self.codecs

    def assign(self, tracks: list[PublishedTrack]) -> None:
        """The router's order: the first video is the stage; the voice is ``voice``'s."""
        video = self.outlets.get("video")
        if video is not None:
            stage = next((t for t in tracks if t.info.kind == "video"), None)
            if stage is not video.source:
                video.bind(stage)
        audio = self.outlets.get("audio")
        if audio is not None:
            heard = self.voice(tracks)
            if heard is not None and heard is not audio.source:
                audio.bind(heard)
            elif audio.source is not None and audio.source not in tracks:
                audio.bind(None)  # gone: silence until someone speaks

    def shows(self) -> dict[str, str | None]:
        """Whose video and voice the programme carries now."""
        return {
            kind: outlet.source.info.participant if outlet.source is not None else None
            for kind, outlet in self.outlets.items()
        }

    def _state_changed(self) -> None:
        state = self.pc.connectionState if self.pc is not None else "new"
        if state in ("failed", "closed") and not self.closed and self._on_failed is not None:
            self._on_failed(self)

    async def close(self) -> None:
        self.closed = True
        for outlet in self.outlets.values():
            outlet.close()
        if self.pc is not None:
            await self.pc.close()
