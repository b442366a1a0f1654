"""A viewer's video budget, transition by transition, on an injected clock."""

from __future__ import annotations

import itertools
import random

from media.congestion import (
    CLIMB_AFTER_S,
    HEAVY_SPAN_S,
    MAX_STRIDE,
    MAX_UP_AFTER_S,
    MIN_PACKETS,
    MIN_SPAN_S,
    NOW_S,
    PROBE_FAILED_S,
    SETTLE_S,
    UP_AFTER_S,
    VideoBudget,
)

VIDEO, VOICE = 1111, 2222


class Viewer:
    """A viewer's receiver reports: each m-line reports every ``step`` seconds."""

    def __init__(self, ceiling: int = 6) -> None:
        self.now = 0.0
        self.budget = VideoBudget(ceiling, clock=lambda: self.now)
        self.highest = {VIDEO: 1000, VOICE: 5000}
        self.lost = {VIDEO: 0, VOICE: 0}
        self.changes: list[tuple[float, int]] = []
        for ssrc, highest in self.highest.items():  # the first report starts the count
            assert not self.budget.report(ssrc, highest, 0)

    def run(self, seconds: float, loss: float, step: float = 0.25, packets: int = 50) -> None:
        """Reports for ``seconds`` at this loss, ``packets`` expected on each."""
        end = self.now + seconds
        while self.now + step <= end + 1e-9:
            self.now += step
            for ssrc in self.highest:
                self.highest[ssrc] += packets
                self.lost[ssrc] += round(loss * packets)
                if self.budget.report(ssrc, self.highest[ssrc], self.lost[ssrc]):
                    self.changes.append((self.now, self.budget.videos))


def test_a_clean_link_keeps_every_video() -> None:
    viewer = Viewer()
    viewer.run(30, loss=0.0)
    assert viewer.budget.videos == 6
    assert viewer.changes == []


def gaps(changes: list[tuple[float, int]]) -> list[float]:
    return [b[0] - a[0] for a, b in itertools.pairwise(changes)]


def test_loss_steps_down_one_video_a_settle_and_a_second_apart() -> None:
    viewer = Viewer()
    viewer.run(5.0, loss=0.2)
    assert [videos for _, videos in viewer.changes] == [5, 4, 3]
    assert viewer.changes[0][0] == MIN_SPAN_S
    assert all(gap == SETTLE_S + MIN_SPAN_S for gap in gaps(viewer.changes))


def test_heavy_loss_steps_down_faster_and_further() -> None:
    viewer = Viewer(ceiling=16)
    viewer.run(2.5, loss=0.5)
    assert [videos for _, videos in viewer.changes] == [8, 4, 2]  # half the rungs each time
    assert all(
        SETTLE_S + HEAVY_SPAN_S <= gap <= SETTLE_S + HEAVY_SPAN_S + 0.25
        for gap in gaps(viewer.changes)
    )


def test_loss_goes_down_to_no_video_and_never_below() -> None:
    viewer = Viewer(ceiling=3)
    viewer.run(20, loss=0.3)
    assert [videos for _, videos in viewer.changes] == [2, 1, 0]
    assert viewer.budget.videos == 0


def test_loss_between_the_thresholds_changes_nothing() -> None:
    viewer = Viewer()
    viewer.run(4, loss=0.5)
    held = viewer.budget.videos
    assert held < 6
    viewer.run(60, loss=0.05)
    assert viewer.budget.videos == held


def test_a_clean_link_probes_one_more_video_after_a_wait() -> None:
    viewer = Viewer()
    viewer.run(1.0, loss=0.5)
    assert viewer.budget.videos == 3  # half of six: half of what was sent was lost
    start = viewer.changes.pop()[0]
    viewer.run(UP_AFTER_S + SETTLE_S + 1, loss=0.0)
    assert [videos for _, videos in viewer.changes] == [4]
    waited = viewer.changes[0][0] - start
    assert SETTLE_S + UP_AFTER_S <= waited <= SETTLE_S + UP_AFTER_S + 1


def test_probes_that_fail_wait_twice_as_long_up_to_a_limit() -> None:
    viewer = Viewer(ceiling=2)
    viewer.run(5, loss=0.5)
    assert viewer.budget.videos == 0
    waits = []
    for _ in range(5):
        start = viewer.now
        while viewer.budget.videos == 0:
            viewer.run(0.25, loss=0.0)
        waits.append(viewer.now - start)
        viewer.run(MIN_SPAN_S + 0.25, loss=0.4)  # the link cannot take the video tried
        assert viewer.budget.videos == 0
    # Twice as long each time (4, 8, 16 s), then the longest wait again and again.
    top = next(i for i in range(len(waits)) if waits[i] >= MAX_UP_AFTER_S)
    assert all(a < b for a, b in itertools.pairwise(waits[: top + 1])), waits
    assert len(set(waits[top:])) == 1 and top < len(waits) - 1, waits
    assert MAX_UP_AFTER_S <= waits[top] <= MAX_UP_AFTER_S + SETTLE_S + MIN_SPAN_S + 1


