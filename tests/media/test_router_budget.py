"""A viewer's video budget in the router: its receiver reports' loss takes its videos away,
the first of the router's order last, never a voice, and nobody else's videos move."""

from __future__ import annotations

import dataclasses

from aiortc.rtp import RtcpReceiverInfo

from config import Settings
from media.congestion import VideoBudget
from media.forwarding import PublishedTrack
from media.router import MediaRouter
from media.subscriber import Subscriber
from tests.media.test_router_deltas import Quiet, publish

CAMERAS = ["p1", "p2", "p3"]  # published in this order: p1 first in the router's order
SSRC = 4242


class Viewer:
    """A subscriber with a video budget on an injected clock, fed receiver reports."""

    def __init__(self, router: MediaRouter, pid: str, clock: list[float]) -> None:
        self.clock = clock
        self.subscriber = Subscriber(
            pid,
            frozenset({"vp8"}),
            router.configuration,
            "",
            router.counters,
            send_offer=lambda sdp, tracks: None,
            send_tracks=lambda tracks: None,
            budget=VideoBudget(router.settings.max_videos_per_viewer, lambda: clock[0]),
            on_budget=router._budget_changed,
        )
        self.subscriber.awaiting_answer = True  # never negotiates: no peer connection
        router.subscribers[pid] = self.subscriber
        self.assigned = 0
        assign = self.subscriber.assign

        def counted(tracks: list[PublishedTrack]) -> None:
            self.assigned += 1
            assign(tracks)

        self.subscriber.assign = counted  # type: ignore[method-assign]
        self.highest = self.lost = 0

    def reports(self, seconds: float, loss: float) -> None:
        """A report every 0.1 s of 10 packets expected, ``loss`` of them lost."""
        for _ in range(round(seconds * 10)):
            self.clock[0] += 0.1
            self.highest += 10
            self.lost += round(10 * loss)
            info = RtcpReceiverInfo(SSRC, 0, self.lost, self.highest, 0, 0, 0)
            self.subscriber._reported(info)

    def shown(self, kind: str) -> list[str]:
        return [
            slot.outlet.source.info.participant
            for slot in self.subscriber.slots
            if slot.outlet.source is not None and slot.kind == kind
        ]


async def test_loss_takes_one_viewers_videos_away_the_first_last_and_never_a_voice(
    settings: Settings,
) -> None:
    router = MediaRouter("demo", dataclasses.replace(settings, max_videos_per_viewer=3), Quiet())
    clock = [0.0]
    poor, fine = Viewer(router, "v1", clock), Viewer(router, "v2", clock)
    for pid in CAMERAS:
        publish(router, pid, "camera")
        publish(router, pid, "microphone")
    router.refresh()
    assert sorted(poor.shown("video")) == CAMERAS == sorted(fine.shown("video"))
    fine.assigned = 0
    poor.reports(1, loss=0.0)

    steps = []
    for _ in range(3):
        videos = poor.subscriber.budget.videos  # type: ignore[union-attr]
        while poor.subscriber.budget.videos == videos:  # type: ignore[union-attr]
            poor.reports(0.1, loss=0.5)
        steps.append(sorted(poor.shown("video")))
        assert sorted(poor.shown("audio")) == CAMERAS
    assert steps == [["p1", "p2"], ["p1"], []]
    assert fine.assigned == 0 and sorted(fine.shown("video")) == CAMERAS

    # Clean: the first video comes back first, then the others in a larger stride.
    while not poor.shown("video"):
        poor.reports(0.1, loss=0.0)
    assert poor.shown("video") == ["p1"]
    while poor.shown("video") == ["p1"]:
        poor.reports(0.1, loss=0.0)
    assert sorted(poor.shown("video")) == CAMERAS
    assert sorted(poor.shown("audio")) == CAMERAS
    await router.close()
