"""Viewers of one publisher, on this service or on the stock relay, measured over a window.

The same clip (pre-encoded, so publishing costs no encoding) and the same counting
viewers (no decoding) load either server; only the server differs.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection

from loadtest.clip import Clip
from loadtest.counter import StreamCounter, rates
from loadtest.media import MediaClient
from loadtest.participant import Participant
from loadtest.runner import scrape
from tests.bench import profile, stock_client
from tests.bench.process import CpuMeter, Server

Mint = Callable[..., str]


@dataclasses.dataclass(frozen=True)
class Window:
    """What one measurement window saw."""

    viewers: int
    seconds: float
    server_cores: float  # CPU of the server process, in cores
    load_cores: float  # CPU of this process (the load generator), in cores
    fps_mean: float
    fps_min: float
    fps_p05: float
    loss: float
    packets_per_s: float  # RTP packets received by all viewers together
    sent_fps: float
    dropped_per_s: float | None = None  # packets the server did not send (see its metric)

    @property
    def streams(self) -> float:
        """Viewers served, counted in full streams: a viewer getting half the frames is half."""
        return self.viewers * self.fps_mean / self.sent_fps if self.sent_fps else 0.0

    def us_per_packet(self) -> float:
        return self.server_cores / self.packets_per_s * 1e6 if self.packets_per_s else 0.0

    def to_row(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"us_per_packet": self.us_per_packet()}


class Fleet(abc.ABC):
    """Viewers of one video stream; subclasses connect them to a particular server."""

    def __init__(self, server: Server, session: aiohttp.ClientSession, clip: Clip) -> None:
        self.server, self.session, self.clip = server, session, clip
        self.counters: list[StreamCounter] = []
        self.sent_frames: Callable[[], int] = lambda: 0

    @abc.abstractmethod
    async def publish(self) -> None:
        """Start the one publisher."""

    @abc.abstractmethod
    async def add_viewer(self) -> None:
        """Connect one more counted viewer."""

    async def grow(self, total: int, batch: int = 10) -> None:
        while len(self.counters) < total:
            wanted = min(batch, total - len(self.counters))
            await asyncio.gather(*(self.add_viewer() for _ in range(wanted)))

    async def measure(
        self, warmup_s: float, seconds: float, profile_to: Path | None = None
    ) -> Window:
        """Figures over ``seconds`` after ``warmup_s``; with ``profile_to``, py-spy samples
        the server meanwhile (externally, without --blocking: little overhead)."""
        await asyncio.sleep(warmup_s)
        sampling = (
            asyncio.get_running_loop().create_task(
                profile.record(self.server.pid, seconds, profile_to)
            )
            if profile_to is not None
            else None
        )
        meter = CpuMeter(self.server.pid)
        metrics_before = await self.server_metrics()
        before = [c.reading() for c in self.counters]
        sent_before, load_before = self.sent_frames(), time.process_time()
        meter.start()
        started = time.monotonic()
        await asyncio.sleep(seconds)
        server_cores = meter.stop()
        span = time.monotonic() - started
        load_cores = (time.process_time() - load_before) / span
        after = [c.reading() for c in self.counters]
        metrics_after = await self.server_metrics()
        if sampling is not None:
            await sampling
        figures = [rates(b, a) for b, a in zip(before, after, strict=True)]
        fps = sorted(f["fps"] for f in figures)
        expected = sum(a.expected - b.expected for b, a in zip(before, after, strict=True))
        received = sum(a.packets - b.packets for b, a in zip(before, after, strict=True))
        return Window(
            viewers=len(self.counters),
            seconds=span,
            server_cores=server_cores,
            load_cores=load_cores,
            fps_mean=statistics.fmean(fps),
            fps_min=fps[0],
            fps_p05=fps[len(fps) // 20],
            loss=max(0, expected - received) / expected if expected else 0.0,
            packets_per_s=received / span,
            sent_fps=(self.sent_frames() - sent_before) / span,
            dropped_per_s=(
                (metrics_after["packets_dropped"] - metrics_before["packets_dropped"]) / span
                if "packets_dropped" in metrics_before and "packets_dropped" in metrics_after
                else None
            ),
        )

    async def server_metrics(self) -> dict[str, float]:
        """The server's /metrics figures (none for a server without them)."""
        return {}

    def publisher_problem(self) -> str:
        """Why the publisher stopped sending, as far as this side can tell."""
        return "the publisher stopped sending"

    @abc.abstractmethod
    async def close(self) -> None:
        """Close every connection."""


class ClassroomFleet(Fleet):
    """Viewers of this service: participants on the websocket, media over its signalling."""

    def __init__(
        self,
        server: Server,
        session: aiohttp.ClientSession,
        clip: Clip,
        mint: Mint,
        room: str = "bench",
    ) -> None:
        super().__init__(server, session, clip)
        self.mint, self.room = mint, room
        self.people: list[Participant] = []
        self.clients: list[MediaClient] = []
        self.joined = 0

    async def _join(self, name: str, role: str) -> Participant:
        token = self.mint(self.room, role, name, sub=name)
        person = Participant(self.server.url, token, name, role)
        await person.join(timeout_s=60)
        self.people.append(person)
        return person

    async def publish(self) -> None:
        person = await self._join("publisher", "trainer")
        client = MediaClient(person, self.clip, None)
        await client.start()
        self.clients.append(client)
        self.sent_frames = lambda: client.sent["camera"].frames_sent

    async def add_viewer(self) -> None:
        self.joined += 1  # before any await: viewers join concurrently
        person = await self._join(f"viewer-{self.joined}", "trainee")
        client = MediaClient(person)
        self.clients.append(client)
        await client.start()
        async with asyncio.timeout(60):
            while True:  # the server offers the subscribe connection on its own
                shown = [c for kind, c in client.shown().values() if kind == "video"]
                if shown:
                    break
                await asyncio.sleep(0.05)
        self.counters.append(shown[0])

    async def server_metrics(self) -> dict[str, float]:
        return await scrape(self.session, self.server.url)

    def publisher_problem(self) -> str:
        publisher, person = self.clients[0], self.people[0]
        said = publisher.problem() or "its connection looks up"
        if person.closed.is_set():
            said += f"; its websocket was {person.close_reason or 'closed'}"
        return f"the publisher stopped sending ({said})"

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)
        await asyncio.gather(*(p.close() for p in self.people), return_exceptions=True)


class StockFleet(Fleet):
    """Viewers of the stock relay (tests/bench/stock_relay.py)."""

    def __init__(self, server: Server, session: aiohttp.ClientSession, clip: Clip) -> None:
        super().__init__(server, session, clip)
        self.pcs: list[RTCPeerConnection] = []

    async def publish(self) -> None:
        pc, track = await stock_client.publish(self.session, self.server.url, self.clip)
        self.pcs.append(pc)
        self.sent_frames = lambda: track.frames_sent

    async def add_viewer(self) -> None:
        pc, counter = await stock_client.view(self.session, self.server.url)
        self.pcs.append(pc)
        self.counters.append(counter)

    async def close(self) -> None:
        await asyncio.gather(*(pc.close() for pc in self.pcs), return_exceptions=True)
