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
from loadtest.clip import Clip, SimulcastClip, encode_audio, encode_simulcast, encode_video
from loadtest.counter import Reading
from loadtest.media import MediaClient, start_all
from loadtest.participant import JoinRefused, Participant, RequestFailed
from loadtest.quiz import BurstResult, quiz_burst
from loadtest.report import QUIZ_PREFIX, ParticipantResult, Progress, Report

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
    simulcast: bool = False  # cameras in three layers (a quarter, half, full size)
    quiz_burst: int = 0
    late_subscribers: int = 0  # join once media flows, measured from warmup_s after
    warmup_s: float = 3.0
    join_batch: int = 50  # participants joining at once

    def __post_init__(self) -> None:
        if min(self.publishers, self.subscribers, self.quiz_burst, self.late_subscribers) < 0:
            raise ValueError("participant counts cannot be negative")
        if self.publishers + self.subscribers + self.quiz_burst + self.late_subscribers == 0:
            raise ValueError("nobody to simulate: give --publishers, --subscribers or --quiz-burst")
        if self.duration_s <= 0:
            raise ValueError("duration must be positive")
        if self.late_subscribers and self.duration_s <= self.warmup_s:
            raise ValueError(
                f"late subscribers need a duration longer than the {self.warmup_s:g} s warm-up"
            )

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


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """Every counter of some participants, and the frames the publishers sent, at one moment."""

    at: float
    readings: dict[Participant, dict[Any, Reading]]
    sent: dict[Participant, int]


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

    def _add(self, role: str, name: str) -> Participant:
        person = Participant(self.config.url, self.config.token(role, name), name, role)
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
                if isinstance(outcome, JoinRefused | OSError):
                    result.error = str(outcome) or type(outcome).__name__
                elif isinstance(outcome, BaseException):
                    raise outcome
                else:
                    result.join_ms = (person.join_s or 0.0) * 1000
            joined = sum(1 for p in self.people if p.join_s is not None)
            self.progress.note(f"joined {joined}/{len(self.people)}")

    async def run(self, session: aiohttp.ClientSession) -> Report:
        """Join everyone over websockets, let media flow, measure; ``session`` reads /metrics."""
        config = self.config
        video: Clip | SimulcastClip | None = None
        audio = None
        if config.publishers:
            layers = " in three simulcast layers" if config.simulcast else ""
            self.progress.note(
                f"encoding a {config.size[0]}x{config.size[1]} {config.bitrate / 1e6:g} Mbit/s "
                f"clip{layers} once"
            )
            width, height = config.size
            encode = encode_simulcast if config.simulcast else encode_video
            video = await asyncio.to_thread(
                encode, bitrate=config.bitrate, width=width, height=height
            )
            audio = await asyncio.to_thread(encode_audio)
        publishers = [self._add("trainee", f"pub-{n}") for n in range(config.publishers)]
        for person in publishers:
            self.media[person] = MediaClient(person, video, audio)
        for n in range(config.subscribers):
            subscriber = self._add("trainee", f"sub-{n}")
            self.media[subscriber] = MediaClient(subscriber)
        if config.quiz_burst:
            self.trainer = self._add("trainer", "trainer")
            self.answerers = [
                self._add("trainee", f"{QUIZ_PREFIX}{n}") for n in range(config.quiz_burst)
            ]
        for person in publishers:
            self.results[person].publishes = True
        late = [self._add("trainee", f"late-{n}") for n in range(config.late_subscribers)]
        for person in late:
            self.results[person].late = True
        on_time = [p for p in self.people if p not in late]
        await self._join(on_time)
        await self._start_media()

        await asyncio.sleep(config.warmup_s)
        before = await scrape(session, config.url)
        start = self._snapshot(on_time)
        if late:
            # Viewers who join a room where media already flows: their first frame is the
            # figure; their rates are taken from a warm-up after they joined.
            for person in late:
                self.media[person] = MediaClient(person)
            await self._join(late)
            await self._start_media(late)
        late_start: Snapshot | None = None
        while (elapsed := time.monotonic() - start.at) < config.duration_s:
            self.progress.update(elapsed, self._status())
            if late and late_start is None and elapsed >= config.warmup_s:
                late_start = self._snapshot(late)
            await asyncio.sleep(min(1.0, config.duration_s - elapsed))
        end = self._snapshot(self.people)
        after = await scrape(session, config.url)
        seconds = end.at - start.at
        self.progress.update(seconds, self._status())
        server = server_figures(before, after, seconds)
        self._media_results(start, end)
        if late_start is not None:
            self._media_results(late_start, end, late)
        rates = [(end.sent[p] - start.sent[p]) / seconds for p in publishers if p in start.sent]
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

    async def _start_media(self, people: list[Participant] | None = None) -> None:
        clients = [
            c
            for p, c in self.media.items()
            if p.join_s is not None and (people is None or p in people)
        ]
        if not clients:
            return
        for client, outcome in zip(clients, await start_all(clients), strict=True):
            if isinstance(outcome, RequestFailed | OSError | ValueError | TimeoutError):
                self.results[client.participant].error = f"media: {outcome}"
            elif outcome is not None:
                raise outcome
        self.progress.note(f"media started for {len(clients)}")

    def _snapshot(self, people: list[Participant]) -> Snapshot:
        """The counters of these participants and what every publisher sent, now."""
        readings = {p: self.media[p].readings() for p in people if p in self.media}
        sent = {}
        for person, client in self.media.items():
            track = client.sent.get("camera")
            if track is not None:
                sent[person] = track.frames_sent
        return Snapshot(time.monotonic(), readings, sent)

    def _media_results(
        self, start: Snapshot, end: Snapshot, people: list[Participant] | None = None
    ) -> None:
        """Each participant's figures between two snapshots (its own, if in ``start``)."""
        voices = {  # every voice reaches every other participant
            person.id
            for person, client in self.media.items()
            if client.publish_pc is not None and client.publish_pc.connectionState == "connected"
        }
        for person in start.readings if people is None else people:
            client, result = self.media[person], self.results[person]
            if person.started_at is None or person.join_s is None:
                continue
            got = client.received(start.readings.get(person, {}), end.readings[person], start.at)
            first = client.first_video_frame_at()
            result.first_frame_ms = None if first is None else (first - person.started_at) * 1000
            every = client.every_video_at()
            result.every_video_ms = None if every is None else (every - person.started_at) * 1000
            result.streams, result.videos = got.streams, got.video_streams
            result.fps, result.audio_fps, result.loss = got.fps, got.audio_fps, got.loss
            result.video_fps_min = got.fps_min
            result.kbps = got.bps / 1000
            problem = client.problem(voices)
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
    async with aiohttp.ClientSession() as session:  # for /metrics; participants use websockets
        test = LoadTest(config, progress)
        try:
            return await test.run(session)
        finally:
            await test.close()
