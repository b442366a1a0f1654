"""A viewer's video budget: how many videos its downlink carries now, from the loss its
receiver reports tell (sans I/O: the subscribe connection feeds reports, the router reads
``videos``).

Forwarding is single-layer, so the only way to send a viewer less is to send it fewer
videos. Audio is never counted: every voice goes whatever the budget, and the router's
first video (the stage) is the last one left out.

Loss is taken from each RTCP receiver report block, per m-line: the packets expected
between two of its reports (from the extended highest sequence number) and the growth of
its cumulative count of packets lost, which shrinks again when a retransmission arrives.
So a video m-line counts for its many packets, an idle one for nothing, and a packet
sent again on a NACK in time counts as received. At each end of the window an m-line's
report with the fewest lost of its reports within ``EDGE_S`` is taken: a packet
overtaken by later ones (jitter) counts as lost until it comes, and with 100 ms of
jitter a single report at each end made 13-16% of loss out of 1% (measured behind the
test harness's relay, six 1 Mbit/s cameras). The fraction lost of the report block is
not used: Chromium sends a receiver report with every NACK, a few hundredths of a second
apart, and a fraction over so short an interval, never below zero, counts every packet
that arrives late or again as lost (measured: 50-80% while the viewer got nearly all).

- Loss above ``DOWN_LOSS`` over the reports of the last ``WINDOW_S`` steps the budget down
  at once, by one rung or the share of its rungs that is lost if more (40% lost of
  seven: two) (the window must span ``MIN_SPAN_S``); reports count after that
  from ``SETTLE_S`` after the step (before, they still count what was sent before, and
  the link's queue drains), so the next step down follows a second and a half later if
  loss goes on. After a step up, reports count from the step.
- Loss below ``UP_LOSS`` for ``wait`` seconds steps it up (a probe: more is the only
  way to learn whether the link takes it), up to what the viewer would get without a
  budget (``wanted``, set by the router): by ``stride`` rungs, one at first, twice as
  many after each probe that held (up to ``MAX_STRIDE``), each ``CLIMB_AFTER_S`` after
  the last while they hold, so a link that came back is climbed in a few probes and
  seconds (a ladder of layers has many rungs: ``media.layers``).
- Between the two nothing changes (hysteresis), unless the round trip to the viewer
  (from the receiver reports' LSR and DLSR) says its link holds a queue: then that loss
  is the link's overflow, not noise, and takes one rung away; a queue also forbids
  probes. At a link's limit the budget otherwise settles one rung above it, losing a
  few percent of every voice's packets for good. A probe that fails (loss above
  ``DOWN_LOSS`` within ``PROBE_FAILED_S`` of it) goes back to where it started, sets the
  stride back to one and doubles ``wait``, up to ``MAX_UP_AFTER_S``, so a link that
  cannot take more is not flooded every few seconds; a probe that holds, or loss that
  comes without a probe (the link changed: what failed before says nothing now), sets
  the wait back to ``UP_AFTER_S``.
- Loss above ``HEAVY_LOSS`` is not jitter: it needs reports spanning ``HEAVY_SPAN_S``
  only, so a viewer far over its link loses a video every second or so.

REMB is not used (docs/design.md, "Adapting to each viewer": tried with the send time
written on video packets, and measured worse than loss alone).
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
SETTLE_S = 0.5
#: Clean this long before one more video is tried.
UP_AFTER_S = 4.0
#: Clean this long after a probe, the next one follows (the link took more).
CLIMB_AFTER_S = 2.0
#: The longest wait before trying again a number of videos the link refused (a link that
#: comes back is found by the next probe: at most this late).
MAX_UP_AFTER_S = 8.0
#: The most rungs one probe climbs.
MAX_STRIDE = 8
#: Loss this soon after a step up is blamed on it.
PROBE_FAILED_S = 4.0
#: A window's loss counts only over at least this many packets expected...
MIN_PACKETS = 40
#: ... and reports covering at least this long: Chromium reports with every NACK, a few
#: hundredths of a second apart, and a packet overtaken by later ones (jitter) counts as
#: lost until it comes, which over a short span looks like heavy loss.
MIN_SPAN_S = 1.0
#: Loss this heavy is not jitter: it takes a video away over reports of this short a span.
HEAVY_LOSS, HEAVY_SPAN_S = 0.3, 0.3
#: A jump in a report's highest sequence number larger than this is a new count, not packets.
MAX_GAP = 0x4000
#: Each end of an m-line's reports in the window is its report with the fewest packets
#: lost among those of this many seconds (packets overtaken by others count as lost
#: until they come: the least lost is the count least inflated by them).
EDGE_S = 0.5
#: The round trip's floor is its least over this long (the link's own delay); now, its
#: least over ``NOW_S`` (from at least ``MIN_TRIPS`` reports); this much more is a queue
#: on the viewer's link, which makes loss congestion (a rung down) rather than noise
#: (nothing to do: sending less loses as much), and forbids probes.
FLOOR_S, NOW_S, MIN_TRIPS, QUEUED_S = 300.0, 1.0, 3, 0.08
#: A queue still seen this long after a step was not that step's to drain (the least
#: round trip of ``NOW_S``, and a second of queue): when it goes away, the link widened.
DRAIN_S = NOW_S + 1.0
#: Decisions are taken at most this often (Chromium reports dozens of times a second).
DECIDE_EVERY_S = 0.25

#: One receiver report block: when it came, its extended highest sequence number, its
#: cumulative packets lost.
Report = tuple[float, int, int]


class VideoBudget:
    """How many videos one viewer may get now (``videos``), from its receiver reports."""

    def __init__(self, ceiling: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ceiling = ceiling
        self.clock = clock
        self.videos = ceiling
        #: What the viewer would get without a budget (the router sets it when choosing).
        self.wanted = ceiling
        self.wait = UP_AFTER_S
        #: m-line (SSRC) -> its reports of the window, after the last one before it
        self._reports: dict[int, collections.deque[Report]] = {}
        self._counted_from = float("-inf")  # reports before this are not looked at
        self._decided_at = float("-inf")
        self._clean_since: float | None = None
        self._raised_at: float | None = None  # the last probe, until it holds or fails
        self._held = False  # the last probe held (the next one climbs further)
        self._before_probe = ceiling  # where the last probe started
        self.stride = 1
        self._changed_at = float("-inf")  # the last step, up or down
        self._trips: collections.deque[tuple[float, float]] = collections.deque()
        self._queue_seen = float("-inf")  # the last time the link held a queue

    @property
    def level(self) -> int:
        """The videos the viewer gets now: the budget, or fewer when fewer are wanted."""
        return min(self.videos, self.wanted)

    def report(self, ssrc: int, highest_sequence: int, packets_lost: int) -> bool:
        """One report block of the viewer on the m-line ``ssrc`` (its extended highest
        sequence number and cumulative packets lost); whether ``videos`` changed."""
        now = self.clock()
        if now < self._counted_from:  # it still counts what was sent before the step
            return False
        reports = self._reports.setdefault(ssrc, collections.deque())
        if reports and not 0 <= highest_sequence - reports[-1][1] <= MAX_GAP:
            reports.clear()  # a new count
        reports.append((now, highest_sequence, packets_lost))
        start = now - WINDOW_S
        while len(reports) > 1 and reports[1][0] <= start:
            reports.popleft()
        if now - self._decided_at < DECIDE_EVERY_S:
            return False
        self._decided_at = now
        return self._decide(now)

    def round_trip(self, seconds: float) -> None:
        """A round trip to the viewer, from one of its receiver report blocks."""
        now = self.clock()
        trips = self._trips
        trips.append((now, seconds))
        while trips[0][0] < now - FLOOR_S:
            trips.popleft()

    def queued(self, now: float) -> bool:
        """Whether the viewer's link holds a queue now: the least round trip of the last
        ``NOW_S`` is ``QUEUED_S`` over the least of the last ``FLOOR_S`` (jitter lifts
        some samples, a queue every one)."""
        recent = [rtt for at, rtt in self._trips if at >= now - NOW_S]
        if len(recent) < MIN_TRIPS:
            return False
        return min(recent) - min(rtt for _, rtt in self._trips) >= QUEUED_S

    def _loss(self, now: float) -> tuple[float, float] | None:
        """The share of packets lost over the window, and the seconds it spans (None: too
        few packets to say)."""
        lost = expected = 0
        began = now
        for reports in self._reports.values():
            first, last = reports[0], reports[-1]
            if last[1] == first[1]:
                continue  # nothing sent on it
            edge = min(EDGE_S, (last[0] - first[0]) / 3)
            head = min((r for r in reports if r[0] <= first[0] + edge), key=_lost)
            tail = min((r for r in reports if r[0] >= last[0] - edge), key=_lost)
            if tail[1] > head[1]:
                began = min(began, head[0])
                lost += tail[2] - head[2]
                expected += tail[1] - head[1]
        if expected < MIN_PACKETS:
            return None
        return lost / expected, now - began

    def _decide(self, now: float) -> bool:
        measured = self._loss(now)
        if measured is None:
            return False
        loss, span = measured
        if span < (HEAVY_SPAN_S if loss > HEAVY_LOSS else MIN_SPAN_S):
            return False
        if self._raised_at is not None and now - self._raised_at > PROBE_FAILED_S:
            self._raised_at = None  # the probe held
            self._held = True
            self.wait = UP_AFTER_S
        queued = self.queued(now)
        if queued:
            self._queue_seen = now
        if loss > DOWN_LOSS:
            # As much down as is lost (at least one rung): far over the link, the viewer
            # is not left losing its voices for a step and a half-second per rung.
            return self._down(now, max(1, int(self.level * loss)))
        if loss >= UP_LOSS:
            self._clean_since = None
            if queued:  # the link's queue overflows: its loss, one rung down
                return self._down(now, 1)
            return False
        if queued:  # no probe into a queue
            self._clean_since = None
            return False
        if self._clean_since is None:
            self._clean_since = now
        if self.videos >= min(self.ceiling, self.wanted):
            self.stride, self._held = 1, False  # the climb is over
            return False
        # The last probe held so far (clean since): the link took more, the next comes
        # sooner, counted from it.
        climbing = self._raised_at is not None or self._held
        if climbing:
            since = self._raised_at if self._raised_at is not None else self._clean_since
            if now - since < min(self.wait, CLIMB_AFTER_S):
                return False
        elif now - self._clean_since < self._wait_now():
            return False
        if climbing:
            self.stride = min(2 * self.stride, MAX_STRIDE)
        self._held = False
        self._before_probe = self.level
        self.videos = min(self.level + self.stride, self.ceiling, self.wanted)
        self._raised_at = now
        self._restart(now)
        return True

    def _wait_now(self) -> float:
        """How long the link must be clean before a probe: ``wait``, or only
        ``CLIMB_AFTER_S`` when a queue seen ``DRAIN_S`` or more after the last step went
        away without another (the link got wider: a drop lifted), so that a link that
        comes back is found at once, not after the wait failed probes built up."""
        widened = self._queue_seen > self._changed_at + DRAIN_S
        return min(self.wait, CLIMB_AFTER_S) if widened else self.wait

    def _down(self, now: float, rungs: int) -> bool:
        """Down by ``rungs``; a probe that failed goes back to where it started."""
        self._clean_since = None
        self.stride, self._held = 1, False
        if self._raised_at is not None:  # the probe failed: back, and again later
            self.wait = min(2 * self.wait, MAX_UP_AFTER_S)
            self._raised_at = None
            self.videos = min(self._before_probe, self.level - 1)
            self._restart(now + SETTLE_S)
            return True
        if now - self._changed_at > PROBE_FAILED_S:  # the link got worse than it was:
            self.wait = UP_AFTER_S  # what failed before says nothing now
        if self.level == 0:
            return False
        self.videos = self.level - rungs
        self._restart(now + SETTLE_S)
        return True

    def _restart(self, counted_from: float) -> None:
        self._changed_at = self.clock()
        self._reports.clear()
        self._counted_from = counted_from
        self._clean_since = None


def _lost(report: Report) -> int:
    return report[2]
