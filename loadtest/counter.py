"""Receivers that count packets, frames and losses of streams instead of decoding them.

A ``Tap`` takes RTP packets off a peer connection's ICE connection as they arrive,
before DTLS/SRTP, and reads their 12-byte header, which SRTP leaves in the clear:
a simulated viewer costs no decryption, no header-extension parsing, no jitter
buffer, no depacketizing and no decoder, so that one load generator can keep up
with a server forwarding to hundreds of viewers. (Everything else, STUN, DTLS
and RTCP, goes on to aiortc as usual.) A video frame is counted when its last
packet (the RTP marker bit) arrives; an audio packet is a frame; a frame is counted
once, when it is newer (by RTP timestamp) than the last one counted, so that a
packet that arrives twice or late adds no frame. Byte counts are of the SRTP payload
(after any header extensions) less its 10-byte authentication tag. The packets'
contents are not checked here: the browser tests check that real viewers decode them.
A packet belongs to the m-line whose SSRC the remote description signals
(``a=ssrc``), as a browser demultiplexes a bundle; an SSRC no m-line signals
belongs to the one m-line that signals none and has its payload type, else to
none (counted as unrouted). Nothing is guessed from the payload type among
m-lines that signal their SSRCs: with several m-lines of one codec (a room with
several publishers), aiortc's own router guesses so while a new m-line's receiver
is still starting, and keeps the guess; one counter then got two streams and
another none.
``Tap`` relies on private parts of aiortc and aioice (the ICE transport's
``_connection`` and its ``data_received``); they are pinned, and
tests/loadtest/test_media.py fails if they move.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.sdp import SessionDescription

SEQ_MOD = 1 << 16
TS_MOD = 1 << 32
SRTP_TAG = 10  # bytes of authentication tag after an SRTP payload (AES-CM, HMAC-SHA1-80)


@dataclasses.dataclass(frozen=True)
class Reading:
    """A counter's totals at one moment, to take rates between two readings."""

    at: float
    packets: int
    frames: int
    bytes: int
    expected: int


class StreamCounter:
    """Packets, bytes, frames and sequence gaps of the RTP stream(s) one receiver gets."""

    def __init__(self, kind: str, clock: Any = time.monotonic) -> None:
        self.kind = kind
        self.clock = clock
        self.packets = 0
        self.bytes = 0
        self.frames = 0
        self.first_at: float | None = None
        self.first_frame_at: float | None = None
        self.last_at: float | None = None
        # Per SSRC: (first extended sequence number, highest extended sequence number).
        self._sequences: dict[int, tuple[int, int]] = {}
        self._frame_ts: dict[int, int] = {}  # per SSRC: the RTP timestamp of the last frame

    def count(self, ssrc: int, sequence: int, marker: int, size: int, timestamp: int) -> None:
        now = self.clock()
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        self.packets += 1
        self.bytes += size
        if self.kind != "video" or marker:
            last = self._frame_ts.get(ssrc)
            # Newer than the last frame (modulo 2**32): not a duplicate nor a late packet.
            if last is None or 0 < (timestamp - last) % TS_MOD < TS_MOD // 2:
                self._frame_ts[ssrc] = timestamp
                self.frames += 1
                if self.first_frame_at is None:
                    self.first_frame_at = now
        known = self._sequences.get(ssrc)
        if known is None:
            self._sequences[ssrc] = (sequence, sequence)
            return
        first, highest = known
        # Unwrap the 16-bit number to the extended one nearest the highest seen.
        delta = (sequence - highest) % SEQ_MOD
        if delta >= SEQ_MOD // 2:
            delta -= SEQ_MOD
        extended = highest + delta
        if extended > highest:
            self._sequences[ssrc] = (first, extended)
        elif extended < first:
            self._sequences[ssrc] = (extended, highest)

    @property
    def expected(self) -> int:
        """Packets the sender numbered between the first and the highest seen."""
        return sum(highest - first + 1 for first, highest in self._sequences.values())

    @property
    def lost(self) -> int:
        # Duplicates can make received exceed expected; that is no negative loss.
        return max(0, self.expected - self.packets)

    def reading(self) -> Reading:
        return Reading(self.clock(), self.packets, self.frames, self.bytes, self.expected)


