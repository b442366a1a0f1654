"""The private parts of aiortc, aioice and pylibsrtp that media forwarding relies on, checked
at start-up.

Forwarding without decoding reaches past these libraries' public interfaces (see
``passthrough``, ``wire``, ``publisher`` and ``subscriber``): a receiver's jitter buffer
and RTCP handler, a sender's counters for its sender reports, its retransmission and
keyframe hooks, the DTLS transport's SRTP session, aioice's nominated pair. Such names
move between releases without notice, and an assignment to a renamed method fails
silently. The three libraries are pinned exactly in pyproject.toml; ``check`` verifies
the installed versions and every name here, so that a server with anything else refuses
to start with a message instead of failing at the first publish.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from typing import Any

import aioice.turn
from aioice import Connection
from aiortc import RTCDtlsTransport, RTCRtpReceiver, RTCRtpSender
from aiortc import codecs as aiortc_codecs
from aiortc.rtcdtlstransport import RtpRouter
from aiortc.rtcrtpparameters import (
    RTCRtpCodecCapability,
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
)

#: The releases these seams were read from (pyproject.toml pins the same).
VERSIONS = {"aiortc": "1.16.0", "aioice": "0.13.0", "pylibsrtp": "1.0.0"}

#: Receiver: the jitter buffer replaced by ours (frames stay encoded).
JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
#: Sender: the figures its RTCP sender reports are made from, kept true by the wire.
PACKET_COUNT = "_RTCRtpSender__packet_count"
OCTET_COUNT = "_RTCRtpSender__octet_count"
RTP_TIMESTAMP = "_RTCRtpSender__rtp_timestamp"
NTP_TIMESTAMP = "_RTCRtpSender__ntp_timestamp"
#: Sender: the middle of its last sender report's NTP time and when it went (wall clock),
#: which a viewer's receiver report echoes (LSR, DLSR): the round trip to the viewer.
LAST_REPORT = "_RTCRtpSender__lsr"
LAST_REPORT_AT = "_RTCRtpSender__lsr_time"
#: Receiver: its NACK generator (one sequence space) and its map of RTX SSRC -> media SSRC,
#: both made per simulcast layer by ``media.passthrough``.
NACK_GENERATOR = "_RTCRtpReceiver__nack_generator"
RTX_SSRC = "_RTCRtpReceiver__rtx_ssrc"
#: The header extensions a simulcast publisher marks its layers' streams with (RFC 8852).
RTP_STREAM_ID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
REPAIRED_RTP_STREAM_ID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"

# (class, attribute, what we do with it). Methods must exist on the class; attributes
# set on instances must be named by the class's own code.
_METHODS: tuple[tuple[type[Any], str, str], ...] = (
    (RTCRtpReceiver, "_handle_rtcp_packet", "sender reports of a publisher are read"),
    (RTCRtpReceiver, "_send_rtcp_pli", "keyframes are asked of a publisher"),
    (RTCRtpSender, "_retransmit", "a viewer's NACKs are answered from our history"),
    (RTCRtpSender, "_send_keyframe", "a viewer's PLI/FIR is passed to the publisher"),
    (RTCRtpSender, "_handle_rtcp_packet", "a viewer's receiver reports give its loss"),
    (RTCRtpReceiver, "_send_rtcp", "a publisher is told its viewers' loss (for Opus FEC)"),
    (RtpRouter, "route_rtp", "a simulcast layer's stream finds its m-line by its mid"),
)
_ATTRIBUTES: tuple[tuple[type[Any], str, str], ...] = (
    (RTCRtpReceiver, JITTER_BUFFER, "frames are handed on encoded"),
    (RTCRtpSender, PACKET_COUNT, "sender reports count forwarded packets"),
    (RTCRtpSender, OCTET_COUNT, "sender reports count forwarded bytes"),
    (RTCRtpSender, RTP_TIMESTAMP, "sender reports carry the forwarded RTP time"),
    (RTCRtpSender, NTP_TIMESTAMP, "sender reports carry the forwarded wall time"),
    (RTCRtpSender, LAST_REPORT, "a viewer's round trip is measured (its link's queue)"),
    (RTCRtpSender, LAST_REPORT_AT, "a viewer's round trip is measured (its link's queue)"),
    (RTCRtpReceiver, NACK_GENERATOR, "each simulcast layer's losses are asked for again"),
    (RTCRtpReceiver, RTX_SSRC, "each simulcast layer's retransmissions are unwrapped"),
    (RtpRouter, "mid_table", "a simulcast layer's stream finds its m-line by its mid"),
    (RtpRouter, "ssrc_table", "a simulcast layer's stream is routed by its SSRC from then on"),
    (RTCRtpSender, "_ssrc", "the wire sends with the sender's SSRC"),
    (RTCRtpSender, "_stream_id", "a reused m-line gets a new stream id"),
    (RTCDtlsTransport, "_tx_srtp", "the wire encrypts with the connection's SRTP session"),
    (Connection, "_nominated", "the wire sends to the nominated ICE pair"),
    (Connection, "UDP_SOCKET_BUFFER_SIZE", "each ICE socket's receive buffer is sized up"),
)


class SeamMissing(RuntimeError):
    """An installed library lacks a private part forwarding relies on."""


def _named_by(cls: type[Any]) -> set[str]:
    names: set[str] = set()
    for value in vars(cls).values():
        function = inspect.unwrap(value) if callable(value) else None
        code = getattr(function, "__code__", None)
        if code is not None:
            names.update(code.co_names)
    return names


def problems() -> list[str]:
    """Every difference from what forwarding was written against, as sentences."""
    found = []
    for package, wanted in VERSIONS.items():
        try:
            installed = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            installed = "none"
        if installed != wanted:
            found.append(f"{package} {installed} is installed, forwarding needs {wanted}")
    for cls, name, why in _METHODS:
        if not callable(getattr(cls, name, None)):
            found.append(f"{cls.__name__}.{name} is missing ({why})")
    for cls, name, why in _ATTRIBUTES:
        if name not in _named_by(cls):
            found.append(f"{cls.__name__} no longer sets {name} ({why})")
    if not isinstance(getattr(aioice.turn, "UDP_SOCKET_BUFFER_SIZE", None), int):
        found.append("aioice.turn.UDP_SOCKET_BUFFER_SIZE is gone (ICE sockets' buffers)")
    if not isinstance(getattr(aiortc_codecs, "CODECS", None), dict):
        found.append("aiortc.codecs.CODECS is gone (redundant audio's codec)")
    if not isinstance(getattr(aiortc_codecs, "HEADER_EXTENSIONS", None), dict):
        found.append("aiortc.codecs.HEADER_EXTENSIONS is gone (simulcast layers' stream ids)")
    try:
        from pylibsrtp import Session
        from pylibsrtp._binding import lib
    except ImportError as error:
        found.append(f"pylibsrtp's binding cannot be imported ({error})")
    else:
        if not hasattr(lib, "srtp_protect") or "_srtp" not in _named_by(Session):
            found.append("pylibsrtp no longer exposes srtp_protect and Session._srtp")
    return found


def negotiate_stream_ids() -> None:
    """Let aiortc negotiate the rtp-stream-id and repaired-rtp-stream-id header extensions
    on video m-lines (it parses both, but offers and answers neither): a simulcast
    publisher's layers are told apart by them. Idempotent; ``media.publisher`` calls it."""
    video = aiortc_codecs.HEADER_EXTENSIONS["video"]
    # One id means one extension across a BUNDLE group's m-lines (RFC 8285): none of audio's.
    used = {e.id for kind in aiortc_codecs.HEADER_EXTENSIONS.values() for e in kind}
    for uri in (RTP_STREAM_ID, REPAIRED_RTP_STREAM_ID):
        if all(extension.uri != uri for extension in video):
            free = next(i for i in range(1, 15) if i not in used)
            used.add(free)
            video.append(RTCRtpHeaderExtensionParameters(id=free, uri=uri))


