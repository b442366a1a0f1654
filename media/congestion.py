"""A viewer's video budget: how many videos its downlink carries now, from the loss its
receiver reports tell (sans I/O: the subscribe connection feeds reports, the router reads
``videos``).

Forwarding is single-layer, so the only way to send a viewer less is to send it fewer
videos. Audio is never counted: every voice goes whatever the budget, and the router's
first video (the stage) is the last one left out. Loss is taken from each RTCP receiver
report block, per m-line: the packets it expected since the previous report of that
m-line (from its extended highest sequence number) and the growth of its cumulative
count of packets lost, which shrinks again when a retransmission arrives. So a video
m-line counts for its many packets, an idle one for nothing, and a packet lost and sent
again on a NACK in time counts as received. The fraction lost of the report block is
not used: Chromium sends a receiver report with every NACK, a few hundredths of a second
apart, and a fraction over so short an interval, never below zero, counts every packet
that arrives late or again as lost (measured: 50-80% while the viewer got nearly all).

- Loss above ``DOWN_LOSS`` over the reports of the last ``WINDOW_S`` steps the budget down
  by one video, at once; a report counts after that only if the interval it covers began
  ``SETTLE_S`` after the step (before, it still counts what was sent before, and the
  link's queue drains), so the next step down follows a second or so later if loss goes
  on. After a step up, reports count from the step.
- Loss below ``UP_LOSS`` for ``wait`` seconds steps it up by one (a probe: the next
  video is the only way to learn whether the link takes it), up to what the viewer would
  get without a budget (``wanted``, set by the router).
- Between the two nothing changes (hysteresis). A probe that fails (loss above
  ``DOWN_LOSS`` within ``PROBE_FAILED_S`` of it) doubles ``wait``, up to
  ``MAX_UP_AFTER_S``, so a link that cannot take one more video is not flooded every few
  seconds; a probe that holds sets it back to ``UP_AFTER_S``.

REMB is not used: the wire sends no ``abs-send-time``, so a browser's receive-side estimate
means nothing (docs/design.md, "Adapting to each viewer").
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

#: Loss over the window above which a video goes (a share of the packets expected).
DOWN_LOSS = 0.10
#: Loss below which the link counts as clean (a probe may follow).
UP_LOSS = 0.02
#: The reports a decision looks at: those of the last this many seconds.
WINDOW_S = 2.0
#: After a step down, reports this young still count the rate before it.
SETTLE_S = 1.0
#: Clean this long before one more video is tried.
UP_AFTER_S = 4.0
#: The longest wait before trying again a number of videos the link refused.
MAX_UP_AFTER_S = 16.0
#: Loss this soon after a step up is blamed on it.
PROBE_FAILED_S = 4.0
#: A window's loss counts only over at least this many packets expected.
MIN_PACKETS = 40
#: A jump in a report's highest sequence number larger than this is a new count, not packets.
MAX_GAP = 0x4000


class VideoBudget:
    """How many videos one viewer may get now (``videos``), from its receiver reports."""

    def __init__(self, ceiling: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ceiling = ceiling
        self.clock = clock
        self.videos = ceiling
        #: What the viewer would get without a budget (the router sets it when choosing).
        self.wanted = ceiling
        self.wait = UP_AFTER_S
        #: m-line (SSRC) -> its last report: extended highest sequence, packets lost, when
        self._counts: dict[int, tuple[int, int, float]] = {}
        self._samples: collections.deque[tuple[float, int, int]] = collections.deque()
        self._counted_from = float("-inf")  # reports before this are not looked at
        self._clean_since: float | None = None
        self._raised_at: float | None = None  # the last probe, until it holds or fails

    @property
    def level(self) -> int:
        """The videos the viewer gets now: the budget, or fewer when fewer are wanted."""
        return min(self.videos, self.wanted)

    def report(self, ssrc: int, highest_sequence: int, packets_lost: int) -> bool:
        """One report block of the viewer on the m-line ``ssrc`` (its extended highest
        sequence number and cumulative packets lost); whether ``videos`` changed."""
        now = self.clock()
        last = self._counts.get(ssrc)
        self._counts[ssrc] = (highest_sequence, packets_lost, now)
        if last is None:
            return False
        expected = highest_sequence - last[0]
        # Counted when the interval it covers began after the last change had its effect.
        if 0 < expected <= MAX_GAP and last[2] >= self._counted_from:
            self._samples.append((now, packets_lost - last[1], expected))
        return self._decide(now)

    def _loss(self, now: float) -> float | None:
        """The share of packets lost over the window (None: too few packets to say)."""
        samples = self._samples
        start = max(now - WINDOW_S, self._counted_from)
        while samples and samples[0][0] < start:
            samples.popleft()
        expected = sum(sample[2] for sample in samples)
        if expected < MIN_PACKETS:
            return None
        return sum(sample[1] for sample in samples) / expected

    def _decide(self, now: float) -> bool:
        loss = self._loss(now)
        if loss is None:
            return False
        if self._raised_at is not None and now - self._raised_at > PROBE_FAILED_S:
            self._raised_at = None  # the probe held
            self.wait = UP_AFTER_S
        if loss > DOWN_LOSS:
            self._clean_since = None
            if self.level == 0:
                return False
            if self._raised_at is not None:  # the probe failed: try it again later
                self.wait = min(2 * self.wait, MAX_UP_AFTER_S)
                self._raised_at = None
            self.videos = self.level - 1
            self._restart(now + SETTLE_S)
            return True
        if loss >= UP_LOSS:
            self._clean_since = None
            return False
        if self._clean_since is None:
            self._clean_since = now
        if self.videos >= min(self.ceiling, self.wanted) or now - self._clean_since < self.wait:
            return False
        self.videos += 1
        self._raised_at = now
        self._restart(now)
        return True

    def _restart(self, counted_from: float) -> None:
        self._samples.clear()
        self._counted_from = counted_from
        self._clean_since = None
