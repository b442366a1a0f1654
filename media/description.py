"""Session descriptions from clients: parsed and checked before anything is applied.

No trickle ICE: every description carries all its candidates (aiortc gathers
before ``setLocalDescription`` returns; the browser waits for gathering to end).
A description aiortc would refuse half-way through applying it is refused here
first, with ``BadDescription``, so that a bad one changes nothing.
"""

from __future__ import annotations

from aiortc import sdp as aiortc_sdp
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError

from classroom.errors import ClassroomError

MAX_MEDIA_SECTIONS = 16
SENDING = ("sendonly", "sendrecv")
AIORTC_ERRORS = (ValueError, InternalError, InvalidAccessError, InvalidStateError, OperationError)


class BadDescription(ClassroomError):
    """A session description from a client is malformed or asks for what is not allowed."""

    code = "invalid"


def parse_description(sdp: str) -> aiortc_sdp.SessionDescription:
    """Parse and check what aiortc would otherwise refuse half-way through applying it."""
    try:
        description = aiortc_sdp.SessionDescription.parse(sdp)
    except Exception as error:  # the parser raises whatever its input provokes
        raise BadDescription(f"malformed SDP: {error or type(error).__name__}") from None
    if not description.media:
        raise BadDescription("malformed SDP: no media section")
    if len(description.media) > MAX_MEDIA_SECTIONS:
        raise BadDescription(f"at most {MAX_MEDIA_SECTIONS} media sections")
    mids = [media.rtp.muxId for media in description.media]
    if any(not mid for mid in mids) or len(set(mids)) != len(mids):
        raise BadDescription("malformed SDP: every media section needs its own a=mid")
    for media in description.media:
        if media.kind not in ("audio", "video"):
            raise BadDescription(f"only audio and video are accepted, not {media.kind}")
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise BadDescription("malformed SDP: ICE username fragment or password missing")
        if media.dtls is None or not media.dtls.fingerprints:
            raise BadDescription("malformed SDP: no DTLS fingerprint")
        if not media.rtcp_mux:
            raise BadDescription("malformed SDP: RTCP multiplexing (a=rtcp-mux) is required")
    return description


def sending(media: aiortc_sdp.MediaDescription) -> bool:
    return media.port != 0 and media.direction in SENDING
