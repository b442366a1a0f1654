"""The load test: join simulated participants, let media flow, measure, run a quiz burst, report."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from classroom.identity import mint_token
from web.loadtest.clip import encode_audio, encode_video
from web.loadtest.media import MediaClient, start_all
from web.loadtest.participant import JoinRefused, Participant, RequestFailed
from web.loadtest.quiz import BurstResult, quiz_burst
from web.loadtest.report import QUIZ_PREFIX, ParticipantResult, Progress, Report

#: Server figures read from /metrics: what the report calls them -> the metric's sample name.
SERVER_METRICS = {
    "cpu_seconds": "process_cpu_seconds_total",
    "rss_bytes": "process_resident_memory_bytes",
    "packets_forwarded": "classroom_media_packets_forwarded_total",
    "bytes_forwarded": "classroom_media_bytes_forwarded_total",
    "packets_dropped": "classroom_media_packets_dropped_total",
}


@dataclasses.dataclass(frozen=True)
class LoadConfig:
    url: str
    room: str
    publishers: int
    subscribers: int
    duration_s: float
    signing_key: Any
    audience: str
    issuer: str
    algorithm: str = "HS256"
    bitrate: int = 1_000_000
    size: tuple[int, int] = (640, 480)
    quiz_burst: int = 0
    warmup_s: float = 3.0
    join_batch: int = 50  # participants joining at once

    def __post_init__(self) -> None:
        if min(self.publishers, self.subscribers, self.quiz_burst) < 0:
            raise ValueError("participant counts cannot be negative")
        if self.publishers + self.subscribers + self.quiz_burst == 0:
            raise ValueError("nobody to simulate: give --publishers, --subscribers or --quiz-burst")
        if self.duration_s <= 0:
            raise ValueError("duration must be positive")

    def token(self, role: str, name: str) -> str:
        return mint_token(
            room=self.room,
            role=role,
            name=name,
            sub=f"loadtest-{name}",
            now=int(time.time()),
            ttl_s=int(self.duration_s + self.warmup_s) + 3600,
            signing_key=self.signing_key,
            algorithm=self.algorithm,
            audience=self.audience,
            issuer=self.issuer,
        )


async def scrape(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    """The server's figures from /metrics (missing ones are left out)."""
    wanted = {sample: name for name, sample in SERVER_METRICS.items()}
    found: dict[str, float] = {}
    async with session.get(url.rstrip("/") + "/metrics") as response:
        response.raise_for_status()
        text = await response.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted and not sample.labels:
                found[wanted[sample.name]] = sample.value
    return found


def server_figures(
    before: dict[str, float], after: dict[str, float], seconds: float
) -> dict[str, float | None]:
    """CPU cores used and counter rates between two scrapes; memory at the end."""
    figures: dict[str, float | None] = {"rss_bytes": after.get("rss_bytes")}
    for name in SERVER_METRICS:
        if name == "rss_bytes":
            continue
        key = "cpu_cores" if name == "cpu_seconds" else f"{name}_per_s"
        figures[key] = (
            (after[name] - before[name]) / seconds
            if name in after and name in before and seconds > 0
            else None
        )
    return figures


