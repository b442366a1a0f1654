"""A simulated participant's media over the real signalling: a clip sent, what arrives counted.

Follows docs/protocol.md: ``media_ready`` (answered with ``media_config``), then a
publish connection the client offers (``publish`` -> ``publish_answer``) carrying
the pre-encoded clips (the camera in simulcast layers if given a ``SimulcastClip``),
and a subscribe connection the server offers (``subscribe`` -> ``subscribe_answer``)
whose RTP a ``Tap`` counts instead of decoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Set as AbstractSet
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
)

from loadtest.clip import Clip, ClipTrack, SimulcastClip, add_clip_track
from loadtest.counter import Reading, StreamCounter, Tap, rates
from loadtest.participant import Participant
from loadtest.simulcast import SimulcastSender
from media.ice import gather_loopback_when_alone

#: What the load tool says it receives: it decodes nothing, and its clips are VP8.
CODECS = ["VP8"]


@dataclasses.dataclass(frozen=True)
class Received:
    """What a participant received between two moments, over the streams it was shown."""

    streams: int
    video_streams: int
    fps: float | None  # mean over video streams shown
    fps_min: float | None  # of the video stream shown with the fewest frames
    audio_fps: float | None
    loss: float | None
    bps: float


class MediaClient:
    """Publishes clips (if given) and counts the streams the server forwards to this participant.

    A ``SimulcastClip`` as ``video`` (``encode_simulcast()``) publishes the camera in its
    layers, as Chromium does; ``sent["camera"].frames_sent`` then counts capture times.
    """

    def __init__(
        self,
        participant: Participant,
        video: Clip | SimulcastClip | None = None,
        audio: Clip | None = None,
    ) -> None:
        # aioice gathers no 127.0.0.1: on a machine with only a loopback address the
        # client would have no candidate at all (a no-op anywhere else).
        gather_loopback_when_alone()
        self.participant = participant
        self.clips: dict[str, Clip | SimulcastClip | None] = {
            "camera": video,
            "microphone": audio,
        }
        self.sent: dict[str, ClipTrack | SimulcastSender] = {}
        self.tracks: dict[str, dict[str, Any]] = {}  # subscribe m-lines shown: mid -> what
        self.configuration = RTCConfiguration(iceServers=[])
        self.publish_pc: RTCPeerConnection | None = None
        self.subscribe_pc: RTCPeerConnection | None = None
        self.tap: Tap | None = None
        self.offers = 0
        self.error: str | None = None
        participant.on("subscribe", self._on_subscribe)

    @property
    def publishes(self) -> bool:
        return any(clip is not None for clip in self.clips.values())

    async def start(self) -> None:
        """Say the client can receive, then publish its clips."""
        config = await self.participant.request("media_ready", "media_config", codecs=CODECS)
        self.configuration = RTCConfiguration(
            iceServers=[
                RTCIceServer(s["urls"], s.get("username"), s.get("credential"))
                for s in config["ice_servers"]
            ]
        )
        if self.publishes:
            await self.publish()

    async def publish(self) -> None:
        pc = self.publish_pc = RTCPeerConnection(self.configuration)
        transceivers = {}
        layered: list[SimulcastSender] = []
        for source, clip in self.clips.items():
            if isinstance(clip, SimulcastClip):
                sender = SimulcastSender(pc, clip)
                self.sent[source], transceivers[source] = sender, sender.transceiver
                layered.append(sender)
            elif clip is not None:
                self.sent[source], transceivers[source] = add_clip_track(pc, clip)
        await pc.setLocalDescription(await pc.createOffer())
        offer = pc.localDescription.sdp
        for sender in layered:
            offer = sender.offer(offer)
        sources = {t.mid: source for source, t in transceivers.items()}
        answer = await self.participant.request(
            "publish", "publish_answer", sdp=offer, sources=sources
        )
        for sender in layered:
            sender.answer(answer["sdp"])
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    async def _on_subscribe(self, message: dict[str, Any]) -> None:
        self.tracks = message["tracks"]
        if message.get("sdp") is None:
            return
        if self.subscribe_pc is None:
            self.subscribe_pc = RTCPeerConnection(self.configuration)
        pc = self.subscribe_pc
        try:
            await pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "offer"))
            # New m-lines get their counters before any of their packets can arrive.
            if self.tap is None:
                self.tap = Tap(pc)
            else:
                self.tap.install()
            await pc.setLocalDescription(await pc.createAnswer())
            await self.participant.send("subscribe_answer", sdp=pc.localDescription.sdp)
            self.offers += 1
        except (ValueError, ConnectionError) as error:
            self.error = f"subscribe: {error}"

    def shown(self) -> dict[RTCRtpReceiver, tuple[str, StreamCounter]]:
        """The counters of the m-lines that show a track now, with the track's kind."""
        if self.subscribe_pc is None or self.tap is None:
            return {}
        found = {}
        for transceiver in self.subscribe_pc.getTransceivers():
            what = self.tracks.get(transceiver.mid or "")
            counter = self.tap.counters.get(transceiver.receiver)
            if what is not None and counter is not None:
                found[transceiver.receiver] = (what["kind"], counter)
        return found

    def readings(self) -> dict[RTCRtpReceiver, Reading]:
        return {receiver: counter.reading() for receiver, (_, counter) in self.shown().items()}

    def received(
        self,
        before: dict[RTCRtpReceiver, Reading],
        after: dict[RTCRtpReceiver, Reading],
        since: float,
    ) -> Received:
        """Rates between two sets of readings of the streams shown (``after``'s); a stream
        without an earlier reading counts from 0 at ``since``, when ``before`` was taken."""
        video: list[float] = []
        audio: list[float] = []
        lost = expected = 0
        bps = 0.0
        kinds = {receiver: kind for receiver, (kind, _) in self.shown().items()}
        for receiver, end in after.items():
            start = before.get(receiver) or Reading(since, 0, 0, 0, 0)
            figures = rates(start, end)
            (video if kinds.get(receiver) == "video" else audio).append(figures["fps"])
            bps += figures["bps"]
            expected += end.expected - start.expected
            lost += max(0, (end.expected - start.expected) - (end.packets - start.packets))
        return Received(
            streams=len(video) + len(audio),
            video_streams=len(video),
            fps=sum(video) / len(video) if video else None,
            fps_min=min(video, default=None),
            audio_fps=sum(audio) / len(audio) if audio else None,
            loss=lost / expected if expected else None,
            bps=bps,
        )

    def problem(self, voices: AbstractSet[str] = frozenset()) -> str | None:
        """Why this participant's media is not flowing, if it is not; ``voices`` are the
        participants whose microphone it should be shown (the server sends every voice)."""
        if self.error:
            return self.error
        for name, pc in (("publish", self.publish_pc), ("subscribe", self.subscribe_pc)):
            if pc is not None and pc.connectionState not in ("connected", "connecting", "new"):
                return f"{name} connection {pc.connectionState}"
        shown = self.shown()
        silent = [c for _, c in shown.values() if c.packets == 0]
        if silent:
            return f"{len(silent)} of {len(shown)} streams shown sent nothing"
        wanted = voices - {self.participant.id}
        heard = {
            what["participant"]
            for mid, what in self.tracks.items()
            if what["kind"] == "audio" and mid in self._shown_mids()
        }
        if wanted - heard:
            return f"shown {len(wanted & heard)} of the {len(wanted)} voices in the room"
        return None

    def _shown_mids(self) -> set[str]:
        if self.subscribe_pc is None:
            return set()
        return {t.mid for t in self.subscribe_pc.getTransceivers() if t.mid in self.tracks}

    def first_video_frame_at(self) -> float | None:
        """When the first frame of any video arrived."""
        if self.tap is None:
            return None
        times = [
            c.first_frame_at
            for c in self.tap.counters.values()
            if c.kind == "video" and c.first_frame_at is not None
        ]
        return min(times, default=None)

    def every_video_at(self) -> float | None:
        """When every video shown now had its first frame (None: one has none yet)."""
        times = [c.first_frame_at for kind, c in self.shown().values() if kind == "video"]
        if not times or None in times:
            return None
        return max(t for t in times if t is not None)

    async def close(self) -> None:
        for pc in (self.publish_pc, self.subscribe_pc):
            if pc is not None:
                with contextlib.suppress(Exception):
                    await pc.close()


async def start_all(clients: list[MediaClient], batch: int = 20) -> list[BaseException | None]:
    """Start clients a batch at a time (each negotiation costs the server a moment)."""
    outcomes: list[BaseException | None] = []
    for start in range(0, len(clients), batch):
        group = clients[start : start + batch]
        results = await asyncio.gather(*(c.start() for c in group), return_exceptions=True)
        outcomes += [r if isinstance(r, BaseException) else None for r in results]
    return outcomes
