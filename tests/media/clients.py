"""Loopback clients of a MediaRouter: aiortc peers that publish pre-encoded clips and keep
what they receive encoded, so that no test in this package ever encodes or decodes in aiortc."""

from __future__ import annotations

import asyncio
import dataclasses
import fractions
import functools
import math
import time
from collections.abc import Callable
from typing import Any

import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.mediastreams import MediaStreamError

from media.codecs import Codec, codec_named, offered_video_codecs
from media.passthrough import Frames, keep_encoded
from media.router import MediaRouter
from media.tracks import H264, OPUS, VP8, codec_name
from tests.media.packing import send_encoded

VIDEO_FPS = 30
AUDIO_FRAME = 960  # 20 ms at 48 kHz


def _picture(n: int, width: int, height: int) -> av.VideoFrame:
    y, x = np.mgrid[0:height, 0:width]
    luma = ((x + 3 * n) % 256 + y // 2) % 256
    picture = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
    picture[:height] = luma.astype(np.uint8)
    return av.VideoFrame.from_ndarray(picture, format="yuv420p")


@functools.cache
def encode_video(codec: str, count: int = 30, width: int = 160, height: int = 120) -> list[bytes]:
    """``count`` encoded frames of a moving gradient; the first is the only keyframe."""
    codec = codec_name(codec)
    name = {VP8: "libvpx", H264: "libx264"}[codec]
    context = av.CodecContext.create(name, "w")
    context.width, context.height, context.pix_fmt = width, height, "yuv420p"
    context.time_base = fractions.Fraction(1, VIDEO_FPS)
    context.framerate = fractions.Fraction(VIDEO_FPS, 1)
    context.bit_rate = 400_000
    context.gop_size = 10_000
    if codec == H264:
        context.profile = "Baseline"
        context.options = {"tune": "zerolatency", "preset": "ultrafast", "bf": "0"}
    else:
        context.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    frames: list[bytes] = []  # cached: callers must not change it
    for n in range(count):
        picture = _picture(n, width, height)
        picture.pts = n
        frames += [bytes(p) for p in context.encode(picture)]
    frames += [bytes(p) for p in context.encode(None)]
    return frames[:count]


@functools.cache
def encode_opus(count: int = 50, frequency: float = 440.0, amplitude: float = 0.3) -> list[bytes]:
    """``count`` 20 ms Opus frames of a sine tone (amplitude 0: silence)."""
    context = av.CodecContext.create("libopus", "w")
    context.sample_rate, context.format, context.layout = 48000, "s16", "stereo"
    context.bit_rate = 64_000
    packets: list[bytes] = []
    for n in range(count + 5):
        t = (np.arange(AUDIO_FRAME) + n * AUDIO_FRAME) / 48000
        wave = (amplitude * 32767 * np.sin(2 * math.pi * frequency * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(wave, 2).reshape(1, -1), "s16", "stereo")
        frame.sample_rate, frame.pts = 48000, n * AUDIO_FRAME
        packets += [bytes(p) for p in context.encode(frame)]
    return packets[:count]


class ClipTrack(MediaStreamTrack):
    """Replays encoded frames in a loop at their own pace; a keyframe request restarts the clip
    at its keyframe (counted in ``keyframe_requests``)."""

    def __init__(self, kind: str, frames: list[bytes], codec: str) -> None:
        super().__init__()
        self.kind = kind
        self.frames = frames
        self.codec = codec
        self.rate = VIDEO_FPS if kind == "video" else 50
        self.clock = 90000 if kind == "video" else 48000
        self.keyframe_requests = 0
        self.frames_wanted = len(frames)
        self.sent: list[bytes] = []
        self._n = 0
        self._index = 0
        self._start: float | None = None

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        self._index = 0

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._n / self.rate - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        data = self.frames[self._index]
        packet = av.Packet(data)
        packet.pts = self._n * self.clock // self.rate
        packet.time_base = fractions.Fraction(1, self.clock)
        packet.is_keyframe = self._index == 0
        self.sent.append(data)
        self._n += 1
        self._index = (self._index + 1) % len(self.frames)
        return packet


def configuration() -> RTCConfiguration:
    """What browsers do (one transport); aiortc's default loses a second video m-line."""
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


class PublishingClient:
    """A participant's publish connection: sends clips, answers come from the router."""

    def __init__(self, router: MediaRouter, pid: str) -> None:
        self.router, self.pid = router, pid
        self.pc = RTCPeerConnection(configuration())
        self.tracks: dict[str, ClipTrack] = {}
        self.raw: dict[str, MediaStreamTrack] = {}
        self.pending: list[ClipTrack] = []  # offer H.264 and VP8: the answer picks the clip

    def add(self, source: str, track: ClipTrack) -> None:
        transceiver = self.pc.addTransceiver(track, direction="sendonly")
        codec = codec_named(track.codec)
        transceiver.setCodecPreferences(codec.preferences())
        send_encoded(transceiver.sender, codec, track.request_keyframe)
        self.tracks[source] = track

    def add_video(self, source: str, count: int = 60) -> ClipTrack:
        """A camera as a browser offers it (H.264 and VP8): the answer picks the clip's codec."""
        track = ClipTrack("video", [], "")
        track.frames_wanted = count
        transceiver = self.pc.addTransceiver(track, direction="sendonly")
        transceiver.setCodecPreferences(
            [codec_named(name).capability for name in ("H264", "VP8")]
            + codec_named("VP8").preferences()[1:]
        )
        self.tracks[source] = track
        self.pending.append(track)
        return track

    async def republish(self, sources: list[str]) -> str:
        """What a browser does on ``republish``: each video source's old m-line goes
        inactive and a new one offers H.264 and VP8 again, in a fresh offer."""
        for source in sources:
            old = self.tracks[source]
            for transceiver in self.pc.getTransceivers():
                if transceiver.sender.track is old:
                    transceiver.sender.replaceTrack(None)
                    transceiver.direction = "inactive"
            old.stop()
            self.add_video(source, old.frames_wanted)
        return await self.publish()

    def add_raw(self, source: str, track: MediaStreamTrack) -> None:
        """A track of raw frames that aiortc encodes (to get audio levels in the headers)."""
        transceiver = self.pc.addTransceiver(track, direction="sendonly")
        transceiver.setCodecPreferences(codec_named("opus").preferences())
        self.raw[source] = track

    async def publish(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        sources = {}
        for transceiver in self.pc.getTransceivers():
            for source, track in [*self.tracks.items(), *self.raw.items()]:
                if transceiver.sender.track is track:
                    sources[transceiver.mid] = source
        offer = self.pc.localDescription.sdp
        answer = await self.router.publish(self.pid, offer, sources)
        chosen = {
            m.rtp.muxId: m.rtp.codecs[0].name
            for m in aiortc_sdp.SessionDescription.parse(answer).media
            if m.rtp.codecs
        }
        for transceiver in self.pc.getTransceivers():
            track = transceiver.sender.track
            if isinstance(track, ClipTrack) and track in self.pending:
                self.pending.remove(track)
                track.codec = codec_name(chosen[transceiver.mid])
                track.frames = encode_video(track.codec, track.frames_wanted)
                codec = codec_named(track.codec)
                send_encoded(transceiver.sender, codec, track.request_keyframe)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        return answer

    async def close(self) -> None:
        await self.pc.close()


@dataclasses.dataclass
class Received:
    participant: str
    source: str
    data: bytes
    pts: int
    keyframe: bool


class ViewingClient:
    """A participant's subscribe connection: answers the router's offers and keeps every
    frame it receives, encoded, with whose it was (from the offer's ``tracks``)."""

    def __init__(self, router: MediaRouter, pid: str, codecs: tuple[str, ...] = ("VP8",)) -> None:
        self.router, self.pid, self.codecs = router, pid, codecs
        self.pc = RTCPeerConnection(configuration())
        self.messages: asyncio.Queue[tuple[str, str | None, dict[str, Any]]] = asyncio.Queue()
        self.shown: dict[str, dict[str, Any]] = {}
        self.received: list[Received] = []
        self.hooked: set[int] = set()
        self.assemblers: dict[str, Frames] = {}  # by mid
        self.offers = 0
        self.errors: list[BaseException] = []
        self._task: asyncio.Task[None] | None = None
        self.changed = asyncio.Event()

    async def join(self) -> None:
        await self.router.ready(self.pid, self.codecs)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            kind, sdp, tracks = await self.messages.get()
            try:
                self.shown = tracks
                if kind == "offer" and sdp is not None:
                    await self._answer(sdp)
                self.changed.set()
            except Exception as error:  # surfaced by the tests
                self.errors.append(error)

    async def _answer(self, sdp: str) -> None:
        self.offers += 1
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        codecs = {m.rtp.muxId: m.rtp.codecs for m in aiortc_sdp.SessionDescription.parse(sdp).media}
        for transceiver in self.pc.getTransceivers():
            receiver = transceiver.receiver
            if id(receiver) in self.hooked or transceiver.mid is None:
                continue
            self.hooked.add(id(receiver))
            offered = codecs[transceiver.mid]
            codec = self._codec(offered[0].name, dict(offered[0].parameters))
            frames = keep_encoded(receiver, codec, self._collector(transceiver.mid, codec))
            self.assemblers[transceiver.mid] = frames
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.router.answer(self.pid, self.pc.localDescription.sdp)

    @staticmethod
    def _codec(name: str, parameters: dict[str, Any]) -> Codec:
        if codec_name(name) == OPUS:
            return codec_named(OPUS)
        return offered_video_codecs([(name, parameters)])[codec_name(name)]

    def _collector(self, mid: str, codec: Codec) -> Callable[[av.Packet], None]:
        def collect(packet: av.Packet) -> None:
            shown = self.shown.get(mid, {})
            self.received.append(
                Received(
                    shown.get("participant", "?"),
                    shown.get("source", "?"),
                    bytes(packet),
                    int(packet.pts or 0),
                    bool(packet.is_keyframe),
                )
            )

        return collect

    def mid_of(self, participant: str, source: str) -> str:
        return next(
            mid
            for mid, shown in self.shown.items()
            if (shown["participant"], shown["source"]) == (participant, source)
        )

    async def send_pli(self, participant: str, source: str) -> None:
        """Ask for a keyframe the way a browser does: RTCP PLI to the server's sender."""
        mid = self.mid_of(participant, source)
        transceiver = next(t for t in self.pc.getTransceivers() if t.mid == mid)
        ssrc = self.assemblers[mid].ssrc
        assert ssrc is not None
        await transceiver.receiver._send_rtcp_pli(ssrc)

    def frames(self, participant: str, source: str) -> list[Received]:
        return [r for r in self.received if (r.participant, r.source) == (participant, source)]

    async def wait_for(self, condition: Callable[[], bool], within_s: float = 20) -> None:
        async with asyncio.timeout(within_s):
            while not condition():
                if self.errors:
                    raise self.errors[0]
                await asyncio.sleep(0.02)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.pc.close()


class Wire:
    """The router's signalling, delivered to the viewing clients in this process."""

    def __init__(self) -> None:
        self.viewers: dict[str, ViewingClient] = {}
        self.speakers: list[str | None] = []
        self.republish_requests: list[tuple[str, list[str]]] = []
        self.failures: list[tuple[str, str, str]] = []  # (pid, connection, reason)

    def subscribe_offer(self, pid: str, sdp: str, tracks: dict[str, Any]) -> None:
        if pid in self.viewers:  # others never answer
            self.viewers[pid].messages.put_nowait(("offer", sdp, tracks))

    def subscribe_tracks(self, pid: str, tracks: dict[str, Any]) -> None:
        if pid in self.viewers:
            self.viewers[pid].messages.put_nowait(("tracks", None, tracks))

    def active_speaker(self, pid: str | None) -> None:
        self.speakers.append(pid)

    def republish(self, pid: str, sources: list[str]) -> None:
        self.republish_requests.append((pid, sources))

    def media_failed(self, pid: str, connection: str, reason: str) -> None:
        self.failures.append((pid, connection, reason))


class ToneTrack(MediaStreamTrack):
    """Raw audio (a sine tone, or silence) for a client that encodes it itself: aiortc's
    sender then writes each packet's level in the RTP header, as a browser does."""

    kind = "audio"

    def __init__(self, amplitude: float, frequency: float = 440.0) -> None:
        super().__init__()
        self.amplitude, self.frequency = amplitude, frequency
        self._n = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._n * AUDIO_FRAME / 48000 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        t = (np.arange(AUDIO_FRAME) + self._n * AUDIO_FRAME) / 48000
        wave = (self.amplitude * 32767 * np.sin(2 * math.pi * self.frequency * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(wave, 2).reshape(1, -1), "s16", "stereo")
        frame.sample_rate = 48000
        frame.pts, frame.time_base = self._n * AUDIO_FRAME, fractions.Fraction(1, 48000)
        self._n += 1
        return frame
