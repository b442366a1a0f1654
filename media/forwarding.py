"""Fan-out of encoded frames: from a published track to bounded per-viewer queues and taps.

A ``PublishedTrack`` receives frames from its publisher (``media.passthrough``)
synchronously on the event loop and pushes each to every ``SlotTrack`` bound to
it and to every tap. A ``SlotTrack`` is what one viewer's ``RTCRtpSender`` sends
in one m-line; it can be re-bound to another source of the same codec without a
renegotiation (its RTP timestamps stay continuous). Each slot's ``FrameQueue`` is
bounded: when a viewer falls behind, video is dropped up to the next keyframe
(and one is requested), audio loses its oldest frames. Nothing here grows
without bound and no source is ever left undrained.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
from collections.abc import Callable

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from media.codecs import Codec
from media.tap import Tap, TrackInfo

log = logging.getLogger("classroom.media")

VIDEO_QUEUE_FRAMES = 20
AUDIO_QUEUE_FRAMES = 25  # half a second of 20 ms Opus frames
QUEUE_BYTES = 2 * 1024 * 1024
#: RTP clock step between the last frame of one source and the first of the next.
SWITCH_STEP = {"audio": 960, "video": 3000}


@dataclasses.dataclass
class Counters:
    """Running figures for metrics, as plain attributes (totals only grow; gauges move)."""

    packets_received: int = 0  # encoded frames (av.Packet) received from publishers
    bytes_received: int = 0
    packets_forwarded: int = 0  # encoded frames handed to viewers' senders
    bytes_forwarded: int = 0
    rtp_packets_forwarded: int = 0  # the RTP packets those frames were cut into
    packets_tapped: int = 0  # encoded frames handed to taps
    packets_dropped: int = 0  # dropped from slow viewers' queues
    keyframe_requests_received: int = 0  # PLI/FIR from viewers, joins, switches, taps
    keyframe_requests_sent: int = 0  # PLIs sent to publishers
    keyframe_requests_coalesced: int = 0  # absorbed by the rate limit
    tracks_published: int = 0  # gauge: tracks being received from publishers
    tracks_forwarded: int = 0  # gauge: (track, viewer) pairs being forwarded
    queued_frames: int = 0  # gauge: frames waiting in all viewers' queues
    queued_frames_max: int = 0  # the most ever waiting in one viewer's queue


class KeyframeLimiter:
    """At most one keyframe request per ``interval_s``; one made sooner is deferred, not lost."""

    def __init__(self, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self.last_sent: float | None = None
        self.pending = False

    def request(self, now: float) -> float | None:
        """Seconds to wait before sending (0: now), or None when one is already due."""
        if self.pending:
            return None
        if self.last_sent is None or now - self.last_sent >= self.interval_s:
            self.last_sent = now
            return 0.0
        self.pending = True
        return self.last_sent + self.interval_s - now

    def sent(self, now: float) -> None:
        """The deferred request went out."""
        self.pending = False
        self.last_sent = now


class FrameQueue:
    """One viewer's bounded queue of encoded frames (video starts and restarts at a keyframe)."""

    def __init__(self, kind: str, counters: Counters, max_frames: int | None = None) -> None:
        self.kind = kind
        self.counters = counters
        self.max_frames = max_frames or (
            VIDEO_QUEUE_FRAMES if kind == "video" else AUDIO_QUEUE_FRAMES
        )
        self.frames: collections.deque[av.Packet] = collections.deque()
        self.bytes = 0
        self.waiting_keyframe = kind == "video"
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self.frames)

    def push(self, packet: av.Packet) -> bool:
        """Queue a frame; True when a keyframe is needed (the queue overflowed or waits)."""
        video = self.kind == "video"
        if video and self.waiting_keyframe:
            if not packet.is_keyframe:
                self.counters.packets_dropped += 1
                return False
            self.waiting_keyframe = False
        need_keyframe = False
        if len(self.frames) >= self.max_frames or self.bytes + packet.size > QUEUE_BYTES:
            if video:  # what is queued is useless without what is dropped: start over
                self.clear()
                if not packet.is_keyframe:
                    self.waiting_keyframe = True
                    self.counters.packets_dropped += 1
                    return True
                need_keyframe = False
            else:
                self._drop_oldest()
        self.frames.append(packet)
        self.bytes += packet.size
        self.counters.queued_frames += 1
        if len(self.frames) > self.counters.queued_frames_max:
            self.counters.queued_frames_max = len(self.frames)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        return need_keyframe

    def _drop_oldest(self) -> None:
        old = self.frames.popleft()
        self.bytes -= old.size
        self.counters.queued_frames -= 1
        self.counters.packets_dropped += 1

    def clear(self) -> None:
        """Drop everything queued (counted as dropped); video then waits for a keyframe."""
        while self.frames:
            self._drop_oldest()
        self.waiting_keyframe = self.kind == "video"

    async def get(self) -> av.Packet:
        while not self.frames:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        packet = self.frames.popleft()
        self.bytes -= packet.size
        self.counters.queued_frames -= 1
        return packet


