"""Fan-out of RTP: a published track's packets to every viewer's m-line, and its frames to taps.

A ``PublishedTrack`` gets each RTP packet its publisher sends (``media.passthrough``
hands them on after SRTP decryption and retransmission unwrapping, synchronously
on the event loop) and gives it to every ``Outlet`` bound to it. An outlet is one
m-line of one viewer's subscribe connection: it sends the packet's payload as it
arrived, with its own sequence numbers and RTP clock, through a ``Wire``
(``media.wire``: header, SRTP, one ``sendto``). Nothing is decoded, packetized
again or queued. An outlet can be re-bound to another source of the same codec
without a renegotiation: its sequence numbers and RTP clock go on where they
were, and video restarts at the new source's next keyframe (which is asked for).

A viewer that cannot keep up loses packets as on any network: it asks for them
again (NACK, answered from the track's short history) or for a keyframe (PLI,
passed on to the publisher, at most one per ``interval_s``). A slow viewer costs
the others nothing, because nothing waits for it.

Lip sync: each publisher's RTCP sender report (its capture clock, NTP, against its
RTP clock) is kept on the track and mapped by each outlet through its timestamp
offset into that viewer's RTP time, for the wire's sender reports (``Outlet.sync``):
once per sender report and once when an outlet starts a source, never per packet.
A browser then lines up one participant's audio and video of one stream by the
publisher's own clock. An outlet told not to (``lip_sync(False)``: its stream's
other track shows someone else) reports the server's send time instead.

Loss: viewers' receiver reports of an audio outlet give their loss to the track
(``viewer_reported``); the publisher's next receiver report from the server carries the
worst of them (``take_viewer_loss``, as mediasoup does), so that its Opus encoder adds
in-band FEC for the viewers' links, not only for its own lossless uplink. A viewer whose
link loses audio gets each voice packet with the frames before it repeated
(``redundant``, RFC 2198, ``media.redundancy``), where its answer took the ``red`` codec.

Whole encoded frames (``av.Packet``, assembled by ``media.passthrough``) go to the
track's taps (the recorder) through ``deliver``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Callable
from typing import Protocol

import av

from media.codecs import Codec, starts_frame
from media.layers import TapFeed
from media.redundancy import Frames
from media.tap import Tap
from media.tracks import TrackInfo, frame_size, is_keyframe

log = logging.getLogger("classroom.media")

#: RTP clock step between the last packet of one source and the first of the next.
SWITCH_STEP = {"audio": 960, "video": 3000}
#: The most viewer loss a publisher is told of (RTCP fraction, /256: 10%). Enough for an
#: Opus encoder's strongest in-band FEC step; a browser also counts the reported loss in
#: its loss-based bandwidth estimate, which cuts its rate above 10%: one viewer on a bad
#: link must not make a publisher send less to everyone.
VIEWER_LOSS_CAP = 26
#: Video packets kept per track to answer viewers' NACKs (a power of two).
HISTORY_PACKETS = 1024


@dataclasses.dataclass
class Counters:
    """Running figures for metrics, as plain attributes (totals only grow; gauges move)."""

    packets_received: int = 0  # RTP packets received from publishers
    bytes_received: int = 0  # their payload bytes
    frames_received: int = 0  # the encoded frames they make up
    packets_forwarded: int = 0  # RTP packets sent to viewers
    bytes_forwarded: int = 0  # their payload bytes
    packets_retransmitted: int = 0  # sent again on a viewer's NACK
    packets_redundant: int = 0  # audio packets sent with earlier frames repeated (RED)
    packets_dropped: int = 0  # not sent: before a keyframe, a full socket buffer, an error
    frames_tapped: int = 0  # encoded frames handed to taps
    keyframe_requests_received: int = 0  # PLI/FIR from viewers, joins, switches, taps
    keyframe_requests_sent: int = 0  # PLIs sent to publishers
    keyframe_requests_coalesced: int = 0  # absorbed by the rate limit
    tracks_published: int = 0  # gauge: tracks being received from publishers
    tracks_forwarded: int = 0  # gauge: (track, viewer) pairs being forwarded


class Wire(Protocol):
    """Where an outlet's packets go (``media.wire.Wire`` on a real connection)."""

    #: The negotiated codec's payload type, and the ``red`` codec's (-1: not negotiated).
    payload_type: int
    red_type: int

    def send(
        self,
        seq: int,
        timestamp: int,
        marker: int,
        payload: bytes,
        padding: int,
        payload_type: int = -1,
    ) -> None:
        """Send one RTP packet with this header (its SSRC is the wire's, and its payload
        type too unless given)."""

    def sync(self, ntp: int, rtp: int) -> None:
        """Sender reports say from now on: this RTP time was at this NTP time (64-bit; 0:
        no time at all)."""

    def unsync(self) -> None:
        """Sender reports say from now on: the newest RTP time sent, at the time it was sent."""


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


