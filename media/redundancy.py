"""Redundant audio (RFC 2198) for viewers whose link loses packets: each voice packet
carries the frames before it again, so a lost packet is rebuilt from the next one.

Opus in-band FEC (asked of publishers, ``media.description``) covers a lost packet
only when the publisher's encoder expects loss, at a lower quality, and not two in a
row; a link that overflows (a token bucket's queue, a 4G cell) loses packets in bursts.
Redundancy needs no decoding: the server repeats the Opus frames it already forwards,
a few bytes of header each (``encode``), and the browser's jitter buffer takes the
copy of a frame whose own packet never came. It costs what it repeats: a speaking
voice's packets about 1.5 times as large, a silent one's (a few bytes a frame) next to
nothing. One earlier frame, as Chromium sends it itself: with two, Chromium concealed
as much as without any (2.2-4.2% of samples at 4% loss, against 0.2-1.0% with one;
``tests/net/test_redundant_audio.py``). So it is sent only to a viewer whose
receiver reports say audio is lost (``AudioRedundancy``), and only where the viewer's
answer took the ``red`` codec the server offers beside Opus (Chromium does; a viewer
that does not gets plain Opus). Sans I/O, clock injected.
"""

from __future__ import annotations

import collections
import struct
from collections.abc import Callable, Sequence

#: The codec's name in SDP (``a=rtpmap:<pt> red/48000/2``).
RED = "red"
#: RFC 2198: a redundant block's timestamp offset has 14 bits, its length 10.
MAX_OFFSET = 0x3FFF
MAX_LENGTH = 0x3FF

#: An audio receiver report losing at least this (RTCP fraction, /256; about 1%) turns
#: redundancy on.
SOME_LOSS = 3
#: Redundancy stays on this long after the last report that lost audio.
HOLD_S = 20.0
#: Earlier frames repeated.
FRAMES = 1

_BLOCK = struct.Struct("!BHB")  # F=1 and PT; 14-bit offset and 10-bit length over 3 bytes


def encode(
    payload_type: int, timestamp: int, payload: bytes, earlier: Sequence[tuple[int, bytes]]
) -> bytes:
    """A RED payload: ``earlier`` frames (RTP timestamp, Opus payload; oldest first) then
    the primary one. Frames too old for the 14-bit offset, too long for the 10-bit
    length, empty, or not older than the primary are left out."""
    blocks = [
        (offset, frame)
        for stamp, frame in earlier
        if 0 < (offset := (timestamp - stamp) & 0xFFFFFFFF) <= MAX_OFFSET
        and 0 < len(frame) <= MAX_LENGTH
    ]
    parts = []
    for offset, frame in blocks:
        word = (offset << 10) | len(frame)  # 24 bits: the offset, then the length
        parts.append(_BLOCK.pack(0x80 | payload_type, word >> 8, word & 0xFF))
    parts.append(bytes((payload_type & 0x7F,)))
    parts.extend(frame for _, frame in blocks)
    parts.append(payload)
    return b"".join(parts)


def decode(payload: bytes) -> list[tuple[int, int, bytes]]:
    """The blocks of a RED payload as (payload type, timestamp offset, data), oldest first,
    the primary last with offset 0; raises ValueError for a malformed one."""
    headers: list[tuple[int, int, int]] = []
    at = 0
    while True:
        if at >= len(payload):
            raise ValueError("a RED payload ends inside its headers")
        first = payload[at]
        if not first & 0x80:
            headers.append((first & 0x7F, 0, -1))
            at += 1
            break
        if at + 4 > len(payload):
            raise ValueError("a RED payload ends inside a block header")
        _, high, low = _BLOCK.unpack_from(payload, at)
        word = (high << 8) | low
        headers.append((first & 0x7F, word >> 10, word & MAX_LENGTH))
        at += 4
    blocks = []
    for payload_type, offset, length in headers:
        end = len(payload) if length < 0 else at + length
        if end > len(payload):
            raise ValueError("a RED block is longer than the payload")
        blocks.append((payload_type, offset, payload[at:end]))
        at = end
    return blocks


class Frames:
    """The last few frames an audio outlet sent (its viewer's RTP time), to repeat."""

    __slots__ = ("kept",)

    def __init__(self) -> None:
        self.kept: collections.deque[tuple[int, bytes]] = collections.deque(maxlen=FRAMES)

    def wrap(self, payload_type: int, frames: int, timestamp: int, payload: bytes) -> bytes:
        """This frame as a RED payload with up to ``frames`` earlier ones, and kept."""
        kept = self.kept
        earlier = list(kept)[-frames:] if frames else []
        kept.append((timestamp, payload))
        return encode(payload_type, timestamp, payload, earlier)

    def clear(self) -> None:
        self.kept.clear()


class AudioRedundancy:
    """How many earlier frames a viewer's voices repeat (0 or ``FRAMES``), from the loss
    in the viewer's receiver reports about its audio m-lines.

    A report losing about 1% or more turns it on for ``HOLD_S``. The loss counted is
    before the repair, so a link that still loses keeps it on. Not while the viewer's
    video budget has left out every video there is to see: such a link is too narrow
    for the voices alone, and repeating their frames would overflow it further (six
    voices at 500 kbit/s: 9% of their samples concealed with repeats, 3% without).
    Reordering counts as loss in a report's fraction (a late packet is missing when the
    report is written), which only turns it on where jitter makes late packets anyway:
    the copy in the next packet can stand in for a late one too.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.frames = 0
        #: False while the viewer's link cannot take more than its voices: its video budget
        #: took every video away and still loses (the subscriber says, ``update``).
        self.allowed = True
        self._until = float("-inf")

    def reported(self, fraction_lost: int) -> bool:
        """An audio report block's fraction lost (/256); whether ``frames`` changed."""
        if fraction_lost >= SOME_LOSS:
            self._until = self.clock() + HOLD_S
        return self.update()

    def update(self) -> bool:
        """Let time pass (redundancy lapses ``HOLD_S`` after the last lossy report)."""
        frames = FRAMES if self.allowed and self.clock() < self._until else 0
        changed = frames != self.frames
        self.frames = frames
        return changed
