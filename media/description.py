"""Session descriptions from clients: parsed and checked before anything is applied.

No trickle ICE: every description carries all its candidates (aiortc gathers
before ``setLocalDescription`` returns; the browser waits for gathering to end).
A description aiortc would refuse half-way through applying it is refused here
first, with ``BadDescription``, so that a bad one changes nothing.

An m-line is read as JSEP (RFC 9429) and BUNDLE (RFC 9143) define it, not as one
browser writes it. aiortc's parser drops ``a=bundle-only``, so it is read here:

- a port of zero with ``a=bundle-only``, its mid in a BUNDLE group: the m-line shares
  the transport of the group's tagged (first) m-line and is as live as any other.
  Firefox offers every m-line after the first one this way (JSEP 5.2.1, "max-bundle");
- a port of zero without it (or outside any BUNDLE group): rejected, nothing flows
  on it; JSEP gives a stopped transceiver's m-line this port, with any codec at all
  (Firefox leaves PCMU only), and the answer must reject it too (port zero);
- m-lines come in any order and several of one kind: each is known by its mid.

aiortc knows no simulcast either: a video m-line with ``a=simulcast:send`` and its
``a=rid:<id> send`` lines (RFC 8853, RFC 8851) sends one RTP stream per rid, each with
its own SSRC and no ``a=ssrc`` line, marked by the rtp-stream-id header extension. They
are read here (``Description.simulcast``: the rids of each such m-line, in the order
the client lists them, which is smallest first) and taken in the answer
(``accept_simulcast``); ``media.passthrough`` tells the streams apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from aiortc import RTCRtpCodecParameters
from aiortc import sdp as aiortc_sdp
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError

from classroom.errors import ClassroomError
from media.codecs import Codec

MAX_MEDIA_SECTIONS = 16
PLACEHOLDER_PAYLOAD_TYPE = 96
SENDING = ("sendonly", "sendrecv")
#: The most simulcast layers taken on one m-line, and what a rid may look like (RFC 8851:
#: letters, digits, "-" and "_"; short, as every browser writes them).
MAX_LAYERS = 4
RID = re.compile(r"[A-Za-z0-9_-]{1,16}")
AIORTC_ERRORS = (ValueError, InternalError, InvalidAccessError, InvalidStateError, OperationError)


class BadDescription(ClassroomError):
    """A session description from a client is malformed or asks for what is not allowed."""

    code = "invalid"


class Description(aiortc_sdp.SessionDescription):
    """aiortc's reading of a description, with what it drops: which m-lines are bundle-only."""

    bundle_only: frozenset[str] = frozenset()
    #: mid -> the rids it sends in simulcast (two or more), in the client's order
    simulcast: dict[str, tuple[str, ...]]

    @classmethod
    def parse(cls, sdp: str) -> Description:
        description = super().parse(sdp)
        assert isinstance(description, Description)
        _, sections = aiortc_sdp.grouplines(sdp)
        description.bundle_only = frozenset(
            mid
            for lines in sections
            if "a=bundle-only" in (line.strip() for line in lines)
            for mid in _mid(lines)
        )
        description.simulcast = {}
        for lines in sections:
            rids = _simulcast_send(lines)
            mids = _mid(lines)
            if len(rids) > 1 and mids and lines[0].startswith("m=video "):
                description.simulcast[mids[0]] = rids
        return description

    @property
    def bundled(self) -> frozenset[str]:
        """The mids in a BUNDLE group."""
        return frozenset(str(m) for g in self.group if g.semantic == "BUNDLE" for m in g.items)

    def rejected(self, media: aiortc_sdp.MediaDescription) -> bool:
        """Port zero without bundle-only in a BUNDLE group (RFC 9143 7.2.1, JSEP 5.2.2)."""
        mid = media.rtp.muxId
        return media.port == 0 and not (mid in self.bundle_only and mid in self.bundled)

    def sending(self, media: aiortc_sdp.MediaDescription) -> bool:
        """Whether the client sends on the m-line: live, and sendonly or sendrecv."""
        return not self.rejected(media) and media.direction in SENDING

    @property
    def rejected_mids(self) -> set[str]:
        return {str(m.rtp.muxId) for m in self.media if self.rejected(m)}

    def for_aiortc(self, sdp: str, codec_of: Callable[[aiortc_sdp.MediaDescription], Codec]) -> str:
        """The offer as aiortc can apply it: aiortc knows no rejected m-line, and would
        negotiate a codec on one (a stopped transceiver's m-line offers any codec at all)
        and read its transport. So each rejected one is written anew: inactive, with the
        codec its transceiver has (``codec_of``) and the transport of a live m-line.
        Everything else stays as the client wrote it; unchanged when nothing is rejected."""
        live = next((m for m in self.media if not self.rejected(m)), None)
        if not self.rejected_mids or live is None or live.ice is None or live.dtls is None:
            return sdp
        session, sections = aiortc_sdp.grouplines(sdp)
        lines = list(session)
        for media, section in zip(self.media, sections, strict=True):
            if not self.rejected(media):
                lines += section
                continue
            capability = codec_of(media).capability
            codec = RTCRtpCodecParameters(
                mimeType=capability.mimeType,
                clockRate=capability.clockRate,
                channels=capability.channels,
                payloadType=PLACEHOLDER_PAYLOAD_TYPE,
                parameters=dict(capability.parameters),
            )
            lines += [
                f"m={media.kind} 0 {media.profile} {PLACEHOLDER_PAYLOAD_TYPE}",
                "c=IN IP4 0.0.0.0",
                "a=inactive",
                f"a=mid:{media.rtp.muxId}",
                "a=rtcp-mux",
                f"a=rtpmap:{PLACEHOLDER_PAYLOAD_TYPE} {codec}",
                f"a=ice-ufrag:{live.ice.usernameFragment}",
                f"a=ice-pwd:{live.ice.password}",
                *(f"a=fingerprint:{f.algorithm} {f.value}" for f in live.dtls.fingerprints),
                f"a=setup:{aiortc_sdp.DTLS_ROLE_SETUP[live.dtls.role]}",
            ]
            if codec.parameters:
                fmtp = ";".join(f"{k}={v}" for k, v in codec.parameters.items())
                lines.append(f"a=fmtp:{PLACEHOLDER_PAYLOAD_TYPE} {fmtp}")
        return "\r\n".join(line for line in lines if line) + "\r\n"


