"""The vocabulary of tracks, shared by media and recordings: no aiortc, no PyAV.

- Sources: what a participant publishes (``SOURCE_KINDS``).
- Codec names: always lower case (``opus``, ``vp8``, ``h264``), as ffmpeg and the
  recordings' journals spell them. Names from elsewhere (SDP and aiortc say ``VP8``,
  ``H264``; browsers list what they decode the same way) go through ``codec_name``
  where they come in.
- ``TrackInfo``: a published track; ``SenderReport``: an RTCP sender report on a
  track's clock.
- ``is_keyframe``: whether an encoded frame decodes on its own.
- ``RtpClock``: 32-bit RTP timestamps, which wrap, as one growing count.
"""

from __future__ import annotations

import dataclasses
from typing import Any

#: What each published source carries.
SOURCE_KINDS: dict[str, str] = {
    "camera": "video",
    "screen": "video",
    "microphone": "audio",
    "interpretation": "audio",
    "booth": "audio",
    "signing": "video",  # a sign-language interpreter, into their channel
}

OPUS = "opus"
VP8 = "vp8"
H264 = "h264"
AUDIO_CODEC = OPUS
VIDEO_CODECS = (H264, VP8)  # in order of preference
CLOCK_RATES = {OPUS: 48000, H264: 90000, VP8: 90000}

RTP_WRAP = 1 << 32
NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900 (NTP) to 1970 (Unix)

_NAL_IDR = 5
_NAL_SPS = 7


def codec_name(name: str) -> str:
    """A codec name as this project spells it (``"VP8"`` from SDP is ``"vp8"``)."""
    return name.lower()


@dataclasses.dataclass(frozen=True)
class TrackInfo:
    """A published track: ``id`` is ``"<participant>/<source>"``, unique in the room.

    The media layer fills in the first six fields; the recorder adds what the room
    knows of the publisher (display name, role, an interpreter's channel language).
    """

    id: str
    participant: str
    source: str  # camera, screen, microphone, interpretation, booth
    kind: str  # audio or video
    codec: str  # "opus", "vp8" or "h264"
    clock_rate: int  # RTP clock: 48000 for Opus, 90000 for video
    language: str | None = None  # the channel language of an interpretation track
    name: str = ""  # the participant's display name
    role: str | None = None  # the participant's role (trainer, trainee, interpreter...)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrackInfo:
        """Read back ``to_json`` (unknown keys are left out; a codec name in any case)."""
        names = {f.name for f in dataclasses.fields(cls)}
        info = cls(**{k: v for k, v in data.items() if k in names})
        return dataclasses.replace(info, codec=codec_name(info.codec))


@dataclasses.dataclass(frozen=True)
class SenderReport:
    """An RTCP sender report: at ``ntp_time`` (Unix seconds) the track's clock read
    ``rtp_timestamp`` on the scale of its packets' ``pts``; ``wire_rtp_timestamp`` is
    the 32-bit value the publisher sent."""

    ntp_time: float
    rtp_timestamp: int
    wire_rtp_timestamp: int

    @property
    def ntp_timestamp(self) -> int:
        """``ntp_time`` as RTCP writes it: 64-bit NTP, seconds since 1900 in 32.32 fixed point."""
        return round((self.ntp_time + NTP_UNIX_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def is_keyframe(codec: str, data: bytes) -> bool:
    """Whether an encoded frame can be decoded on its own (audio frames always can).

    VP8: the inverse key-frame bit of the frame tag (RFC 6386 section 9.1).
    H.264 (Annex B, as aiortc depayloads it): an IDR slice or a sequence parameter set.
    """
    if codec == VP8:
        return bool(data) and not data[0] & 1
    if codec == H264:
        position = data.find(b"\x00\x00\x01")
        while position != -1 and position + 3 < len(data):
            nal_type = data[position + 3] & 0x1F
            if nal_type in (_NAL_IDR, _NAL_SPS):
                return True
            position = data.find(b"\x00\x00\x01", position + 3)
        return False
    return True


class RtpClock:
    """RTP timestamps as one growing count: each is taken as the value nearest (within half
    the 32-bit wrap) to the last one, so wrapped 32-bit timestamps and already extended
    ones both come out right, and a late packet gets the earlier value it stands for.

    The count starts at the first timestamp, or at 0 with ``from_zero``.
    """

    def __init__(self, *, from_zero: bool = False) -> None:
        self.origin: int | None = None  # the first timestamp
        self._from_zero = from_zero
        self._last = 0
        self._value = 0

    def unwrap(self, timestamp: int) -> int:
        if self.origin is None:
            self.origin = self._last = timestamp
            self._value = 0 if self._from_zero else timestamp
            return self._value
        delta = (timestamp - self._last) & 0xFFFFFFFF
        if delta >= 1 << 31:
            delta -= 1 << 32
        self._value += delta
        self._last = timestamp
        return self._value

    def peek(self, timestamp: int) -> int:
        """Where a timestamp falls now, without moving the clock (for sender reports)."""
        if self.origin is None:
            return 0 if self._from_zero else timestamp
        delta = (timestamp - self._last) & 0xFFFFFFFF
        if delta >= 1 << 31:
            delta -= 1 << 32
        return self._value + delta
