"""A short clip encoded once (VP8 video, Opus audio) and replayed as tracks of encoded packets.

aiortc's RTCRtpSender only packetizes what a track's ``recv()`` returns when it
is an ``av.Packet``, so a simulated publisher costs no encoding at all: the clip
is encoded once at start-up and its packets are sent again and again, with
timestamps that keep running and at the clip's own pace. A camera in simulcast is a
``SimulcastClip``: a clip per layer, of the same frames at other sizes and bitrates
(``loadtest.simulcast`` sends it).
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


#: The rids of a camera's three simulcast layers, smallest first (as Chromium names them).
SIMULCAST_RIDS = ("q", "h", "f")
#: The bitrates of the quarter- and half-size layers (the full-size one has the camera's).
QUARTER_BITRATE = 150_000
HALF_BITRATE = 500_000


@dataclasses.dataclass(frozen=True)
class SimulcastClip:
    """One camera as simulcast layers, smallest first: a clip per layer, each named by its rid.

    Frame ``n`` of every layer is the picture captured at the same moment (same rate,
    same number of frames), so a receiver switching layers lands on the same capture
    times. ``loadtest.simulcast.SimulcastSender`` sends it.
    """

    clips: tuple[Clip, ...]
    rids: tuple[str, ...] = SIMULCAST_RIDS

    def __post_init__(self) -> None:
        if not self.clips or len(self.clips) != len(self.rids):
            raise ValueError("a simulcast clip needs one rid per layer, and a layer at least")
        if len(set(self.rids)) != len(self.rids):
            raise ValueError("simulcast layers need distinct rids")
        first = self.clips[0]
        for clip in self.clips:
            if clip.kind != "video" or clip.clock != VIDEO_CLOCK:
                raise ValueError("simulcast layers are video clips")
            if clip.rate != first.rate or len(clip.frames) != len(first.frames):
                raise ValueError("simulcast layers need the same frame rate and frame count")

    @property
    def kind(self) -> str:
        return "video"

    @property
    def rate(self) -> float:
        return self.clips[0].rate

    @property
    def full(self) -> Clip:
        """The largest layer: what is sent alone when the answer takes no simulcast."""
        return self.clips[-1]


def encode_simulcast(
    *,
    bitrate: int = 1_000_000,
    width: int = 640,
    height: int = 480,
    fps: int = 30,
    seconds: float = 2.0,
    keyframe_every_s: float = 1.0,
) -> SimulcastClip:
    """A camera of ``width`` x ``height`` at ``bitrate`` in three layers ("q", "h", "f"):
    a quarter of its size at 150 kbit/s, half at 500 kbit/s and full size at ``bitrate``,
    all at ``fps`` with the same frames."""

    def even(n: int) -> int:
        return max(2, n - n % 2)

    sizes = [
        (even(width // 4), even(height // 4), QUARTER_BITRATE),
        (even(width // 2), even(height // 2), HALF_BITRATE),
        (width, height, bitrate),
    ]
    clips = tuple(
        encode_video(
            bitrate=rate,
            width=w,
            height=h,
            fps=fps,
            seconds=seconds,
            keyframe_every_s=keyframe_every_s,
        )
        for w, h, rate in sizes
    )
    return SimulcastClip(clips)


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


class Playhead:
    """Where a looping clip is: the frame to send next, and a keyframe when one is asked for.

    ``request_keyframe()`` makes the next frame the clip's next keyframe (the first one
    again past the last), as an encoder would on a keyframe request.
    """

    def __init__(self, clip: Clip) -> None:
        self.clip = clip
        self.index = 0
        self.keyframe_requests = 0
        self._keyframes = clip.keyframes
        self._keyframe_wanted = False

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        self._keyframe_wanted = True

    def next_frame(self) -> EncodedFrame:
        if self._keyframe_wanted and self._keyframes:
            self._keyframe_wanted = False
            if not self.clip.frames[self.index].keyframe:
                later = [k for k in self._keyframes if k > self.index]
                self.index = later[0] if later else self._keyframes[0]
        frame = self.clip.frames[self.index]
        self.index = (self.index + 1) % len(self.clip.frames)
        return frame


class ClipTrack(MediaStreamTrack):
    """Plays a clip in a loop, paced in real time, as ``av.Packet``s the sender only packetizes.

    ``request_keyframe()`` (wired to the sender's PLI/FIR handling) makes the next
    frame sent the clip's next keyframe, as an encoder would on a keyframe request.
    """

    def __init__(self, clip: Clip) -> None:
        super().__init__()
        self.kind = clip.kind
        self.clip = clip
        self._playhead = Playhead(clip)
        self._sent = 0
        self._start: float | None = None
        self._time_base = fractions.Fraction(1, clip.clock)
        self._step = clip.clock / clip.rate

    @property
    def frames_sent(self) -> int:
        return self._sent

    @property
    def keyframe_requests(self) -> int:
        return self._playhead.keyframe_requests

    def request_keyframe(self) -> None:
        self._playhead.request_keyframe()

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._sent / self.clip.rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = self._playhead.next_frame()
        packet = av.Packet(frame.data)
        packet.pts = round(self._sent * self._step)
        packet.time_base = self._time_base
        self._sent += 1
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