class SlotTrack(MediaStreamTrack):
    """The track one viewer's sender sends in one m-line: the frames of the bound source.

    The first ``recv`` (the viewer's connection is up) drops what queued up meanwhile
    and asks for a keyframe, so a late joiner starts at a fresh one.
    """

    def __init__(self, kind: str, codec: str, counters: Counters) -> None:
        super().__init__()
        self.kind = kind
        self.codec = codec
        self.counters = counters
        self.queue = FrameQueue(kind, counters)
        self.source: PublishedTrack | None = None
        self.started = False
        self._offset = 0  # added to the source's pts to keep the RTP clock continuous
        self._rebase = False
        self._last_pts: int | None = None

    def bind(self, source: PublishedTrack | None) -> None:
        """Send this source from now on (None: send nothing until bound again)."""
        if source is self.source:
            return
        if self.source is not None:
            self.source.slots.discard(self)
            self.counters.tracks_forwarded -= 1
        self.source = source
        self.queue.clear()
        self._rebase = self._last_pts is not None
        if source is not None:
            source.slots.add(self)
            self.counters.tracks_forwarded += 1
            if self.started:
                source.request_keyframe()

    def push(self, packet: av.Packet) -> None:
        if self.kind == "video" and self.queue.waiting_keyframe and not packet.is_keyframe:
            self.counters.packets_dropped += 1
            return
        if self._rebase and self._last_pts is not None:
            self._offset = self._last_pts + SWITCH_STEP[self.kind] - int(packet.pts or 0)
            self._rebase = False
        if self._offset:
            shifted = av.Packet(bytes(packet))
            shifted.pts = int(packet.pts or 0) + self._offset
            shifted.time_base = packet.time_base
            shifted.is_keyframe = packet.is_keyframe
            packet = shifted
        self._last_pts = packet.pts
        # Until the viewer is connected (first recv) its overflows bother no publisher.
        if self.queue.push(packet) and self.source is not None and self.started:
            self.source.request_keyframe()

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if not self.started:
            self.started = True
            self.queue.clear()
            if self.source is not None:
                self.source.request_keyframe()
        packet = await self.queue.get()
        self.counters.packets_forwarded += 1
        self.counters.bytes_forwarded += packet.size
        return packet

    def stop(self) -> None:
        self.bind(None)
        self.queue.clear()
        super().stop()


class PublishedTrack:
    """A track received from a publisher, and everyone it is forwarded to right now."""

    def __init__(
        self,
        info: TrackInfo,
        codec: Codec,
        counters: Counters,
        send_pli: Callable[[], None],
        interval_s: float = 0.5,
    ) -> None:
        self.info = info
        self.codec = codec
        self.counters = counters
        self.slots: set[SlotTrack] = set()
        self.taps: set[Tap] = set()
        self.limiter = KeyframeLimiter(interval_s)
        self._send_pli = send_pli
        self._deferred: asyncio.TimerHandle | None = None
        self.keyframes = 0

    def deliver(self, packet: av.Packet) -> None:
        """A frame from the publisher: hand it to every slot and tap (never blocks)."""
        counters = self.counters
        counters.packets_received += 1
        counters.bytes_received += packet.size
        if packet.is_keyframe and self.info.kind == "video":
            self.keyframes += 1
        for slot in list(self.slots):
            slot.push(packet)
        for tap in list(self.taps):
            counters.packets_tapped += 1
            try:
                tap.consumer.on_packet(self.info.id, packet)
            except Exception:  # a faulty consumer must not stop forwarding
                log.exception("tap consumer failed", extra={"track": self.info.id})

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, at most once per interval (audio: ignored)."""
        if self.info.kind != "video":
            return
        self.counters.keyframe_requests_received += 1
        loop = asyncio.get_running_loop()
        delay = self.limiter.request(loop.time())
        if delay is None:
            self.counters.keyframe_requests_coalesced += 1
        elif delay == 0:
            self._pli()
        else:
            self.counters.keyframe_requests_coalesced += 1
            self._deferred = loop.call_later(delay, self._deferred_pli)

    def _deferred_pli(self) -> None:
        self._deferred = None
        self.limiter.sent(asyncio.get_running_loop().time())
        self._pli()

    def _pli(self) -> None:
        self.counters.keyframe_requests_sent += 1
        self._send_pli()

    def close(self) -> None:
        """Unpublished: unbind every slot and cancel a deferred request."""
        for slot in list(self.slots):
            slot.bind(None)
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None
