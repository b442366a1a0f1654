"""Queues of processing jobs: in this process by default, or a Redis stream shared by workers.

A job is a recording id. Delivery is at least once: a job leaves the queue only
when ``finish`` is called after it ran (or was given up). In memory, what
outlives a restart is each recording's status on disk: ``recover`` finds the
ones still to process. With Redis, jobs sit in a stream read by a consumer
group; a worker that dies leaves its job pending, and after ``CLAIM_IDLE_MS``
without a sign of life (``keepalive``) another worker claims it (XAUTOCLAIM).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
from typing import Any, Protocol

import redis.asyncio as aioredis
import redis.exceptions

log = logging.getLogger("classroom.recordings")

STREAM = "classroom:recordings:jobs"
GROUP = "pipeline"
CLAIM_IDLE_MS = 60_000
BLOCK_MS = 2_000  # under the client's socket timeout (5 s)


@dataclasses.dataclass(frozen=True)
class Delivery:
    recording_id: str
    entry: str  # the queue's own id of this delivery


class JobQueue(Protocol):
    async def submit(self, recording_id: str) -> None: ...

    async def take(self) -> Delivery | None:
        """The next job: waits for one, or gives None after a while without any (the
        caller loops, and so can stop between two waits)."""
        ...

    async def keepalive(self, delivery: Delivery) -> None:
        """Say the job is still being worked on (call more often than every CLAIM_IDLE_MS)."""
        ...

    async def finish(self, delivery: Delivery) -> None:
        """The job is done (or given up): it will not be delivered again."""
        ...

    async def close(self) -> None: ...


class MemoryQueue:
    """Jobs of this process; durable only through the statuses ``recover`` reads back."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._count = 0

    async def submit(self, recording_id: str) -> None:
        self._queue.put_nowait(recording_id)

    async def take(self) -> Delivery:
        recording_id = await self._queue.get()
        self._count += 1
        return Delivery(recording_id, str(self._count))

    async def keepalive(self, delivery: Delivery) -> None:
        return None

    async def finish(self, delivery: Delivery) -> None:
        return None

    async def close(self) -> None:
        return None


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class RedisQueue:
    """A Redis stream with one consumer group; every worker is a consumer."""

    def __init__(
        self,
        url: str,
        *,
        stream: str = STREAM,
        consumer: str | None = None,
        claim_idle_ms: int = CLAIM_IDLE_MS,
    ) -> None:
        self.redis: Any = aioredis.Redis.from_url(url, decode_responses=True)
        self.stream = stream
        self.consumer = consumer or consumer_name()
        self.claim_idle_ms = claim_idle_ms
        self._group_ready = False

    async def _group(self) -> None:
        if self._group_ready:
            return
        try:
            await self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.exceptions.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True

    async def submit(self, recording_id: str) -> None:
        await self._group()
        await self.redis.xadd(self.stream, {"recording": recording_id})

    async def take(self) -> Delivery | None:
        # One round, not a loop: the Redis client may swallow a cancellation while it
        # blocks, and a loop here would then never give the worker back its stop flag.
        await self._group()
        # First the jobs of workers that went silent, then new ones.
        _, claimed, *_ = await self.redis.xautoclaim(
            self.stream, GROUP, self.consumer, min_idle_time=self.claim_idle_ms, count=1
        )
        for entry, fields in claimed:
            if fields and fields.get("recording"):
                log.warning("claimed a job from a silent worker", extra={"entry": entry})
                return Delivery(fields["recording"], entry)
            await self.redis.xack(self.stream, GROUP, entry)  # deleted meanwhile
        reply = await self.redis.xreadgroup(
            GROUP, self.consumer, {self.stream: ">"}, count=1, block=BLOCK_MS
        )
        for _, entries in reply or []:
            for entry, fields in entries:
                return Delivery(fields["recording"], entry)
        return None

    async def keepalive(self, delivery: Delivery) -> None:
        # Claiming one's own entry again resets its idle time.
        await self.redis.xclaim(
            self.stream,
            GROUP,
            self.consumer,
            min_idle_time=0,
            message_ids=[delivery.entry],
            justid=True,
        )

    async def finish(self, delivery: Delivery) -> None:
        await self.redis.xack(self.stream, GROUP, delivery.entry)
        await self.redis.xdel(self.stream, delivery.entry)

    async def pending(self) -> int:
        """How many jobs were delivered and not finished (for tests and health)."""
        await self._group()
        summary = await self.redis.xpending(self.stream, GROUP)
        return int(summary["pending"])

    async def close(self) -> None:
        await self.redis.aclose()


def open_queue(redis_url: str) -> JobQueue:
    """The queue selected by settings: a Redis stream when a URL is given, else memory."""
    return RedisQueue(redis_url) if redis_url else MemoryQueue()
