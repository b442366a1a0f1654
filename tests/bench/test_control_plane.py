"""The server's time for control messages in a room that forwards media, by room size.

A chat line, a quiz answer, a raised hand, a trainer's mute and a listener's channel
choice, each sent 40 times into one room of 50, 100, 200 and 400 participants where
2 cameras, 8 microphones and 2 interpreters (interpretation and booth talk) are
published and every participant receives. Issue 12: the time of a chat line or an
answer must not grow with the room (flat within 2x from 50 to 400); a mute or a
channel choice must cost what the viewers it affects cost, nothing more.

Measured in this process, on the real service: the app ``create_app`` makes (the
SQLite store, the hub, every feature's listeners and the media router with its
policies), its websocket dispatcher fed each message as a connection's page would
send it. What is fake: each connection's socket (it keeps the text the server
serialized and writes nothing), and the peer connection behind each real ``Subscriber`` (its
offers are answered at once, without aiortc: ``Negotiated``); the published tracks
are ``PublishedTrack`` objects fed no packets. Time is the event loop thread's CPU
time (``time.thread_time``), so the store's own thread and waiting are not counted:
"handling" is the dispatch of the message (core, listeners, router, queueing the
messages it causes), "with delivery" adds what runs after it on the loop (each
connection's writer serializing its copy, subscribers telling their page what they
show now).

Before and after in the same run: "before" makes the room's router look at every
(track, viewer) pair and choose every viewer's videos again on every change, as it
did before ``refresh(scope)`` (``refresh()`` with no scope); "after" passes the scope
of the events (``classroom.forwarding``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from classroom.forwarding import Scope
from classroom.identity import Identity
from classroom.permissions import Role
from config import load_settings
from live.hub import Connection, LiveRoom
from media import router as router_module
from media.codecs import codec_named
from media.forwarding import PublishedTrack
from media.router import MediaRouter
from media.subscriber import Subscriber
from media.tracks import TrackInfo
from tests.bench import report
from web.app import create_app
from web.context import HUB
from web.ws import DISPATCHER, Dispatcher, arrive

SIZES = (50, 100, 200, 400)
REPEAT = 40
ROOM = "control"
CAMERAS = ("t", "p1")  # the trainer and one trainee publish a camera (and a microphone)
MICROPHONES = ("m1", "m2", "m3", "m4", "m5", "m6")  # six more trainees speak
INTERPRETERS = ("i1", "i2")  # the sr booth: interpretation, booth talk, a microphone
ACTIONS = ("chat", "answer", "hand", "mute", "channel")
QUIET = ("chat", "answer", "hand")  # must never reach the router
TARGET_RATIO = 2.0
COMMAND = ".venv/bin/python -m pytest tests/bench/test_control_plane.py -o addopts='' -s"
QUESTION = {
    "text": "Which body hears an asylum appeal?",
    "options": ["A court", "The border police", "The ministry", "Nobody"],
    "correct": [0],
    "time_limit_s": 600,
}


class Socket:
    """A connection's websocket that keeps the texts it is sent and writes nothing (the
    server serialized each message once for everyone; reading them is the page's work,
    done here only when the test asks)."""

    errors: list[dict[str, Any]] = []  # every error any page was sent

    def __init__(self) -> None:
        self.texts: collections.deque[str] = collections.deque(maxlen=64)

    async def send_str(self, text: str) -> None:
        self.texts.append(text)
        if '"error"' in text and json.loads(text).get("type") == "error":
            Socket.errors.append(json.loads(text))

    @property
    def last(self) -> dict[str, dict[str, Any]]:
        """The last message of each type among those kept."""
        return {data.get("type", ""): data for data in map(json.loads, self.texts)}

    async def close(self, *, code: int = 1000, message: bytes = b"") -> None:
        return None


class _Transceiver:
    def __init__(self, mid: str) -> None:
        self.mid = mid


class Negotiated(Subscriber):
    """A real subscriber whose page answers every offer at once (no peer connection)."""

    async def _offer(self) -> None:
        for slot in self.slots:
            if slot.transceiver is None:
                slot.transceiver = _Transceiver(str(self.slots.index(slot)))  # type: ignore[assignment]
                slot.answered = True
        self.offers += 1
        self._sent = self.tracks()
        self._send_offer("v=0 (bench)", self._sent)


class Room:
    """One room of ``size`` participants, every one receiving, on the real service."""

    def __init__(self, app: web.Application, size: int) -> None:
        self.app = app
        self.size = size
        self.dispatcher: Dispatcher = app[DISPATCHER]
        self.live: LiveRoom = app[HUB].room(ROOM)
        self.connections: dict[str, Connection] = {}
        self.trainees = [f"a{n}" for n in range(size - 2 - len(MICROPHONES) - len(INTERPRETERS))]
        assert len(self.trainees) >= REPEAT
        self.quiz = ""
        self.sent: dict[str, int] = {}  # messages of each action sent so far

    @property
    def router(self) -> MediaRouter:
        router = self.live.media
        assert router is not None
        return router

    async def join(self, pid: str, role: Role, lang: str | None = None) -> None:
        now = int(time.time())
        identity = Identity(pid, pid, ROOM, role, lang, exp=now + 3600, iat=now)
        conn = Connection(Socket(), identity, uuid.uuid4().hex)
        self.connections[pid] = conn
        await arrive(conn, self.live, self.dispatcher)

    async def send(self, pid: str, message: dict[str, Any]) -> None:
        await self.dispatcher.dispatch(self.connections[pid], self.live, json.dumps(message))

    async def fill(self) -> None:
        await self.join("t", Role.TRAINER)
        for pid in ("p1", *MICROPHONES, *self.trainees):
            await self.join(pid, Role.TRAINEE)
        for pid in INTERPRETERS:
            await self.join(pid, Role.INTERPRETER, "sr")
        assert len(self.connections) == self.size
        for pid in self.connections:
            await self.send(pid, {"type": "media_ready", "codecs": ["VP8"]})
        published = [(pid, s) for pid in CAMERAS for s in ("camera", "microphone")]
        published += [(pid, "microphone") for pid in MICROPHONES]
        published += [(pid, s) for pid in INTERPRETERS for s in ("interpretation", "booth")]
        published += [(pid, "microphone") for pid in INTERPRETERS]
        for pid, source in published:
            kind = "video" if source == "camera" else "audio"
            codec = codec_named("vp8" if kind == "video" else "opus")
            info = TrackInfo(f"{pid}/{source}", pid, source, kind, codec.name, codec.clock_rate)
            self.router._publish(PublishedTrack(info, codec, self.router.counters, lambda: None))
            self.router.refresh(Scope.publisher(pid))
        await settle(self)

    async def new_question(self) -> None:
        """A one-question quiz, started: every trainee may answer it."""
        await self.send("t", {"type": "create_quiz", "title": "Bench", "questions": [QUESTION]})
        await settle(self)
        last = self.socket("t").last
        assert "quiz_created" in last, (sorted(last), last.get("error"))
        self.quiz = last["quiz_created"]["quiz"]["id"]
        await self.send("t", {"type": "start_quiz", "quiz": self.quiz})
        await settle(self)
        for _ in range(100):
            if not busy(self):
                break
            await asyncio.sleep(0.001)

    def socket(self, pid: str) -> Socket:
        ws = self.connections[pid].ws
        assert isinstance(ws, Socket)
        return ws

    def message(self, action: str, n: int) -> tuple[str, dict[str, Any]]:
        """The n-th message of an action (raising and lowering, muting and unmuting in turn)."""
        trainee = self.trainees[n % len(self.trainees)]
        if action == "chat":
            return trainee, {"type": "chat", "text": f"Question {n} about the appeal deadline?"}
        if action == "answer":
            who = self.trainees[n % REPEAT]  # each answers the question once
            return who, {"type": "answer_quiz", "quiz": self.quiz, "index": 0, "choices": [n % 4]}
        if action == "hand":
            return self.trainees[n // 2], {"type": "raise_hand", "raised": n % 2 == 0}
        if action == "mute":
            return "t", {"type": "mute", "target": "m1", "muted": n % 2 == 0}
        if action == "channel":
            channel = "sr" if n % 2 == 0 else "original"
            return self.trainees[n // 2], {"type": "select_channel", "channel": channel}
        raise ValueError(action)


async def settle(room: Room) -> None:
    """Let every task a message caused run (writers, subscriber updates)."""
    for _ in range(10):
        await asyncio.sleep(0)


def busy(room: Room) -> bool:
    pending = any(not c.outbox.empty() for c in room.connections.values())
    syncing = any(
        s._task is not None and not s._task.done() for s in room.router.subscribers.values()
    )
    return pending or syncing


class RouterClock:
    """Counts the router's refreshes and the loop's CPU time spent in them."""

    def __init__(self, router: MediaRouter, everything: bool) -> None:
        self.calls = 0
        self.cpu = 0.0
        refresh = MediaRouter.refresh.__get__(router)

        def timed(scope: Scope | None = None) -> None:
            self.calls += 1
            start = time.thread_time()
            refresh(None if everything else scope)
            self.cpu += time.thread_time() - start

        router.refresh = timed  # type: ignore[method-assign]
        self.undo: Callable[[], None] = lambda: delattr(router, "refresh")


async def measure(room: Room, action: str, everything: bool) -> dict[str, float]:
    if action == "answer":
        await room.new_question()  # each trainee answers it once
    offset = room.sent.get(action, 0)
    room.sent[action] = offset + REPEAT
    clock = RouterClock(room.router, everything)
    handling: list[float] = []
    total: list[float] = []
    try:
        for n in range(REPEAT):
            pid, message = room.message(action, offset + n)
            start = time.thread_time()
            await room.send(pid, message)
            handled = time.thread_time()
            await settle(room)
            end = time.thread_time()
            handling.append(handled - start)
            total.append(end - start)
            for _ in range(100):
                if not busy(room):
                    break
                await asyncio.sleep(0.001)
            assert not busy(room), f"{action}: still delivering"
    finally:
        clock.undo()
    return {
        "handling_ms": statistics.median(handling) * 1000,
        "handling_p90_ms": statistics.quantiles(handling, n=10)[-1] * 1000,
        "total_ms": statistics.median(total) * 1000,
        "router_ms": clock.cpu / REPEAT * 1000,
        "refreshes": clock.calls / REPEAT,
    }


@contextlib.asynccontextmanager
async def service(data_dir: Path) -> AsyncIterator[web.Application]:
    """The app ``classroom serve`` runs, started in this process (no HTTP listener)."""
    settings = load_settings(
        environ={},
        data_dir=str(data_dir),
        token_secret="bench-secret-" + "y" * 40,
        log_format="text",
        log_level="WARNING",
        room_max_participants=5000,
        ice_servers=(),
    )
    application = create_app(settings)
    runner = web.AppRunner(application)
    await runner.setup()
    try:
        yield application
    finally:
        await runner.cleanup()


async def run_size(data_dir: Path, size: int) -> dict[tuple[str, str], dict[str, float]]:
    figures: dict[tuple[str, str], dict[str, float]] = {}
    async with service(data_dir) as application:
        room = Room(application, size)
        await room.fill()
        for mode, everything in (("before", True), ("after", False)):
            for action in ACTIONS:
                figures[mode, action] = await measure(room, action, everything)
        figures["fanout", ""] = await fan_out(room)
    return figures


async def fan_out(room: Room) -> dict[str, float]:
    """What queueing one message for every connection costs (what a chat line or a hand
    cannot avoid: everyone is told), measured alone."""
    times = []
    for _ in range(REPEAT):
        start = time.thread_time()
        room.live.send({"type": "bench", "text": "to everyone"})
        times.append(time.thread_time() - start)
        await settle(room)
    return {"handling_ms": statistics.median(times) * 1000}


async def test_control_messages_cost_what_they_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(router_module, "Subscriber", Negotiated)
    results = {size: await run_size(tmp_path / str(size), size) for size in SIZES}
    assert Socket.errors == []
    for size in SIZES:
        for action in QUIET:
            for mode in ("before", "after"):
                assert results[size][mode, action]["refreshes"] == 0, (size, action, mode)
    fanout = {size: results[size]["fanout", ""]["handling_ms"] for size in SIZES}
    rows = []
    for action in ACTIONS:
        for size in SIZES:
            before, after = results[size]["before", action], results[size]["after", action]
            rows.append(
                (
                    action,
                    size,
                    before["handling_ms"],
                    before["router_ms"],
                    after["handling_ms"],
                    after["handling_p90_ms"],
                    after["router_ms"],
                    after["total_ms"],
                    after["handling_ms"] - fanout[size] if action in ("chat", "hand") else "",
                )
            )
    low, high = SIZES[0], SIZES[-1]
    ratios = {
        action: results[high]["after", action]["handling_ms"]
        / results[low]["after", action]["handling_ms"]
        for action in ACTIONS
    }
    beside = {
        action: (results[high]["after", action]["handling_ms"] - fanout[high])
        / (results[low]["after", action]["handling_ms"] - fanout[low])
        for action in ("chat", "hand")
    }
    met = ratios["answer"] <= TARGET_RATIO and beside["chat"] <= TARGET_RATIO
    for size in SIZES:
        print(size, json.dumps({f"{m}/{a}": v for (m, a), v in results[size].items()}))
    body = (
        f"One room of {', '.join(map(str, SIZES))} participants, every one receiving: "
        f"{len(CAMERAS)} cameras, {len(CAMERAS) + len(MICROPHONES)} microphones and "
        f"{len(INTERPRETERS)} interpreters (interpretation, booth talk) published, an sr "
        "channel on air, a quiz question open. Each message is sent "
        f"{REPEAT} times as a page sends it, into the real service in this process "
        "(`create_app`: SQLite store, hub, listeners, the media router and its policies, "
        "real `Subscriber` objects); what is fake is each websocket (serializes, writes "
        "nothing) and each subscriber's peer connection (offers answered at once). Time is "
        "the event loop thread's CPU time (the store's thread is not counted), median of "
        "40: handling is the dispatch of the message; with delivery adds what runs after "
        "it on the loop (each connection's writer serializing its copy, subscribers telling "
        "their page what they show). Before: the router looks at every (track, viewer) "
        "pair and every viewer's videos on each change (`refresh()` with no scope); after: "
        "only the scope of the events (`classroom.forwarding`). Chat, answers and hands "
        "never reached the router, before or after (0 refreshes, checked).\n\n"
        + report.table(
            (
                "message",
                "participants",
                "before: handling ms",
                "before: router ms",
                "after: handling ms",
                "after: p90 ms",
                "after: router ms",
                "after: with delivery ms",
                "after: handling less fan-out ms",
            ),
            rows,
        )
        + "\n"
        + f"From {low} to {high} participants, after: "
        + ", ".join(f"{a} x{ratios[a]:.2f}" for a in ACTIONS)
        + ".\n\n"
        + "Chat lines and hands go to every connection: queueing one message for everyone "
        + "costs "
        + ", ".join(f"{fanout[n]:.2f} ms at {n}" for n in SIZES)
        + " (measured alone), the one part of their handling that grows with the room; "
        + "the rest grows "
        + ", ".join(f"{a} x{beside[a]:.2f}" for a in ("chat", "hand"))
        + f" from {low} to {high}.\n"
    )
    report.write(
        report.Section(
            name="control_plane",
            title="Control messages by room size (chat, answer, hand, mute, channel)",
            target=f"chat and answer within {TARGET_RATIO:.0f}x from {low} to {high} (handling)",
            result=(
                f"answer x{ratios['answer']:.2f}; chat x{ratios['chat']:.2f}, "
                f"x{beside['chat']:.2f} less the fan-out to everyone"
            ),
            met=met,
            body=body,
            command=COMMAND,
        )
    )
