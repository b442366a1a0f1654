"""A short clip encoded once (VP8 video, Opus audio) and replayed as tracks of encoded packets.

aiortc's RTCRtpSender only packetizes what a track's ``recv()`` returns when it
is an ``av.Packet``, so a simulated publisher costs no encoding at all: the clip
is encoded once at start-up and its packets are sent again and again, with
timestamps that keep running and at the clip's own pace.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fractions
import math
import time

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError

VIDEO_CLOCK = 90_000
AUDIO_RATE = 48_000
AUDIO_FRAME_SAMPLES = 960  # 20 ms


@dataclasses.dataclass(frozen=True)
class EncodedFrame:
    data: bytes
    keyframe: bool


@dataclasses.dataclass(frozen=True)
class Clip:
    """Encoded frames of one kind, played at ``rate`` frames a second on a ``clock`` Hz clock."""

    kind: str
    frames: tuple[EncodedFrame, ...]
    rate: float
    clock: int

    @property
    def bitrate(self) -> float:
        """Bits a second the clip sends when played at its rate."""
        return sum(len(f.data) for f in self.frames) * 8 * self.rate / len(self.frames)

    @property
    def keyframes(self) -> tuple[int, ...]:
        return tuple(i for i, frame in enumerate(self.frames) if frame.keyframe)


def _picture(
    rng: np.random.Generator, n: int, width: int, height: int, noise_level: int
) -> np.ndarray:
    """A moving gradient under fresh noise: something a real encoder must spend bits on."""
    y, x = np.mgrid[0:height, 0:width]
    base = ((x + 4 * n) % 256 + (y // 2)) % 256
    noise = rng.integers(0, noise_level + 1, size=(height, width))
    luma = ((base + noise) % 256).astype(np.uint8)
    picture = np.empty((height * 3 // 2, width), dtype=np.uint8)
    picture[:height] = luma
    picture[height:] = 128
    return picture


def _encode_vp8(
    bitrate: int, width: int, height: int, fps: int, count: int, gop: int, noise_level: int
) -> list[EncodedFrame]:
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.time_base = fractions.Fraction(1, fps)
    codec.framerate = fractions.Fraction(fps, 1)
    codec.bit_rate = bitrate
    codec.gop_size = gop
    codec.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "minrate": str(bitrate),
        "maxrate": str(bitrate),
        "bufsize": str(bitrate),
        "undershoot-pct": "95",
    }
    rng = np.random.default_rng(7)
    packets: list[av.Packet] = []
    for n in range(count):
        picture = _picture(rng, n, width, height, noise_level)
        frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
        frame.pts = n
        packets += codec.encode(frame)
    packets += codec.encode(None)
    # A VP8 frame tag's lowest bit is 0 on a keyframe.
    return [EncodedFrame(bytes(p), keyframe=not bytes(p)[0] & 1) for p in packets]


def encode_video(
    *,
    bitrate: int = 1_000_000,
    width: int = 640,
    height: int = 480,
    fps: int = 30,
    seconds: float = 2.0,
    keyframe_every_s: float = 1.0,
) -> Clip:
    """VP8 frames of a generated picture at about ``bitrate`` bits a second.

    libvpx cannot go below what noisy content needs, nor above what plain content
    offers, so the picture's noise is tuned (a few tries) until the clip's rate is
    within 20% of the target; the closest try is kept.
    """
    if not 50_000 <= bitrate <= 20_000_000:
        raise ValueError("video bitrate must be between 50k and 20M bits a second")
    count = max(1, round(fps * seconds))
    gop = max(1, round(fps * keyframe_every_s))
    noise_level = max(1, min(64, round(8 * bitrate / 1_000_000)))
    best: Clip | None = None
    for _ in range(4):
        frames = _encode_vp8(bitrate, width, height, fps, count, gop, noise_level)
        clip = Clip("video", tuple(frames), float(fps), VIDEO_CLOCK)
        if best is None or abs(clip.bitrate - bitrate) < abs(best.bitrate - bitrate):
            best = clip
        ratio = clip.bitrate / bitrate
        if 0.8 <= ratio <= 1.2:
            break
        noise_level = max(0, min(64, round(noise_level / ratio if ratio > 1 else noise_level * 2)))
    assert best is not None
    return best


def encode_audio(*, seconds: float = 1.0, tone_hz: float = 440.0, bitrate: int = 32_000) -> Clip:
    """Opus frames of 20 ms of a sine tone (stereo, 48 kHz)."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = AUDIO_RATE
    codec.layout = "stereo"
    codec.format = "s16"
    codec.bit_rate = bitrate
    codec.time_base = fractions.Fraction(1, AUDIO_RATE)
    count = max(1, round(seconds * AUDIO_RATE / AUDIO_FRAME_SAMPLES))
    packets: list[av.Packet] = []
    for n in range(count):
        t = (np.arange(AUDIO_FRAME_SAMPLES) + n * AUDIO_FRAME_SAMPLES) / AUDIO_RATE
        wave = (np.sin(2 * math.pi * tone_hz * t) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(wave, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = AUDIO_RATE
        frame.pts = n * AUDIO_FRAME_SAMPLES
        packets += codec.encode(frame)
    packets += codec.encode(None)
    frames = tuple(EncodedFrame(bytes(p), keyframe=True) for p in packets if p.size)
    return Clip("audio", frames, AUDIO_RATE / AUDIO_FRAME_SAMPLES, AUDIO_RATE)


class ClipTrack(MediaStreamTrack):
    """Plays a clip in a loop, paced in real time, as ``av.Packet``s the sender only packetizes.

    ``request_keyframe()`` (wired to the sender's PLI/FIR handling) makes the next
    frame sent the clip's next keyframe, as an encoder would on a keyframe request.
    """

    def __init__(self, clip: Clip) -> None:
        super().__init__()
        self.kind = clip.kind
        self.clip = clip
        self._keyframes = clip.keyframes
        self._index = 0
        self._sent = 0
        self._start: float | None = None
        self._time_base = fractions.Fraction(1, clip.clock)
        self._step = clip.clock / clip.rate
        self._keyframe_wanted = False
        self.keyframe_requests = 0

    @property
    def frames_sent(self) -> int:
        return self._sent

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        self._keyframe_wanted = True

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._sent / self.clip.rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if self._keyframe_wanted and self._keyframes:
            self._keyframe_wanted = False
            if not self.clip.frames[self._index].keyframe:
                later = [k for k in self._keyframes if k > self._index]
                self._index = later[0] if later else self._keyframes[0]
        frame = self.clip.frames[self._index]
        packet = av.Packet(frame.data)
        packet.pts = round(self._sent * self._step)
        packet.time_base = self._time_base
        self._sent += 1
        self._index = (self._index + 1) % len(self.clip.frames)
        return packet


def add_clip_track(pc: RTCPeerConnection, clip: Clip) -> tuple[ClipTrack, RTCRtpTransceiver]:
    """Send a clip (send-only) on a peer connection, answering keyframe requests (PLI/FIR)."""
    track = ClipTrack(clip)
    transceiver = pc.addTransceiver(track, direction="sendonly")
    sender = transceiver.sender
    # The sender turns PLI/FIR into self._send_keyframe(), which only tells its encoder;
    # with packets given, nothing would happen, so the track is told instead.
    sender._send_keyframe = track.request_keyframe  # type: ignore[method-assign]
    return track, transceiver
