"""Receiving without decoding: a publisher's RTP reassembled into encoded frames (av.Packet).

aiortc 1.16 reassembles frames in a jitter buffer and decodes them in a worker
thread (``get_decoder`` in ``aiortc.rtcrtpreceiver``). A pass-through decoder at
that seam would still cost a thread hop per frame, and aiortc's jitter buffer
hands on at most one frame per arriving packet (so after a loss the backlog of
one-packet frames, all audio and most screen-share video, never drains), holds
every video frame until the next one starts, and prefetches four audio packets
(80 ms). So ``keep_encoded`` replaces the receiver's jitter buffer, one private
seam further up (``RTCRtpReceiver.__jitter_buffer``; aiortc is pinned): frames
complete on the RTP marker bit and go straight to a callback as ``av.Packet``
with ``pts`` = RTP timestamp (unwrapped, 0 at the first frame), ``time_base`` =
1 / clock rate and the keyframe flag read from the codec header. The decoder
thread then never gets work, so no decoder is ever built. ``keep_encoded`` must
run before the receiver gets its first packet (before the answer is applied).
"""

from __future__ import annotations

import dataclasses
import fractions
import time
from collections.abc import Awaitable, Callable

import av
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import AnyRtcpPacket, RtcpRrPacket, RtcpSrPacket, RtpPacket
from aiortc.utils import uint16_add, uint16_gt

from media.codecs import Codec, starts_frame
from media.seams import JITTER_BUFFER, SeamMissing
from media.tracks import NTP_UNIX_OFFSET, RtpClock, SenderReport, is_keyframe

Deliver = Callable[[av.Packet], None]
#: (sequence number, timestamp, marker, payload, padding bytes, depayloaded payload)
Forward = Callable[[int, int, int, bytes, int, bytes], None]


class Frames:
    """What both assemblers share: the codec, the callback and the timestamp unwrapper."""

    def __init__(self, codec: Codec, deliver: Deliver, forward: Forward | None = None) -> None:
        self.codec = codec
        self.deliver = deliver
        self.forward = forward
        self.unwrapper = RtpClock(from_zero=True)
        self.time_base = fractions.Fraction(1, codec.clock_rate)
        self.ssrc: int | None = None  # the publisher's SSRC, for keyframe requests
        self.late = 0  # packets that came after their frame was handed on

    @property
    def capacity(self) -> int:  # aiortc's JitterBuffer API
        return 0

    def pass_on(self, packet: RtpPacket) -> None:
        """Every packet goes to ``forward`` as it arrives, before frames are assembled."""
        if self.forward is not None:
            self.forward(
                packet.sequence_number,
                packet.timestamp,
                packet.marker,
                packet.payload,
                packet.padding_size,
                packet._data,  # type: ignore[attr-defined]  # set by aiortc's depayload
            )

    def emit(self, data: bytes, timestamp: int, keyframe: bool) -> None:
        packet = av.Packet(data)
        packet.pts = self.unwrapper.unwrap(timestamp)
        packet.time_base = self.time_base
        packet.is_keyframe = keyframe
        self.deliver(packet)


class AudioFrames(Frames):
    """Audio: every RTP packet is one frame, handed on at once; late ones are dropped."""

    def __init__(
        self,
        codec: Codec,
        deliver: Deliver,
        forward: Forward | None = None,
        on_level: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(codec, deliver, forward)
        self.on_level = on_level
        self._last_seq: int | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, None]:
        self.ssrc = packet.ssrc
        self.pass_on(packet)
        data: bytes = packet._data  # type: ignore[attr-defined]  # set by aiortc's depayload
        if not data:
            return False, None
        if self._last_seq is not None and not uint16_gt(packet.sequence_number, self._last_seq):
            self.late += 1
            return False, None
        self._last_seq = packet.sequence_number
        level = packet.extensions.audio_level
        if level is not None and self.on_level is not None:
            self.on_level(level[1])  # RFC 6464: -dBov, 0 loudest, 127 silence
        self.emit(data, packet.timestamp, True)
        return False, None


