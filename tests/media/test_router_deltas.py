"""``MediaRouter.refresh(scope)``: only the pairs in the scope are put to the policies, the
result is what a full refresh would decide, and voices do not choose videos again.

The router holds real ``Subscriber`` objects and published tracks, without peer
connections (nothing is negotiated or sent here; ``test_router`` does that)."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from classroom.forwarding import VIDEOS, Pairs, Scope
from config import Settings
from media.codecs import codec_named
from media.forwarding import PublishedTrack
from media.router import MediaRouter, View
from media.subscriber import Subscriber
from media.tracks import TrackInfo

VIEWERS = [f"v{i}" for i in range(6)]
PUBLISHED = [("p1", "camera"), ("p1", "microphone"), ("p2", "camera"), ("p2", "microphone")]
PUBLISHED += [("p3", "microphone"), ("p3", "screen")]


class Quiet:
    """Signalling that sends nothing."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args: None


def publish(router: MediaRouter, pid: str, source: str) -> PublishedTrack:
    kind = "audio" if source == "microphone" else "video"
    codec = codec_named("opus" if kind == "audio" else "vp8")
    info = TrackInfo(f"{pid}/{source}", pid, source, kind, codec.name, codec.clock_rate)
    track = PublishedTrack(info, codec, router.counters, lambda: None)
    router._publish(track)
    return track


def subscribe(router: MediaRouter, pid: str) -> Subscriber:
    subscriber = Subscriber(
        pid,
        frozenset({"vp8"}),
        router.configuration,
        "",
        router.counters,
        send_offer=lambda sdp, tracks: None,
        send_tracks=lambda tracks: None,
    )
    subscriber.awaiting_answer = True  # never negotiates: no peer connection is made
    router.subscribers[pid] = subscriber
    return subscriber


class Rules:
    """A policy whose answers the test sets, counting the pairs it is asked about."""

    def __init__(self) -> None:
        self.denied: set[tuple[str, str, str]] = set()
        self.asked: list[tuple[str, str, str]] = []

    def __call__(self, publisher: str, source: str, viewer: str) -> bool:
        self.asked.append((publisher, source, viewer))
        return (publisher, source, viewer) not in self.denied


@pytest.fixture
async def router(settings: Settings) -> AsyncIterator[MediaRouter]:
    router = MediaRouter("demo", dataclasses.replace(settings, max_videos_per_viewer=2), Quiet())
    for pid in VIEWERS:
        subscribe(router, pid)
    for pid, source in PUBLISHED:
        publish(router, pid, source)
    yield router
    await router.close()


def bound(router: MediaRouter) -> dict[str, set[str]]:
    """What each subscriber forwards now, by track id."""
    return {
        pid: {s.outlet.source.info.id for s in sub.slots if s.outlet.source is not None}
        for pid, sub in router.subscribers.items()
    }


def afresh(router: MediaRouter) -> dict[str, set[str]]:
    return {
        pid: {t.info.id for t in router.selection(pid, sub)}
        for pid, sub in router.subscribers.items()
    }


async def test_a_scoped_refresh_asks_only_its_pairs_and_decides_as_a_full_one(
    router: MediaRouter,
) -> None:
    rules = Rules()
    router.add_policy(rules)  # a new policy: everything is looked at
    assert len(rules.asked) == len(VIEWERS) * len(PUBLISHED)
    assert bound(router) == afresh(router)

    # A trainer mutes p1: p1's microphone, for every viewer, and nothing else.
    rules.denied |= {("p1", "microphone", v) for v in VIEWERS}
    rules.asked.clear()
    router.refresh(Scope.publisher("p1", "microphone"))
    assert sorted(rules.asked) == sorted(("p1", "microphone", v) for v in VIEWERS)
    assert all("p1/microphone" not in ids for ids in bound(router).values())
    assert bound(router) == afresh(router)

    # One viewer's choice: that viewer alone.
    rules.denied.add(("p2", "microphone", "v3"))
    rules.asked.clear()
    router.refresh(Scope.viewer("v3", "microphone"))
    assert {v for _, _, v in rules.asked} == {"v3"}
    assert "p2/microphone" not in bound(router)["v3"]
    assert "p2/microphone" in bound(router)["v4"]
    assert bound(router) == afresh(router)


async def test_voices_keep_each_viewers_videos_and_a_pin_asks_no_policy(
    router: MediaRouter,
) -> None:
    rules = Rules()
    router.add_policy(rules)
    # Two videos each of three (p1, p2 cameras, p3's screen, screens first): p3/screen
    # and the oldest camera.
    assert bound(router)["v0"] >= {"p3/screen", "p1/camera"}
    assert "p2/camera" not in bound(router)["v0"]
    chosen = router._choose
    calls: list[str] = []

    def choose(view: View) -> list[PublishedTrack]:
        calls.append(view.subscriber.pid)
        return chosen(view)

    router._choose = choose  # type: ignore[method-assign]
    rules.denied |= {("p3", "microphone", v) for v in VIEWERS}
    router.refresh(Scope.publisher("p3", "microphone"))
    assert calls == []  # a voice changed: the videos stay as chosen
    rules.asked.clear()
    router.pin("p2")
    assert rules.asked == []  # the pin ranks videos again from the decisions kept
    assert sorted(calls) == sorted(VIEWERS)
    assert all("p2/camera" in ids for pid, ids in bound(router).items() if pid != "p2")
    assert bound(router) == afresh(router)
    calls.clear()
    rules.denied |= {("p3", "screen", v) for v in VIEWERS}  # the screen stops being shared
    router.refresh(Scope.publisher("p3", "screen"))
    assert sorted(calls) == sorted(v for v in VIEWERS)  # a video changed: chosen again
    assert bound(router) == afresh(router)


async def test_tracks_that_come_and_go_and_new_subscribers_are_decided_in_scope(
    router: MediaRouter,
) -> None:
    rules = Rules()
    router.add_policy(rules)
    router.pin("p1")
    old = router.tracks["p1/camera"]
    router._unpublish(old)
    new = publish(router, "p1", "camera")  # the same source again, another object
    router.refresh(Scope.publisher("p1"))
    assert bound(router) == afresh(router)
    assert all(s.outlet.source is not old for sub in router.subscribers.values() for s in sub.slots)
    assert any(s.outlet.source is new for s in router.subscribers["v0"].slots)
    router._unpublish(router.tracks["p2/microphone"])
    router.refresh(Scope.publisher("p2"))
    assert all("p2/microphone" not in ids for ids in bound(router).values())
    subscribe(router, "late")
    rules.asked.clear()
    router.refresh(Scope.viewer("late"))
    assert {v for _, _, v in rules.asked} == {"late"}
    assert bound(router) == afresh(router)
    router.subscribers["v1"] = subscribe(router, "v1")  # a fresh subscribe connection
    router.refresh(VIDEOS)  # decided afresh although the scope names no pair of it
    assert bound(router) == afresh(router)


async def test_random_changes_in_scope_match_a_full_refresh(router: MediaRouter) -> None:
    rules = Rules()
    router.add_policy(rules)
    pairs = [(p, s, v) for (p, s), v in itertools.product(PUBLISHED, VIEWERS)]
    for step in range(60):
        p, s, v = pairs[(step * 7919) % len(pairs)]
        rules.denied ^= {(p, s, v)}
        scope = [
            Scope.publisher(p, s),
            Scope.publisher(p),
            Scope.viewer(v, s),
            Scope.viewer(v),
            Scope.of(Pairs(source=s)),
        ][step % 5]
        router.refresh(scope)
        assert bound(router) == afresh(router), (step, scope)
    await asyncio.sleep(0)
