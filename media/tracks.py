"""The vocabulary of tracks, shared by media and recordings: no aiortc, no PyAV.

- Sources: what a participant publishes (``SOURCE_KINDS``).
- Codec names: always lower case (``opus``, ``vp8``, ``h264``), as ffmpeg and the
  recordings' journals spell them. Names from elsewhere (SDP and aiortc say ``VP8``,
  ``H264``; browsers list what they decode the same way) go through ``codec_name``
  where they come in.
- ``TrackInfo``: a published track; ``SenderReport``: an RTCP sender report on a
  track's clock.
- ``is_keyframe``: whether an encoded frame decodes on its own; ``frame_size``: a
  keyframe's picture size, from its header (VP8) or sequence parameter set (H.264).
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
#: H.264 profiles whose sequence parameter sets carry chroma format, bit depths, scaling lists.
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})
#: ChromaArrayType (0: monochrome or separate colour planes) -> SubWidthC, SubHeightC.
_CHROMA_SUBSAMPLING = {0: (1, 1), 1: (2, 2), 2: (2, 1), 3: (1, 1)}


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


def frame_size(codec: str, data: bytes) -> tuple[int, int] | None:
    """A keyframe's picture size, ``(width, height)`` in pixels; None for any other frame,
    a truncated or malformed one, or a codec it does not know. Never raises.

    VP8: the key frame's start code and sizes after the frame tag (RFC 6386 section 9.1).
    H.264 (Annex B): the sequence parameter set of a frame that has one and an IDR slice
    (ITU-T H.264 section 7.3.2.1.1), less the frame cropping.
    """
    if codec == VP8:
        if len(data) < 10 or data[0] & 1 or data[3:6] != b"\x9d\x01\x2a":
            return None
        width = int.from_bytes(data[6:8], "little") & 0x3FFF  # the top 2 bits: scaling
        height = int.from_bytes(data[8:10], "little") & 0x3FFF
        return (width, height) if width and height else None
    if codec != H264:
        return None
    sps, idr = None, False
    position = data.find(b"\x00\x00\x01")
    while position != -1:
        end = data.find(b"\x00\x00\x01", position + 3)
        nal_type = data[position + 3] & 0x1F if position + 3 < len(data) else 0
        if nal_type == _NAL_SPS and sps is None:
            sps = data[position + 4 : len(data) if end == -1 else end]
        idr = idr or nal_type == _NAL_IDR
        position = end
    if sps is None or not idr:
        return None
    try:  # the payload without its emulation prevention bytes
        return _sps_size(_Bits(sps.replace(b"\x00\x00\x03", b"\x00\x00")))
    except (IndexError, ValueError):  # truncated, or an exp-Golomb code over 32 bits
        return None


class _Bits:
    """The bits of an RBSP before its stop bit, read in order as ``u(n)``, ``ue(v)`` and
    ``se(v)`` (H.264 sections 7.2, 9.1); IndexError past them, so a cut payload is seen."""

    def __init__(self, rbsp: bytes) -> None:
        self.data = rbsp = rbsp.rstrip(b"\x00")  # trailing zero bytes: not the payload's
        self.end = len(rbsp) * 8 - (rbsp[-1] & -rbsp[-1]).bit_length() if rbsp else 0
        self.position = 0

    def u(self, count: int = 1) -> int:
        if self.position + count > self.end:
            raise IndexError("past the stop bit")
        value = 0
        for _ in range(count):
            value = (value << 1) | ((self.data[self.position >> 3] >> (7 - self.position % 8)) & 1)
            self.position += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while not self.u():
            zeros += 1
            if zeros > 31:
                raise ValueError("exp-Golomb code too long")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code & 1 else -(code // 2)


def _sps_size(bits: _Bits) -> tuple[int, int] | None:
    """The cropped picture size a sequence parameter set (after its NAL header) gives."""
    profile_idc = bits.u(8)
    bits.u(16), bits.ue()  # constraint_set flags, level_idc, seq_parameter_set_id
    chroma_format_idc, separate_colour_planes = 1, 0
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = bits.ue()
        if chroma_format_idc > 3:
            return None
        if chroma_format_idc == 3:
            separate_colour_planes = bits.u()
        bits.ue(), bits.ue(), bits.u()  # bit depths (luma, chroma), qpprime_y_zero_transform
        if bits.u():  # seq_scaling_matrix_present_flag
            for i in range(12 if chroma_format_idc == 3 else 8):
                if bits.u():  # seq_scaling_list_present_flag: 4x4 lists, then 8x8 ones
                    last = following = 8
                    for _ in range(16 if i < 6 else 64):
                        if following:
                            following = (last + bits.se()) % 256
                        last = following or last
    bits.ue()  # log2_max_frame_num_minus4
    pic_order_cnt_type = bits.ue()
    if pic_order_cnt_type == 0:
        bits.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif pic_order_cnt_type == 1:
        bits.u(), bits.se(), bits.se()  # delta_pic_order_always_zero, two offsets
        cycle = bits.ue()
        if cycle > 255:
            return None
        for _ in range(cycle):
            bits.se()  # offset_for_ref_frame
    bits.ue(), bits.u()  # max_num_ref_frames, gaps_in_frame_num_value_allowed_flag
    width_in_mbs, height_in_map_units = bits.ue() + 1, bits.ue() + 1
    frame_mbs_only = bits.u()
    if not frame_mbs_only:
        bits.u()  # mb_adaptive_frame_field_flag
    bits.u()  # direct_8x8_inference_flag
    left, right, top, bottom = (bits.ue() for _ in range(4)) if bits.u() else (0, 0, 0, 0)
    crop_x, crop_y = _CHROMA_SUBSAMPLING[0 if separate_colour_planes else chroma_format_idc]
    crop_y *= 2 - frame_mbs_only  # fields: map units are macroblock pairs
    width = width_in_mbs * 16 - crop_x * (left + right)
    height = (2 - frame_mbs_only) * height_in_map_units * 16 - crop_y * (top + bottom)
    return (width, height) if width > 0 and height > 0 else None


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