def test_loss_long_after_a_step_resets_the_wait() -> None:
    """Congested even with no video: the link changed, so when it clears the next probe
    comes after the shortest wait, whatever failed before."""
    viewer = Viewer(ceiling=1)
    viewer.run(3, loss=0.5)
    while viewer.budget.videos == 0:
        viewer.run(0.25, loss=0.0)
    viewer.run(MIN_SPAN_S + 0.25, loss=0.4)  # failed
    assert viewer.budget.wait == 2 * UP_AFTER_S
    viewer.run(PROBE_FAILED_S + 2, loss=0.4)  # still lost long after: worse than before
    assert viewer.budget.wait == UP_AFTER_S


def test_a_probe_that_holds_is_followed_sooner_and_resets_the_wait() -> None:
    viewer = Viewer(ceiling=2)
    viewer.run(3, loss=0.5)
    assert viewer.budget.videos == 0
    while viewer.budget.videos == 0:
        viewer.run(0.25, loss=0.0)
    viewer.run(MIN_SPAN_S + 0.25, loss=0.4)  # failed: the wait doubles
    assert viewer.budget.wait == 2 * UP_AFTER_S
    while viewer.budget.videos == 0:
        viewer.run(0.25, loss=0.0)
    viewer.run(CLIMB_AFTER_S - 0.5, loss=0.0)
    assert viewer.budget.videos == 1
    viewer.run(0.75, loss=0.0)  # clean since the probe: the next follows sooner
    assert viewer.budget.videos == 2
    viewer.run(PROBE_FAILED_S + 0.5, loss=0.0)  # held: the wait is the shortest again
    assert viewer.budget.wait == UP_AFTER_S


def test_the_budget_never_probes_past_what_the_viewer_wants() -> None:
    viewer = Viewer()
    viewer.budget.wanted = 2
    viewer.run(1, loss=0.5)
    assert viewer.budget.videos == 1  # from the two it got, not from six
    viewer.run(60, loss=0.0)
    assert viewer.budget.videos == 2
    viewer.budget.wanted = 4  # two cameras more on a link long clean: tried one at a time
    viewer.run(0.25, loss=0.0)
    assert viewer.budget.videos == 3
    viewer.run(CLIMB_AFTER_S - 0.5, loss=0.0)
    assert viewer.budget.videos == 3
    viewer.run(MIN_SPAN_S + 0.5, loss=0.0)
    assert viewer.budget.videos == 4


