"""The codecs media is forwarded in (Opus, H.264, VP8) and what forwarding reads from their bytes.

The server never decodes: it only needs to know where a frame starts, whether it
is a keyframe, and which codec capability to negotiate on each side so that the
publisher's bytes can be handed to every viewer unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from aiortc import RTCRtpCodecCapability, RTCRtpSender

from media.tracks import AUDIO_CODEC, CLOCK_RATES, H264, VIDEO_CODECS, VP8, codec_name

#: Constrained baseline first: what browsers send and every decoder takes.
H264_PROFILES = ("42e01f", "42001f")

_NAL_FU_A = 28


@dataclasses.dataclass(frozen=True)
class Codec:
    """A negotiated codec: its name (``opus``, ``h264``, ``vp8``) and aiortc capability."""

    name: str
    capability: RTCRtpCodecCapability

    @property
    def kind(self) -> str:
        return "audio" if self.name == AUDIO_CODEC else "video"

    @property
    def clock_rate(self) -> int:
        return CLOCK_RATES[self.name]

    def preferences(self) -> list[RTCRtpCodecCapability]:
        """For ``setCodecPreferences``: this codec only, with retransmission for video."""
        prefs = [self.capability]
        if self.kind == "video":
            prefs += [c for c in RTCRtpSender.getCapabilities("video").codecs if c.name == "rtx"]
        return prefs

    def matches(self, other: Codec) -> bool:
        return self.capability.mimeType.lower() == other.capability.mimeType.lower() and (
            self.capability.parameters == other.capability.parameters
        )


def codec_named(name: str) -> Codec:
    """The capability aiortc would negotiate for a codec name (H.264: constrained baseline)."""
    name = codec_name(name)
    kind = "audio" if name == AUDIO_CODEC else "video"
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    candidates = [c for c in capabilities if codec_name(c.name) == name]
    if name == H264:
        order = {profile: i for i, profile in enumerate(H264_PROFILES)}
        candidates = sorted(
            (c for c in candidates if str(c.parameters.get("profile-level-id")) in order),
            key=lambda c: order[str(c.parameters.get("profile-level-id"))],
        )
    if not candidates:
        raise ValueError(f"aiortc cannot forward {name}")
    return Codec(name, candidates[0])


def h264_profile(parameters: Mapping[str, object]) -> str:
    return str(parameters.get("profile-level-id", "42e01f")).lower()


def h264_family(profile: str) -> str:
    """The profile aiortc negotiates for an offered one: encoders write the same baseline
    profile with other constraint flags and levels (``42c01e``, ``4240 1f``): constrained
    baseline (constraint_set1) is ``42e01f``, plain baseline ``42001f``; others as given."""
    try:
        idc, flags = int(profile[:2], 16), int(profile[2:4], 16)
    except ValueError:
        return profile
    if idc != 0x42:
        return profile
    return H264_PROFILES[0] if flags & 0x40 else H264_PROFILES[1]


def offered_video_codecs(
    offered: Iterable[tuple[str, Mapping[str, object]]],
) -> dict[str, Codec]:
    """The forwardable video codecs among an offer's (name, fmtp parameters) pairs, by our name."""
    found: dict[str, Codec] = {}
    for offered_name, parameters in offered:
        name = codec_name(offered_name)
        if name == VP8 and VP8 not in found:
            found[VP8] = codec_named(VP8)
        elif name == H264 and H264 not in found:
            if str(parameters.get("packetization-mode", "0")) != "1":
                continue
            profile = h264_family(h264_profile(parameters))
            for capability in RTCRtpSender.getCapabilities("video").codecs:
                if capability.name == "H264" and h264_profile(capability.parameters) == profile:
                    found[H264] = Codec(H264, capability)
                    break
    return found


def choose_video_codec(offered: dict[str, Codec], viewers: Iterable[frozenset[str]]) -> Codec:
    """H.264 when the publisher offers it and every viewer can decode it, else VP8."""
    viewers = list(viewers)
    for name in VIDEO_CODECS:
        if name in offered and all(name in codecs for codecs in viewers):
            return offered[name]
    if VP8 in offered:
        return offered[VP8]
    if offered:
        return next(iter(offered.values()))
    raise ValueError("the offer has neither VP8 nor H.264 (packetization-mode 1) video")


def starts_frame(codec: str, payload: bytes) -> bool:
    """Whether an RTP payload (before depayloading) holds the first bytes of a frame.

    VP8: the S bit with partition index 0 (RFC 7741). H.264: anything but the middle
    or end of a fragmented NAL unit (RFC 6184).
    """
    if not payload:
        return False
    if codec == VP8:
        return bool(payload[0] & 0x10) and payload[0] & 0x0F == 0
    if codec == H264:
        if payload[0] & 0x1F == _NAL_FU_A:
            return len(payload) > 1 and bool(payload[1] & 0x80)
        return True
    return True