class VideoFrames(Frames):
    """Video: packets from a frame's first to its marker packet, in sequence, make a frame.

    A missing packet is waited for (the receiver asks for it with a NACK) for
    ``max_wait_s``; then the frame is given up, everything up to the next keyframe
    is dropped, and the receiver sends a PLI. Memory is bounded by ``max_packets``.
    """

    def __init__(
        self,
        codec: Codec,
        deliver: Deliver,
        forward: Forward | None = None,
        max_wait_s: float = 0.5,
        max_packets: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(codec, deliver, forward)
        self.max_wait_s, self.max_packets, self.clock = max_wait_s, max_packets, clock
        self.packets: dict[int, RtpPacket] = {}
        self.next_seq: int | None = None  # where the next frame starts
        self.need_keyframe = True
        self.stalled_since: float | None = None
        self.given_up = 0

    def add(self, packet: RtpPacket) -> tuple[bool, None]:
        self.ssrc = packet.ssrc
        self.pass_on(packet)
        seq = packet.sequence_number
        if self.next_seq is not None and uint16_gt(self.next_seq, seq):
            self.late += 1
            return False, None
        self.packets[seq] = packet
        if self.next_seq is None:
            if not self._can_start(packet):
                if len(self.packets) > self.max_packets:
                    self.packets.clear()
                return False, None
            self._start_at(seq)
        progressed = self._drain()
        now = self.clock()
        if progressed or not self.packets:
            self.stalled_since = now if self.packets else None
            return False, None
        if len(self.packets) > self.max_packets:
            return self._give_up(), None
        if self.stalled_since is None:
            self.stalled_since = now
        elif now - self.stalled_since > self.max_wait_s:
            return self._give_up(), None
        return False, None

    def _give_up(self) -> bool:
        """Drop the incomplete frame; restart at the next keyframe; ask for one (PLI)."""
        self.given_up += 1
        stuck = self.packets.get(self.next_seq) if self.next_seq is not None else None
        if stuck is not None:  # never restart at the frame that could not complete
            ts = stuck.timestamp
            self.packets = {s: p for s, p in self.packets.items() if p.timestamp != ts}
        self.need_keyframe = True
        self.next_seq = None
        self.stalled_since = None
        if self._resync():
            self._drain()
        else:
            self.packets.clear()
        return True

    def _can_start(self, packet: RtpPacket) -> bool:
        data: bytes = packet._data  # type: ignore[attr-defined]
        return starts_frame(self.codec.name, packet.payload) and (
            not self.need_keyframe or is_keyframe(self.codec.name, data)
        )

    def _start_at(self, seq: int) -> None:
        self.next_seq = seq
        self.packets = {s: p for s, p in self.packets.items() if not uint16_gt(seq, s)}

    def _resync(self) -> bool:
        """Restart at the first stored packet that starts a frame (a keyframe if needed)."""
        if not self.packets:
            return False
        ref = next(iter(self.packets))
        for seq in sorted(self.packets, key=lambda s: ((s - ref + 0x8000) & 0xFFFF) - 0x8000):
            if self._can_start(self.packets[seq]):
                self._start_at(seq)
                return True
        return False

    def _drain(self) -> bool:
        """Hand on every complete frame from ``next_seq``; True when at least one was."""
        assert self.next_seq is not None
        progressed = False
        seq = self.next_seq
        frame: list[RtpPacket] = []
        while True:
            packet = self.packets.get(seq)
            if packet is None:
                return progressed
            data: bytes = packet._data  # type: ignore[attr-defined]
            if not frame and not data:  # padding between frames
                del self.packets[seq]
                seq = self.next_seq = uint16_add(seq, 1)
                continue
            if frame and packet.timestamp != frame[0].timestamp:  # its marker never came
                self._complete(frame, seq)
                frame, progressed = [], True
                continue
            frame.append(packet)
            seq = uint16_add(seq, 1)
            if packet.marker:
                self._complete(frame, seq)
                frame, progressed = [], True

    def _complete(self, frame: list[RtpPacket], next_seq: int) -> None:
        for packet in frame:
            del self.packets[packet.sequence_number]
        self.next_seq = next_seq
        data = b"".join(p._data for p in frame)  # type: ignore[attr-defined]
        keyframe = is_keyframe(self.codec.name, data)
        if self.need_keyframe and not keyframe:
            return
        self.need_keyframe = False
        self.emit(data, frame[0].timestamp, keyframe)


def keep_encoded(
    receiver: RTCRtpReceiver,
    codec: Codec,
    deliver: Deliver,
    *,
    forward: Forward | None = None,
    on_audio_level: Callable[[int], None] | None = None,
    on_sender_report: Callable[[SenderReport], None] | None = None,
    viewer_loss: Callable[[], int] | None = None,
) -> Frames:
    """Make the receiver hand on encoded frames to ``deliver`` instead of decoding them,
    and every RTP packet, as it arrives, to ``forward``.

    Call it before the receiver gets media (before applying the description).
    ``on_audio_level`` gets the RFC 6464 level of each audio packet, when negotiated;
    ``on_sender_report`` each RTCP sender report, with its RTP time as a ``pts``;
    ``viewer_loss`` gives the worst loss viewers reported since it was last asked (RTCP
    fraction, /256), which each receiver report to the publisher carries at least.
    """
    if not hasattr(receiver, JITTER_BUFFER):
        raise SeamMissing(f"aiortc's RTCRtpReceiver has no {JITTER_BUFFER}")
    frames: Frames
    if codec.kind == "audio":
        frames = AudioFrames(codec, deliver, forward, on_audio_level)
    else:
        frames = VideoFrames(codec, deliver, forward)
    setattr(receiver, JITTER_BUFFER, frames)
    if on_sender_report is not None:
        _watch_sender_reports(receiver, frames, on_sender_report)
    if viewer_loss is not None:
        _report_viewer_loss(receiver, frames, viewer_loss)
    return frames


def _report_viewer_loss(receiver: RTCRtpReceiver, frames: Frames, take: Callable[[], int]) -> None:
    send: Callable[[AnyRtcpPacket], Awaitable[None]] = receiver._send_rtcp

    async def send_rtcp(packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpRrPacket):
            worst = take()
            packet.reports = [
                dataclasses.replace(r, fraction_lost=worst)
                if r.ssrc == frames.ssrc and worst > r.fraction_lost
                else r
                for r in packet.reports
            ]
        await send(packet)

    receiver._send_rtcp = send_rtcp  # type: ignore[method-assign]


def _watch_sender_reports(
    receiver: RTCRtpReceiver, frames: Frames, report: Callable[[SenderReport], None]
) -> None:
    handle: Callable[[AnyRtcpPacket], Awaitable[None]] = receiver._handle_rtcp_packet

    async def handle_rtcp(packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpSrPacket) and frames.unwrapper.origin is not None:
            info = packet.sender_info
            ntp = info.ntp_timestamp
            unix = (ntp >> 32) - NTP_UNIX_OFFSET + (ntp & 0xFFFFFFFF) / 2**32
            pts = frames.unwrapper.peek(info.rtp_timestamp)
            report(SenderReport(unix, rtp_timestamp=pts, wire_rtp_timestamp=info.rtp_timestamp))
        await handle(packet)

    # The DTLS transport looks the method up on the instance for each packet.
    receiver._handle_rtcp_packet = handle_rtcp  # type: ignore[method-assign]