class Outlet:
    """One m-line of one viewer: the packets of the bound source, renumbered for this viewer.

    Packets are sent once the viewer's connection is up (``connect``), from the
    source's next keyframe for video (its next packet for audio); a packet older
    than the one it started at is never sent.
    """

    __slots__ = (
        "counters",
        "kind",
        "pending",
        "red",
        "repeats",
        "seq_offset",
        "source",
        "start_seq",
        "synced",
        "top_seq",
        "top_ts",
        "ts_offset",
        "waiting",
        "wire",
    )

    def __init__(self, kind: str, counters: Counters) -> None:
        self.kind = kind
        self.counters = counters
        self.source: PublishedTrack | None = None
        self.pending: PublishedTrack | None = None  # another layer, switched to at its keyframe
        self.wire: Wire | None = None
        self.waiting = True  # for a packet to start at
        self.start_seq = 0  # the source's sequence number of that packet
        self.seq_offset = 0  # added to the source's sequence numbers and timestamps
        self.ts_offset = 0
        self.synced = True  # sender reports carry the publisher's clock (``lip_sync``)
        self.red = 0  # earlier frames each audio packet repeats (``redundant``)
        self.repeats: Frames | None = None
        # The newest packet sent (this viewer's numbering); the next source goes on from it.
        self.top_seq = random.getrandbits(15)  # low, so that SRTP's rollover is far away
        self.top_ts = random.getrandbits(32)

    def bind(self, source: PublishedTrack | None) -> None:
        """Send this source from now on (None: send nothing until bound again)."""
        self._cancel_switch()
        if source is self.source:
            return
        if self.source is not None:
            self.source.remove(self)
            self.counters.tracks_forwarded -= 1
        self.source = source
        self.waiting = True
        if source is not None:
            source.add(self)
            self.counters.tracks_forwarded += 1
            if self.wire is not None:
                source.request_keyframe()

    def switch(self, layer: PublishedTrack) -> None:
        """Send another layer of the same video: the current one goes on until the new
        one's next keyframe (asked for), which continues this viewer's stream without a
        gap, so the picture never stops (``PublishedTrack.forward`` makes the switch)."""
        if layer is self.pending:
            return
        if layer is self.source:
            self._cancel_switch()
            return
        if self.source is None or self.waiting or self.wire is None or self.kind != "video":
            self.bind(layer)
            return
        self._cancel_switch()
        self.pending = layer
        layer.pending[self] = None
        layer.request_keyframe()

    def _cancel_switch(self) -> None:
        pending = self.pending
        if pending is not None:
            self.pending = None
            pending.pending.pop(self, None)

    def switched(self, layer: PublishedTrack) -> None:
        """``layer``'s keyframe starts now: send it from this packet on."""
        self.pending = None
        if self.source is not None:
            self.source.remove(self)
        self.source = layer
        self.waiting = True
        layer.add(self)

    def connect(self, wire: Wire | None) -> None:
        """The viewer's connection is up (a wire to send on) or gone (None)."""
        self.wire = wire
        self.waiting = True
        if wire is not None and self.source is not None:
            self.source.request_keyframe()

    def send(
        self, seq: int, timestamp: int, marker: int, payload: bytes, padding: int, starts: bool
    ) -> None:
        """One packet of the bound source (``starts``: forwarding may begin with it)."""
        wire = self.wire
        if self.waiting:
            if not starts or wire is None:
                self.counters.packets_dropped += 1
                return
            self.seq_offset = (self.top_seq + 1 - seq) & 0xFFFF
            self.ts_offset = (self.top_ts + SWITCH_STEP[self.kind] - timestamp) & 0xFFFFFFFF
            self.start_seq = seq
            self.waiting = False
            self.sync()
        elif (seq - self.start_seq) & 0x8000:  # sent before this outlet started
            return
        out_seq = (seq + self.seq_offset) & 0xFFFF
        out_ts = (timestamp + self.ts_offset) & 0xFFFFFFFF
        if not (out_seq - self.top_seq) & 0x8000:  # the newest yet (not a late one)
            self.top_seq, self.top_ts = out_seq, out_ts
        if self.red:
            self._send_redundant(wire, out_seq, out_ts, marker, payload, padding)  # type: ignore[arg-type]
            return
        wire.send(out_seq, out_ts, marker, payload, padding)  # type: ignore[union-attr]

    def _send_redundant(
        self, wire: Wire, seq: int, timestamp: int, marker: int, payload: bytes, padding: int
    ) -> None:
        repeats = self.repeats
        if wire.red_type < 0 or repeats is None:  # the viewer did not take ``red``
            wire.send(seq, timestamp, marker, payload, padding)
            return
        block = repeats.wrap(wire.payload_type, self.red, timestamp, payload)
        wire.send(seq, timestamp, marker, block, padding, wire.red_type)
        self.counters.packets_redundant += 1

    def sync(self) -> None:
        """Give the wire the source's capture clock in this viewer's RTP time, or when told
        not to, let it report its send time.

        Before the source's first sender report the wire reports NTP time 0, which
        receivers ignore: a send time now would stay among the pairs a browser fits
        its clock to, beside the capture times that follow, and skew it for a minute.
        """
        source, wire = self.source, self.wire
        if wire is None or source is None or self.waiting:
            return
        clock = source.clock
        if not self.synced:
            wire.unsync()
        elif clock is None:
            wire.sync(0, 0)
        else:
            wire.sync(clock[0], (clock[1] + self.ts_offset) & 0xFFFFFFFF)

    def lip_sync(self, on: bool) -> None:
        """Whether sender reports carry the publisher's clock (False: the server's)."""
        if on != self.synced:
            self.synced = on
            self.sync()

    def redundant(self, frames: int) -> None:
        """Repeat this many earlier frames in each packet (audio, where the viewer took the
        ``red`` codec; 0: plain packets)."""
        if self.kind != "audio":
            return
        self.red = frames
        if frames and self.repeats is None:
            self.repeats = Frames()
        elif not frames and self.repeats is not None:
            self.repeats.clear()

    def viewer_reported(self, fraction_lost: int) -> None:
        """A viewer's receiver report on this m-line: its loss (RTCP fraction, /256) goes
        to the source, whose publisher hears of it (audio only: for Opus in-band FEC)."""
        if self.kind == "audio" and self.source is not None and not self.waiting:
            self.source.viewer_reported(fraction_lost)

    def resend(self, out_seq: int) -> bool:
        """A viewer's NACK: send that packet again if the source still has it."""
        source, wire = self.source, self.wire
        if source is None or wire is None or self.waiting:
            return False
        seq = (out_seq - self.seq_offset) & 0xFFFF
        if (seq - self.start_seq) & 0x8000:
            return False
        kept = source.history[seq & (HISTORY_PACKETS - 1)]
        if kept is None or kept[0] != seq:
            return False
        _, timestamp, marker, payload, padding = kept
        wire.send(out_seq, (timestamp + self.ts_offset) & 0xFFFFFFFF, marker, payload, padding)
        self.counters.packets_retransmitted += 1
        return True

    def request_keyframe(self) -> None:
        """A viewer's PLI/FIR: passed on to the publisher of what the outlet shows."""
        if self.source is not None:
            self.source.request_keyframe()

    def close(self) -> None:
        self.bind(None)
        self.wire = None


