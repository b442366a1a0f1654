"""What the recorder receives from the media layer: track descriptions, packets and their timing.

The media router hands the recorder every forwarded encoded packet; this module
holds the small interface the recorder implements (``TrackSink``) and the facts
about a track and its codec the recorder needs (keyframes, RTP clock wrap).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import av

AUDIO_SOURCES = frozenset({"microphone", "interpretation"})
VIDEO_SOURCES = frozenset({"camera", "screen"})
RTP_WRAP = 1 << 32


@dataclasses.dataclass(frozen=True)
class TrackInfo:
    """One published track as the recorder sees it (ids are the media layer's)."""

    id: str
    participant: str
    source: str  # "camera", "screen", "microphone" or "interpretation"
    kind: str  # "audio" or "video"
    codec: str  # "vp8", "h264" or "opus"
    clock_rate: int
    language: str | None = None  # the channel language of an interpretation track
    name: str = ""  # the participant's display name
    role: str | None = None  # the participant's role (trainer, trainee, interpreter...)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrackInfo:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclasses.dataclass(frozen=True)
class SenderReport:
    """An RTCP sender report: the sender's wall clock (epoch seconds) at an RTP timestamp."""

    ntp_time: float
    rtp_timestamp: int


class TrackSink(Protocol):
    """A consumer of forwarded media (the recorder). Calls come from the event loop, in order."""

    def on_track(self, track: TrackInfo) -> None:
        """A track appeared; its packets follow under ``track.id``."""
        ...

    def on_packet(self, track_id: str, packet: av.Packet) -> None:
        """One encoded frame. The packet may be shared with other consumers: only read it."""
        ...

    def on_sender_report(self, track_id: str, report: SenderReport) -> None: ...

    def on_track_ended(self, track_id: str) -> None: ...


def is_keyframe(codec: str, data: bytes) -> bool:
    """Whether an encoded frame can be decoded on its own, read from the codec's own header."""
    if not data:
        return False
    if codec == "vp8":
        return not data[0] & 1  # the frame tag's P bit: 0 means a key frame
    if codec == "h264":
        return any(nal in (5, 7) for nal in _h264_nal_types(data))
    return True  # audio frames stand alone


def _h264_nal_types(data: bytes) -> list[int]:
    """NAL unit types of an Annex B access unit (start codes 00 00 01 / 00 00 00 01)."""
    types = []
    start = data.find(b"\x00\x00\x01")
    while start != -1 and start + 3 < len(data):
        types.append(data[start + 3] & 0x1F)
        start = data.find(b"\x00\x00\x01", start + 3)
    return types


class RtpClock:
    """Turns 32-bit RTP timestamps that wrap around into one ever-growing count."""

    def __init__(self) -> None:
        self.last: int | None = None
        self.cycles = 0

    def unwrap(self, timestamp: int) -> int:
        if not 0 <= timestamp < RTP_WRAP:  # already extended by the sender of the packet
            return timestamp
        if self.last is not None:
            delta = timestamp - self.last
            if delta < -(RTP_WRAP >> 1):
                self.cycles += 1
            elif delta > RTP_WRAP >> 1 and self.cycles:
                # a late packet from before the last wrap: do not move the clock back
                return timestamp + (self.cycles - 1) * RTP_WRAP
        self.last = timestamp
        return timestamp + self.cycles * RTP_WRAP

    def extend(self, timestamp: int) -> int:
        """The extended value nearest to the clock now, without moving it (for reports)."""
        if not 0 <= timestamp < RTP_WRAP or self.last is None:
            return timestamp
        current = self.last + self.cycles * RTP_WRAP
        candidate = timestamp + self.cycles * RTP_WRAP
        if candidate - current > RTP_WRAP >> 1:
            candidate -= RTP_WRAP
        elif current - candidate > RTP_WRAP >> 1:
            candidate += RTP_WRAP
        return candidate