def rates(before: Reading, after: Reading) -> dict[str, float]:
    """Frames and packets a second, bits a second and the lost fraction between two readings."""
    span = after.at - before.at
    if span <= 0:
        return {"fps": 0.0, "pps": 0.0, "bps": 0.0, "loss": 0.0}
    expected = after.expected - before.expected
    received = after.packets - before.packets
    return {
        "fps": (after.frames - before.frames) / span,
        "pps": received / span,
        "bps": (after.bytes - before.bytes) * 8 / span,
        "loss": max(0, expected - received) / expected if expected > 0 else 0.0,
    }


class Tap:
    """Counts the RTP arriving at one peer connection, per receiver, in place of decoding it.

    Install it after ``setRemoteDescription`` (the transport exists then, and the
    offer says which SSRC each m-line carries) and before the answer is sent, so
    that no packet can arrive before its counter; ``install`` again after each
    later ``setRemoteDescription``.
    """

    def __init__(self, pc: RTCPeerConnection, clock: Any = time.monotonic) -> None:
        self.pc = pc
        self.clock = clock
        self.counters: dict[RTCRtpReceiver, StreamCounter] = {}
        self.unrouted = 0  # packets of an SSRC no m-line signals
        self._by_ssrc: dict[int, StreamCounter] = {}
        # Payload type -> the one m-line that signals no SSRC and has it (None: several).
        self._by_type: dict[int, StreamCounter | None] = {}
        self._hooked = False
        self.install()

    def install(self) -> None:
        """Counters for new m-lines, and each signalled SSRC to its m-line's counter."""
        by_mid = {}
        for transceiver in self.pc.getTransceivers():
            transport = transceiver.receiver.transport
            if transport is not None and not self._hooked:
                self._hooked = True
                self._hook(transport.transport._connection)
            if transceiver.receiver not in self.counters:
                self.counters[transceiver.receiver] = StreamCounter(transceiver.kind, self.clock)
            if transceiver.mid is not None:
                by_mid[transceiver.mid] = self.counters[transceiver.receiver]
        description = self.pc.remoteDescription
        if description is None:
            return
        self._by_type = {}
        for media in SessionDescription.parse(description.sdp).media:
            counter = by_mid.get(media.rtp.muxId or "")
            ssrc = primary_ssrc(media)
            if counter is None:
                continue
            if ssrc is not None:
                self._by_ssrc[ssrc] = counter
                continue
            for codec in media.rtp.codecs:
                if codec.payloadType is not None:
                    known = self._by_type.get(codec.payloadType, counter)
                    self._by_type[codec.payloadType] = counter if known is counter else None

    def _hook(self, connection: Any) -> None:
        """Count RTP as the ICE connection receives it; pass everything else on."""
        # aioice's protocol calls connection.data_received(data, component) for every
        # datagram that is not STUN; an instance attribute shadows the method.
        passed_on = connection.data_received

        def data_received(data: bytes, component: int) -> None:
            # RTP: version 2, and not RTCP (packet types 192-223 in the second byte).
            if len(data) >= 12 and 127 < data[0] < 192 and not 191 < data[1] < 224:
                self._on_rtp(data)
            else:
                passed_on(data, component)

        connection.data_received = data_received

    def counter(self, receiver: RTCRtpReceiver) -> StreamCounter:
        return self.counters[receiver]

    def _on_rtp(self, data: bytes) -> None:
        ssrc = int.from_bytes(data[8:12], "big")
        counter = self._by_ssrc.get(ssrc)
        if counter is None:
            counter = self._by_type.get(data[1] & 0x7F)
            if counter is None:
                self.unrouted += 1
                return
            self._by_ssrc[ssrc] = counter
        header = 12 + 4 * (data[0] & 0x0F)
        if data[0] & 0x10 and len(data) >= header + 4:  # header extensions (send time)
            header += 4 + 4 * int.from_bytes(data[header + 2 : header + 4], "big")
        size = len(data) - header - SRTP_TAG
        counter.count(
            ssrc,
            int.from_bytes(data[2:4], "big"),
            data[1] >> 7,
            size,
            int.from_bytes(data[4:8], "big"),
        )


def primary_ssrc(media: Any) -> int | None:
    """The SSRC of an m-line's media (not of its retransmissions), if it signals one."""
    for group in media.ssrc_group:
        if group.semantic == "FID" and group.items:
            return int(group.items[0])
    return media.ssrc[0].ssrc if media.ssrc else None