class LoadTest:
    """One run of the load: who joined, what they measured."""

    def __init__(self, config: LoadConfig, progress: Progress) -> None:
        self.config = config
        self.progress = progress
        self.people: list[Participant] = []
        self.results: dict[Participant, ParticipantResult] = {}
        self.trainer: Participant | None = None
        self.answerers: list[Participant] = []
        self.media: dict[Participant, MediaClient] = {}

    def _add(self, session: aiohttp.ClientSession, role: str, name: str) -> Participant:
        person = Participant(session, self.config.url, self.config.token(role, name), name, role)
        self.people.append(person)
        self.results[person] = ParticipantResult(name, role, publishes=False, join_ms=None)
        return person

    async def _join(self, people: list[Participant]) -> None:
        batch = self.config.join_batch
        for start in range(0, len(people), batch):
            group = people[start : start + batch]
            outcomes = await asyncio.gather(*(p.join() for p in group), return_exceptions=True)
            for person, outcome in zip(group, outcomes, strict=True):
                result = self.results[person]
                if isinstance(outcome, JoinRefused | OSError | aiohttp.ClientError):
                    result.error = str(outcome) or type(outcome).__name__
                elif isinstance(outcome, BaseException):
                    raise outcome
                else:
                    result.join_ms = (person.join_s or 0.0) * 1000
            joined = sum(1 for p in self.people if p.join_s is not None)
            self.progress.note(f"joined {joined}/{len(self.people)}")

    async def run(self, session: aiohttp.ClientSession) -> Report:
        config = self.config
        video = audio = None
        if config.publishers:
            self.progress.note(
                f"encoding a {config.size[0]}x{config.size[1]} {config.bitrate / 1e6:g} Mbit/s "
                "clip once"
            )
            width, height = config.size
            video = await asyncio.to_thread(
                encode_video, bitrate=config.bitrate, width=width, height=height
            )
            audio = await asyncio.to_thread(encode_audio)
        publishers = [self._add(session, "trainee", f"pub-{n}") for n in range(config.publishers)]
        for person in publishers:
            self.media[person] = MediaClient(person, video, audio)
        for n in range(config.subscribers):
            subscriber = self._add(session, "trainee", f"sub-{n}")
            self.media[subscriber] = MediaClient(subscriber)
        if config.quiz_burst:
            self.trainer = self._add(session, "trainer", "trainer")
            self.answerers = [
                self._add(session, "trainee", f"{QUIZ_PREFIX}{n}") for n in range(config.quiz_burst)
            ]
        for person in publishers:
            self.results[person].publishes = True
        await self._join(self.people)
        await self._start_media()

        await asyncio.sleep(config.warmup_s)
        readings = {person: client.readings() for person, client in self.media.items()}
        sent = {person: self._frames_sent(person) for person in publishers}
        before, started = await scrape(session, config.url), time.monotonic()
        while (elapsed := time.monotonic() - started) < config.duration_s:
            self.progress.update(elapsed, self._status())
            await asyncio.sleep(min(1.0, config.duration_s - elapsed))
        after, seconds = await scrape(session, config.url), time.monotonic() - started
        self.progress.update(seconds, self._status())
        server = server_figures(before, after, seconds)
        self._media_results(readings)
        rates = [(self._frames_sent(p) - sent[p]) / seconds for p in publishers]
        sent_fps = sum(rates) / len(rates) if rates else None

        burst: BurstResult | None = None
        if self.trainer is not None and self.trainer.join_s is not None:
            answerers = [a for a in self.answerers if a.join_s is not None]
            self.progress.note(f"quiz burst: {len(answerers)} answers within 2 s")
            before_burst, burst_start = await scrape(session, config.url), time.monotonic()
            try:
                burst = await quiz_burst(self.trainer, answerers)
            except (RequestFailed, ConnectionError, TimeoutError) as error:
                self.results[self.trainer].error = f"quiz burst: {error}"
            else:
                after_burst = await scrape(session, config.url)
                cpu = server_figures(before_burst, after_burst, time.monotonic() - burst_start)
                burst = dataclasses.replace(burst, server_cpu_cores=cpu["cpu_cores"])
        self.progress.done()
        return Report(
            url=config.url,
            room=config.room,
            duration_s=seconds,
            sent_fps=sent_fps,
            participants=[self.results[p] for p in self.people],
            server=server,
            quiz=burst,
        )

    async def _start_media(self) -> None:
        clients = [c for p, c in self.media.items() if p.join_s is not None]
        if not clients:
            return
        for client, outcome in zip(clients, await start_all(clients), strict=True):
            if isinstance(outcome, RequestFailed | OSError | ValueError | TimeoutError):
                self.results[client.participant].error = f"media: {outcome}"
            elif outcome is not None:
                raise outcome
        self.progress.note(f"media started for {len(clients)}")

    def _frames_sent(self, person: Participant) -> int:
        client = self.media.get(person)
        track = client.sent.get("camera") if client else None
        return track.frames_sent if track else 0

    def _media_results(self, readings: dict[Participant, dict[Any, Any]]) -> None:
        for person, client in self.media.items():
            result = self.results[person]
            if person.started_at is None or person.join_s is None:
                continue
            got = client.received(readings.get(person, {}))
            first = client.first_video_frame_at()
            result.first_frame_ms = None if first is None else (first - person.started_at) * 1000
            result.streams = got.streams
            result.fps, result.audio_fps, result.loss = got.fps, got.audio_fps, got.loss
            result.kbps = got.bps / 1000
            problem = client.problem()
            if problem and not result.error:
                result.error = problem

    def _status(self) -> str:
        joined = sum(1 for p in self.people if p.join_s is not None)
        frames = sum(
            counter.frames
            for client in self.media.values()
            for _, counter in client.shown().values()
        )
        return f"joined {joined}/{len(self.people)}, frames received {frames}"

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.gather(*(p.close() for p in self.people), return_exceptions=True)
        await asyncio.gather(*(c.close() for c in self.media.values()))


async def run(config: LoadConfig, progress: Progress | None = None) -> Report:
    """Run a load test against a server and report what every simulated participant saw."""
    progress = progress or Progress(config.duration_s, enabled=False)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        test = LoadTest(config, progress)
        try:
            return await test.run(session)
        finally:
            await test.close()