def _simulcast_send(lines: list[str]) -> tuple[str, ...]:
    """The rids an m-line sends in simulcast: the first choice of each stream of its
    ``a=simulcast:send`` list that an ``a=rid:<id> send`` line declares (a paused one,
    ``~``, too: the client may start it later); () when it has none or a malformed list."""
    declared = set()
    listed: list[str] = []
    for raw in lines:
        line = raw.strip()
        if m := re.fullmatch(r"a=rid:(\S+) send(?: .*)?", line):
            declared.add(m.group(1))
        elif line.startswith("a=simulcast:"):
            words = line[len("a=simulcast:") :].split()
            for direction, streams in zip(words[::2], words[1::2], strict=False):
                if direction == "send":
                    listed = [s.split(",")[0].lstrip("~") for s in streams.split(";")]
    rids = tuple(dict.fromkeys(r for r in listed if RID.fullmatch(r) and r in declared))
    return rids[:MAX_LAYERS] if len(rids) == len(listed) else ()


def accept_simulcast(answer: str, layers: dict[str, tuple[str, ...]]) -> str:
    """The answer taking each m-line's simulcast layers (``a=rid:<id> recv`` and
    ``a=simulcast:recv``; RFC 8853 5.3), for ``layers``: mid -> rids."""
    if not layers:
        return answer
    session, sections = aiortc_sdp.grouplines(answer)
    lines = list(session)
    for section in sections:
        mids = _mid(section)
        rids = layers.get(mids[0]) if mids else None
        if rids:
            section = _start_bitrate(section)
        lines += section
        if rids:
            lines += [f"a=rid:{rid} recv" for rid in rids]
            lines.append("a=simulcast:recv " + ";".join(rids))
    return "\r\n".join(line for line in lines if line) + "\r\n"


#: What a browser's congestion control starts from on a layered m-line (kbit/s), against
#: its default of 300: below what its layers need together, it sends the small ones only
#: and adds the largest seconds later (measured in Chromium: 5.7 s of a recording without
#: the camera's full picture). Its estimate then follows the link as always.
START_BITRATE_KBPS = 1500


def _start_bitrate(section: list[str]) -> list[str]:
    """An m-line's video codecs with ``x-google-start-bitrate`` in their fmtp (Chromium
    reads it from the remote description; others ignore it)."""
    video = [
        m.group(1)
        for line in section
        if (m := re.match(r"a=rtpmap:(\d+) (?!rtx/|red/|ulpfec/)", line, re.I))
    ]
    has_fmtp = {m.group(1) for line in section if (m := re.match(r"a=fmtp:(\d+) ", line))}
    out = []
    for line in section:
        m = re.match(r"a=fmtp:(\d+) ", line)
        if m and m.group(1) in video:
            line = f"{line};x-google-start-bitrate={START_BITRATE_KBPS}"
        out.append(line)
        m = re.match(r"a=rtpmap:(\d+) ", line)
        if m and m.group(1) in video and m.group(1) not in has_fmtp:
            out.append(f"a=fmtp:{m.group(1)} x-google-start-bitrate={START_BITRATE_KBPS}")
    return out