#: The payload type offered for redundant audio (browsers use the same).
RED_PAYLOAD_TYPE = 63


def negotiate_red() -> RTCRtpCodecCapability:
    """Let aiortc negotiate the ``red`` audio codec (RFC 2198) beside Opus, whose payload
    type its ``fmtp`` names (``a=fmtp:63 96/96``); its capability, for a subscribe
    m-line's codec preferences. aiortc never encodes or decodes it: its senders on
    subscribe connections send nothing of their own (``media.wire``), and publish
    connections are offered Opus alone. Idempotent."""
    audio = aiortc_codecs.CODECS["audio"]
    opus = next(c for c in audio if c.mimeType.lower() == "audio/opus")
    fmtp = f"{opus.payloadType}/{opus.payloadType}"
    if all(c.mimeType.lower() != "audio/red" for c in audio):
        audio.append(
            RTCRtpCodecParameters(
                mimeType="audio/red",
                clockRate=48000,
                channels=2,
                payloadType=RED_PAYLOAD_TYPE,
                parameters={fmtp: None},
            )
        )
    return RTCRtpCodecCapability(
        mimeType="audio/red", clockRate=48000, channels=2, parameters={fmtp: None}
    )


def check() -> None:
    """Refuse to go on (``SeamMissing``) unless every seam is where forwarding expects it."""
    found = problems()
    if found:
        raise SeamMissing(
            "media forwarding cannot run with the installed libraries: "
            + "; ".join(found)
            + ". Install the versions pyproject.toml pins (`make setup`)."
        )
