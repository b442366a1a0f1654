"""Store and bus implementations: in Redis, or in this process (the store in SQLite,
``live.sqlite_store``; ``MemoryStore`` is for tests that need no disk)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions

from classroom.ports import Bus, Store
from live.sqlite_store import SqliteStore, database_path


class MemoryStore:
    """State in this process's memory, gone when it stops: for tests only."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._expiry: dict[str, float] = {}
        self._hashes: defaultdict[str, dict[str, str]] = defaultdict(dict)
        self._lists: defaultdict[str, list[str]] = defaultdict(list)

    def _live(self, key: str) -> bool:
        deadline = self._expiry.get(key)
        if deadline is not None and time.monotonic() >= deadline:
            self._values.pop(key, None)
            self._expiry.pop(key, None)
        return key in self._values

    async def get(self, key: str) -> str | None:
        return self._values[key] if self._live(key) else None

    async def set(self, key: str, value: str, *, ttl_s: float | None = None) -> None:
        self._values[key] = value
        if ttl_s is None:
            self._expiry.pop(key, None)
        else:
            self._expiry[key] = time.monotonic() + ttl_s

    async def set_if_absent(self, key: str, value: str, *, ttl_s: float | None = None) -> bool:
        if self._live(key):
            return False
        await self.set(key, value, ttl_s=ttl_s)
        return True

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)
        self._expiry.pop(key, None)
        self._hashes.pop(key, None)
        self._lists.pop(key, None)

    async def incr(self, key: str, by: int = 1) -> int:
        value = int(self._values[key]) + by if self._live(key) else by
        self._values[key] = str(value)
        return value

    async def hset(self, key: str, field: str, value: str) -> bool:
        new = field not in self._hashes[key]
        self._hashes[key][field] = value
        return new

    async def hsetnx(self, key: str, field: str, value: str) -> bool:
        if field in self._hashes[key]:
            return False
        self._hashes[key][field] = value
        return True

    async def hget(self, key: str, field: str) -> str | None:
        return self._hashes.get(key, {}).get(field)

    async def hgetall(self, key: str) -> dict[str, str]:
        return dict(self._hashes.get(key, {}))

    async def hdel(self, key: str, field: str) -> bool:
        return self._hashes.get(key, {}).pop(field, None) is not None

    async def append(self, key: str, value: str) -> int:
        self._lists[key].append(value)
        return len(self._lists[key])

    async def range(self, key: str, start: int = 0, stop: int = -1) -> list[str]:
        items = self._lists.get(key, [])
        end = len(items) if stop == -1 else stop + 1
        return list(items[start:end])

    async def keys(self, prefix: str) -> list[str]:
        names = {k for k in list(self._values) if self._live(k)}  # _live drops expired keys
        names |= {k for k, v in self._hashes.items() if v} | {
            k for k, v in self._lists.items() if v
        }
        return sorted(k for k in names if k.startswith(prefix))

    async def close(self) -> None:
        return None


class MemoryBus:
    """Pub/sub inside one process."""

    def __init__(self) -> None:
        self._subscribers: defaultdict[str, set[asyncio.Queue[str]]] = defaultdict(set)

    async def publish(self, channel: str, message: str) -> None:
        for queue in list(self._subscribers.get(channel, ())):
            queue.put_nowait(message)

    async def subscribe(self, channel: str) -> AsyncIterator[str]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._subscribers[channel].add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers[channel].discard(queue)

    async def close(self) -> None:
        self._subscribers.clear()


def _connect(url: str) -> Any:
    """A client whose pool waits for a free connection instead of failing under bursts."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, decode_responses=True, max_connections=64, timeout=10
    )
    return aioredis.Redis(connection_pool=pool)


class RedisStore:
    """State in Redis, shared by every process that names the same URL."""

    def __init__(self, url: str) -> None:
        self.redis: Any = _connect(url)

    async def get(self, key: str) -> str | None:
        value: str | None = await self.redis.get(key)
        return value

    async def set(self, key: str, value: str, *, ttl_s: float | None = None) -> None:
        await self.redis.set(key, value, px=int(ttl_s * 1000) if ttl_s else None)

    async def set_if_absent(self, key: str, value: str, *, ttl_s: float | None = None) -> bool:
        px = int(ttl_s * 1000) if ttl_s else None
        return bool(await self.redis.set(key, value, nx=True, px=px))

    async def delete(self, key: str) -> None:
        await self.redis.delete(key)

    async def incr(self, key: str, by: int = 1) -> int:
        return int(await self.redis.incrby(key, by))

    async def hset(self, key: str, field: str, value: str) -> bool:
        return bool(await self.redis.hset(key, field, value))

    async def hsetnx(self, key: str, field: str, value: str) -> bool:
        return bool(await self.redis.hsetnx(key, field, value))

    async def hget(self, key: str, field: str) -> str | None:
        value: str | None = await self.redis.hget(key, field)
        return value

    async def hgetall(self, key: str) -> dict[str, str]:
        return dict(await self.redis.hgetall(key))

    async def hdel(self, key: str, field: str) -> bool:
        return bool(await self.redis.hdel(key, field))

    async def append(self, key: str, value: str) -> int:
        return int(await self.redis.rpush(key, value))

    async def range(self, key: str, start: int = 0, stop: int = -1) -> list[str]:
        return list(await self.redis.lrange(key, start, stop))

    async def keys(self, prefix: str) -> list[str]:
        # SCAN matches glob patterns: escape the prefix's own glob characters.
        escaped = "".join("\\" + c if c in "*?[]\\" else c for c in prefix)
        return sorted([k async for k in self.redis.scan_iter(match=escaped + "*", count=500)])

    async def close(self) -> None:
        await self.redis.aclose(close_connection_pool=True)

    async def persistence_warning(self) -> str | None:
        """Why what this Redis is told may be lost on its restart, or None if it persists."""
        try:
            config = await self.redis.config_get("appendonly")
            config.update(await self.redis.config_get("save"))
        except redis.exceptions.RedisError as error:  # CONFIG may be disabled (managed Redis)
            return f"could not ask Redis whether it keeps its data ({error}); make sure it does"
        if config.get("appendonly") == "yes" or config.get("save", "").strip():
            return None
        return (
            "Redis keeps nothing on disk (appendonly no, no save points): a Redis restart "
            "loses attendance, answers and sessions; run it with --appendonly yes "
            "(see the README)"
        )


class RedisBus:
    """Pub/sub through Redis channels, so every node sees every message."""

    def __init__(self, url: str) -> None:
        self.redis: Any = _connect(url)

    async def publish(self, channel: str, message: str) -> None:
        await self.redis.publish(channel, message)

    async def subscribe(self, channel: str) -> AsyncIterator[str]:
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(channel)
        try:
            async for item in pubsub.listen():
                if item.get("type") == "message":
                    yield item["data"]
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def close(self) -> None:
        await self.redis.aclose(close_connection_pool=True)


def open_store(redis_url: str, data_dir: Path) -> tuple[Store, Bus]:
    """The store and bus selected by settings: Redis when a URL is given, else the SQLite
    file under ``data_dir`` (this process's bus: one server per data directory)."""
    if redis_url:
        return RedisStore(redis_url), RedisBus(redis_url)
    return SqliteStore(database_path(data_dir)), MemoryBus()