def _mid(lines: list[str]) -> list[str]:
    return [m.group(1) for line in lines if (m := re.match(r"a=mid:(\S+)", line.strip()))]


def parse_description(sdp: str) -> Description:
    """Parse and check what aiortc would otherwise refuse half-way through applying it."""
    try:
        description = Description.parse(sdp)
    except Exception as error:  # the parser raises whatever its input provokes
        raise BadDescription(f"malformed SDP: {error or type(error).__name__}") from None
    if not description.media:
        raise BadDescription("malformed SDP: no media section")
    if len(description.media) > MAX_MEDIA_SECTIONS:
        raise BadDescription(f"at most {MAX_MEDIA_SECTIONS} media sections")
    mids = [media.rtp.muxId for media in description.media]
    if any(not mid for mid in mids) or len(set(mids)) != len(mids):
        raise BadDescription("malformed SDP: every media section needs its own a=mid")
    for group in description.group:
        if group.semantic != "BUNDLE":
            continue
        if any(str(mid) not in mids for mid in group.items):
            raise BadDescription("malformed SDP: a BUNDLE group names an m-line that is not there")
        # The tagged m-line carries the group's transport: it cannot be bundle-only.
        tagged = next((m for m in description.media if m.rtp.muxId == str(group.items[0])), None)
        if tagged is not None and tagged.port == 0:
            raise BadDescription("malformed SDP: the first m-line of a BUNDLE group has port 0")
    for media in description.media:
        if media.kind not in ("audio", "video"):
            raise BadDescription(f"only audio and video are accepted, not {media.kind}")
        if description.rejected(media):
            continue  # nothing flows on it: no transport to check
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise BadDescription("malformed SDP: ICE username fragment or password missing")
        if media.dtls is None or not media.dtls.fingerprints:
            raise BadDescription("malformed SDP: no DTLS fingerprint")
        if not media.rtcp_mux:
            raise BadDescription("malformed SDP: RTCP multiplexing (a=rtcp-mux) is required")
    return description


def reject_in_answer(answer: str, rejected: set[str]) -> str:
    """The answer with the m-lines the offer rejected rejected too (port zero, out of the
    BUNDLE group), as JSEP 5.3.1 requires; aiortc answers every m-line alike."""
    if not rejected:
        return answer
    session, sections = aiortc_sdp.grouplines(answer)
    lines = []
    for line in session:
        if line.startswith("a=group:BUNDLE"):
            kept = [mid for mid in line.split()[1:] if mid not in rejected]
            line = " ".join(["a=group:BUNDLE", *kept])
        lines.append(line)
    for section in sections:
        if set(_mid(section)) & rejected:
            section = [re.sub(r"^(m=\S+) \d+", r"\1 0", section[0]), *section[1:]]
        lines += section
    return "\r\n".join(lines) + "\r\n"


#: What a publisher's Opus encoder is asked for (RFC 7587 fmtp in the answer): fullband at
#: 64 kbit/s (browsers default to 32 kbit/s, where the encoder narrows speech to 8 kHz or
#: less), so 125 Hz to 15 kHz reaches interpreters and listeners (ISO 24019).
OPUS_FMTP = {"maxplaybackrate": "48000", "maxaveragebitrate": "64000", "useinbandfec": "1"}


def opus_fullband(answer: str) -> str:
    """The answer with every Opus payload type's fmtp asking for ``OPUS_FMTP``."""
    lines = answer.split("\r\n")
    opus = [m.group(1) for x in lines if (m := re.match(r"a=rtpmap:(\d+) opus/", x, re.I))]
    given = {m.group(1): m.group(2) for x in lines if (m := re.match(r"a=fmtp:(\d+) (.*)", x))}

    def fmtp(pt: str) -> str:
        params = dict(p.split("=", 1) for p in given.get(pt, "").split(";") if "=" in p)
        return f"a=fmtp:{pt} " + ";".join(f"{k}={v}" for k, v in {**params, **OPUS_FMTP}.items())

    out: list[str] = []
    for line in lines:
        m = re.match(r"a=fmtp:(\d+) ", line)
        if m and m.group(1) in opus:
            continue  # written again after its rtpmap
        out.append(line)
        m = re.match(r"a=rtpmap:(\d+) opus/", line, re.I)
        if m:
            out.append(fmtp(m.group(1)))
    return "\r\n".join(out)


def answer_passive(offer: str) -> str:
    """The offer as if it asked to start DTLS itself (``a=setup:actpass`` read as
    ``active``), so the answer says ``passive`` and the offerer begins the handshake when
    it is ready. A WHIP encoder applies the answer only once the HTTP reply is back: a
    handshake the server began before that is refused by some (GStreamer's webrtcbin)."""
    return re.sub(
        r"(?m)^a=setup:actpass\r?$", lambda m: m.group(0).replace("actpass", "active"), offer
    )