def test_too_few_packets_decide_nothing() -> None:
    viewer = Viewer()
    viewer.run(10, loss=1.0, step=1.0, packets=MIN_PACKETS // 8)
    assert viewer.budget.videos == 6


def test_an_idle_m_line_counts_for_nothing() -> None:
    budget = VideoBudget(3, clock=lambda: 0.0)
    budget.report(VIDEO, 100, 0)
    for lost in range(10):
        assert not budget.report(VIDEO, 100, lost)  # no packet expected: nothing counted
    budget.report(VOICE, 100, 0)
    assert not budget.report(VOICE, 100 + 10 * MIN_PACKETS, 0)
    assert budget.videos == 3


def test_packets_sent_again_in_time_are_not_lost() -> None:
    """Chromium's reports a few hundredths of a second apart: packets missing at one
    arrive on a NACK before the next, and the cumulative count goes back down."""
    now = 0.0
    budget = VideoBudget(3, clock=lambda: now)
    budget.report(VIDEO, 0, 0)
    highest = 0
    for n in range(200):
        now += 0.03
        highest += 3
        assert not budget.report(VIDEO, highest, 2 if n % 2 == 0 else 0)
    assert budget.videos == 3


def test_a_report_over_time_before_a_step_down_does_not_step_again() -> None:
    """A voice reported seldom: its next report still covers the loss before the step."""
    now = 0.0
    budget = VideoBudget(3, clock=lambda: now)
    budget.report(VIDEO, 0, 0)
    budget.report(VOICE, 0, 0)
    now = 1.0
    assert budget.report(VIDEO, 100, 50)  # half lost: one video less
    now += SETTLE_S + 0.5
    assert not budget.report(VOICE, 200, 100)  # covers 0-2.5 s, since before the step
    now += 0.25
    assert not budget.report(VIDEO, 200, 51)  # covers 1-2.75 s: not counted either
    for _ in range(8):
        now += 0.25
        assert not budget.report(VIDEO, 200 + round(now * 100), 51)  # clean since
    assert budget.videos == 2


def overtaken(loss: float) -> VideoBudget:
    """Ten seconds of a 600-packet/s m-line reported every 30 ms, whose packets are
    overtaken by up to 150 others (jitter, and bursts): each report counts 0-150 lost that
    are still to come, beside ``loss``."""
    now = 0.0
    budget = VideoBudget(6, clock=lambda: now)
    rng = random.Random(17)
    highest = 0
    budget.report(VIDEO, 0, 0)
    for _ in range(333):
        now += 0.03
        highest += 18
        budget.report(VIDEO, highest, round(loss * highest) + rng.randint(0, 150))
    return budget


def test_packets_overtaken_by_others_are_not_lost() -> None:
    assert overtaken(0.01).videos == 6


def test_loss_behind_overtaken_packets_still_counts() -> None:
    assert overtaken(0.2).videos < 6


def test_a_link_that_came_back_is_climbed_in_growing_strides_and_a_failed_one_undone() -> None:
    """A ladder of layers has many rungs: each probe that held climbs twice as many as the
    one before, so a link back from a drop gets its full picture within seconds."""
    viewer = Viewer(ceiling=20)
    while viewer.budget.videos > 0:
        viewer.run(1, loss=0.5)
    viewer.changes.clear()
    while viewer.budget.videos < 15:
        viewer.run(0.25, loss=0.0)
    levels = [videos for _, videos in viewer.changes]
    assert levels == [1, 3, 7, 15], viewer.changes
    # While they hold, a probe follows the last one after 2 s clean.
    assert viewer.changes[3][0] - viewer.changes[0][0] <= 3 * CLIMB_AFTER_S + 0.5
    assert viewer.budget.stride == MAX_STRIDE
    # The next probe (to the top) is more than the link takes: back to where it started,
    # one rung at a time from there.
    while viewer.budget.videos == 15:
        viewer.run(0.25, loss=0.0)
    assert viewer.budget.videos == 20
    viewer.run(MIN_SPAN_S + 0.25, loss=0.4)
    assert viewer.budget.videos == 15 and viewer.budget.stride == 1


# -- the round trip: a queue on the viewer's link --------------------------------------


class TimedViewer(Viewer):
    """Reports with a round trip: the link's own ``base``, plus ``queue`` (jitter: each
    sample lifted by up to ``jitter``)."""

    def __init__(self, ceiling: int = 6) -> None:
        super().__init__(ceiling)
        self.rng = random.Random(5)

    def timed(
        self, seconds: float, loss: float, queue: float, jitter: float = 0.0, base: float = 0.02
    ) -> None:
        end = self.now + seconds
        while self.now + 0.25 <= end + 1e-9:
            self.budget.round_trip(base + queue + self.rng.uniform(0, jitter))
            self.budget.round_trip(base + queue + self.rng.uniform(0, jitter))
            self.run(0.25, loss)


def test_loss_with_a_queue_on_the_link_takes_a_rung_without_one_nothing() -> None:
    """4% lost: at a link's limit (its queue full) a rung goes; with no queue (noise on a
    radio link: sending less loses as much) nothing changes."""
    at_limit, noisy = TimedViewer(), TimedViewer()
    for viewer in (at_limit, noisy):
        viewer.timed(5, loss=0.0, queue=0.0)
    at_limit.timed(2.5, loss=0.04, queue=0.3)
    noisy.timed(10, loss=0.04, queue=0.0)
    assert at_limit.budget.videos == 5 and noisy.budget.videos == 6


def test_jitter_is_not_a_queue() -> None:
    viewer = TimedViewer()
    viewer.timed(5, loss=0.0, queue=0.0)
    viewer.timed(10, loss=0.04, queue=0.0, jitter=0.2)
    assert viewer.budget.videos == 6


def test_no_probe_goes_into_a_queue() -> None:
    viewer = TimedViewer()
    viewer.budget.videos = 3
    viewer.timed(2, loss=0.0, queue=0.0)  # clean, but not yet long enough for a probe
    viewer.timed(3 * MAX_UP_AFTER_S, loss=0.0, queue=0.2)
    assert viewer.budget.videos == 3
    viewer.timed(NOW_S + CLIMB_AFTER_S + 0.5, loss=0.0, queue=0.0)
    assert viewer.budget.videos == 4


def test_a_queue_that_goes_away_by_itself_is_a_wider_link_probed_at_once() -> None:
    """A drop that lifts: the queue that stood on the narrow link vanishes although
    nothing was sent less, so the next probe comes ``CLIMB_AFTER_S`` after, not after
    the wait that failed probes built up there."""
    lifted, stepped = TimedViewer(), TimedViewer()
    for viewer in (lifted, stepped):
        viewer.timed(5, loss=0.0, queue=0.0)
        viewer.budget.videos, viewer.budget.wait = 2, MAX_UP_AFTER_S
    lifted.timed(10, loss=0.0, queue=0.3)  # a standing queue, no step down
    lifted.timed(NOW_S + CLIMB_AFTER_S + 0.5, loss=0.0, queue=0.0)
    assert lifted.budget.videos == 3
    # A queue that drains right after a step down is that step's doing: the wait holds.
    stepped.timed(1, loss=0.0, queue=0.3)
    stepped.timed(2, loss=0.3, queue=0.3)  # heavy loss: down
    stepped.timed(NOW_S + CLIMB_AFTER_S + 0.5, loss=0.0, queue=0.0)
    levels = [videos for _, videos in stepped.changes]
    assert levels and levels == sorted(levels, reverse=True) and levels[-1] < 2, levels