class PublishedTrack:
    """A track received from a publisher, and everyone it is forwarded to right now.

    A camera sent in simulcast is one ``PublishedTrack`` per layer, all with the same
    ``info`` and the same ``layers`` (smallest first); the router knows the largest.
    """

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
        self.video = info.kind == "video"
        # Viewers come and go by the hundred at once (a mute, a speaker change): kept in a
        # dict, turned into the tuple the packet loop walks on the next packet (or read).
        self._outlets: dict[Outlet, None] = {}
        self._walk: tuple[Outlet, ...] = ()
        self._stale = False
        self.taps: set[Tap] = set()
        self.limiter = KeyframeLimiter(interval_s)
        self.history: list[tuple[int, int, int, bytes, int] | None] = (
            [None] * HISTORY_PACKETS if self.video else []
        )
        self.keyframes = 0
        #: The layers of its video this is one of (smallest first), its place among them,
        #: the picture height of its last keyframe, and the packets received (activity).
        self.layers: tuple[PublishedTrack, ...] = (self,)
        self.layer = 0
        self.height: int | None = None
        self.received = 0
        self.active = True  # packets came since the router last looked (``look``)
        self._looked = 0
        self._looked_height: int | None = None
        self._switch_looks = 0  # looks since outlets began waiting for a keyframe of it
        #: Of the largest layer of several: which layer its taps get (``media.layers``).
        self.feed: TapFeed | None = None
        #: Outlets switching to this layer at its next keyframe (``Outlet.switch``).
        self.pending: dict[Outlet, None] = {}
        self._send_pli = send_pli
        self._deferred: asyncio.TimerHandle | None = None
        self._last_ts: int | None = None
        #: The publisher's last sender report: (NTP time, 64-bit; its RTP time then).
        self.clock: tuple[int, int] | None = None
        #: The worst loss viewers reported since the publisher was last told (``take_viewer_loss``).
        self.viewer_loss = 0

    @property
    def outlets(self) -> tuple[Outlet, ...]:
        """Everyone this track goes to now, in the order they were added."""
        if self._stale:
            self._walk, self._stale = tuple(self._outlets), False
        return self._walk

    def add(self, outlet: Outlet) -> None:
        if outlet not in self._outlets:
            self._outlets[outlet] = None
            self._stale = True

    def remove(self, outlet: Outlet) -> None:
        if outlet in self._outlets:
            del self._outlets[outlet]
            self._stale = True

    def forward(
        self, seq: int, timestamp: int, marker: int, payload: bytes, padding: int, data: bytes
    ) -> None:
        """An RTP packet from the publisher (``data``: its payload depayloaded): to every outlet."""
        counters = self.counters
        counters.packets_received += 1
        counters.bytes_received += len(payload)
        self.received += 1
        if self.video:
            starts = (
                timestamp != self._last_ts
                and starts_frame(self.codec.name, payload)
                and is_keyframe(self.codec.name, data)
            )
            self._last_ts = timestamp
            self.history[seq & (HISTORY_PACKETS - 1)] = (seq, timestamp, marker, payload, padding)
            if starts and self.pending:
                for outlet in list(self.pending):
                    outlet.switched(self)
                self.pending.clear()
        else:
            starts = True
        for outlet in self.outlets:
            try:
                outlet.send(seq, timestamp, marker, payload, padding, starts)
            except Exception:  # one viewer's fault must not stop the others
                log.exception("forwarding to a viewer failed", extra={"track": self.info.id})
                outlet.connect(None)

    def look(self) -> bool:
        """Note whether packets came since the last look (``active``); whether that or the
        picture height changed. A layer that flows with no keyframe seen yet (its first
        came before the server knew the layer, or was lost) is asked for one, so that
        viewers can be given the layer that fits them."""
        flowing = self.received != self._looked
        self._looked = self.received
        changed = flowing != self.active or self.height != self._looked_height
        self.active = flowing
        self._looked_height = self.height
        if flowing and self.height is None and not self.keyframes:
            # (A keyframe whose size could not be read is not asked for again and again.)
            self.request_keyframe()  # rate-limited: once per interval at most
        # A switch to this layer waits for its keyframe: asked again every other look
        # while none comes (a request or its keyframe lost, a busy encoder).
        self._switch_looks = self._switch_looks + 1 if self.pending else 0
        if self._switch_looks >= 2 and self._switch_looks % 2 == 0:
            self.request_keyframe()
        return changed

    def viewer_reported(self, fraction_lost: int) -> None:
        if fraction_lost > self.viewer_loss:
            self.viewer_loss = fraction_lost

    def take_viewer_loss(self) -> int:
        """The worst loss viewers reported since the last call (RTCP fraction, /256), at
        most ``VIEWER_LOSS_CAP``."""
        loss, self.viewer_loss = self.viewer_loss, 0
        return min(loss, VIEWER_LOSS_CAP)

    def sender_report(self, ntp: int, rtp: int) -> None:
        """The publisher's RTCP sender report: every outlet maps it for its viewer."""
        self.clock = (ntp, rtp)
        for outlet in self.outlets:
            outlet.sync()

    def deliver(self, packet: av.Packet) -> None:
        """A whole frame from the publisher: to every tap (never blocks); a layer's
        frames go to the largest layer's taps when its feed says so."""
        counters = self.counters
        counters.frames_received += 1
        if packet.is_keyframe and self.video:
            self.keyframes += 1
            size = frame_size(self.codec.name, bytes(packet))
            if size is not None:
                self.height = size[1]
        top = self.layers[-1]  # holds the taps of every layer
        if not top.taps or (top.feed is not None and not top.feed.frame(self.layer, packet)):
            return
        for tap in list(top.taps):
            counters.frames_tapped += 1
            try:
                tap.consumer.on_packet(self.info.id, packet)
            except Exception:  # a faulty consumer must not stop forwarding
                log.exception("tap consumer failed", extra={"track": self.info.id})

    def tapped(self) -> PublishedTrack:
        """The layer whose frames the taps get, or await a keyframe of."""
        return self.layers[self.feed.wanted] if self.feed is not None else self

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, at most once per interval (audio: ignored)."""
        if not self.video:
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
        """Unpublished: unbind every outlet and cancel a deferred request."""
        for outlet in list(self.pending):
            outlet.bind(outlet.source if outlet.source is not self else None)
        for outlet in list(self._outlets):
            outlet.bind(None)
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None
