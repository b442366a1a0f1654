"""Store and bus implementations: in Redis, or in this process (the store in SQLite,
``live.sqlite_store``; ``MemoryStore`` is for tests that need no disk)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from classroom.errors import StoreUnavailable
from classroom.ports import Bus, Store
from live.sqlite_store import SqliteStore, database_path

T = TypeVar("T")


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


#: How long one store operation may take before it is refused (``StoreUnavailable``): a
#: paused or overloaded Redis holds a handler this long at most.
OP_TIMEOUT_S = 2.0
CONNECT_TIMEOUT_S = 1.0
#: How often the store is checked (reachable? its data still there?) in the background.
WATCH_EVERY_S = 1.0
#: This process's marker in Redis: missing while Redis answers means Redis lost its data
#: (restarted without persistence, flushed), so what this process holds is written back.
MARKER_PREFIX = "store-marker:"
MARKER_TTL_S = 24 * 3600
#: A write reaching Redis later than its caller gave up is refused by Redis itself: the
#: script compares Redis's clock with the caller's deadline (in Redis's time, less this
#: margin for the error in measuring the clocks' offset).
CLOCK_MARGIN_S = 0.1
#: Several writes in one step (ARGV[2]: "claim" when the first one, an HSETNX, decides
#: whether the others happen), each as its command, its number of arguments, the arguments.
_GUARDED_WRITES = """
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[1]) then
  return redis.error_reply('LATE the write arrived after its caller stopped waiting')
end
local at = 3
for step = 1, #KEYS do
  local count = tonumber(ARGV[at + 1])
  local reply = redis.call(ARGV[at], KEYS[step], unpack(ARGV, at + 2, at + 1 + count))
  if step == 1 and ARGV[2] == 'claim' and reply == 0 then return 0 end
  at = at + 2 + count
end
return 1
"""
_GUARDED_WRITE = """
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[1]) then
  return redis.error_reply('LATE the write arrived after its caller stopped waiting')
end
return redis.call(ARGV[2], KEYS[1], unpack(ARGV, 3))
"""
#: Replies of a Redis that is up but cannot take writes now (disk full, replica, loading).
_UNAVAILABLE_REPLIES = ("MISCONF", "READONLY", "LOADING", "MASTERDOWN", "LATE")

log = logging.getLogger("classroom.store")


def _connect(url: str, timeout_s: float = OP_TIMEOUT_S) -> Any:
    """A client whose pool waits for a free connection instead of failing under bursts, for
    a bounded time; a connection found broken (Redis restarted) is replaced and the
    command sent again once, but a command that timed out is never sent twice."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        decode_responses=True,
        max_connections=64,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=min(CONNECT_TIMEOUT_S, timeout_s),
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
    )
    return aioredis.Redis(connection_pool=pool)


def unavailable(error: BaseException) -> StoreUnavailable | None:
    """The StoreUnavailable an error of the Redis client means, or None if it is another
    kind of error (a bug: wrong type of key, bad command)."""
    if isinstance(error, StoreUnavailable):
        return error
    if isinstance(error, TimeoutError | redis.exceptions.TimeoutError):
        return StoreUnavailable("storage did not answer in time: nothing was saved, try again")
    if isinstance(error, redis.exceptions.ConnectionError | OSError):
        return StoreUnavailable()
    if isinstance(error, redis.exceptions.ResponseError) and str(error).startswith(
        _UNAVAILABLE_REPLIES
    ):
        return StoreUnavailable()
    return None


class _Client:
    """The Redis client with every command bounded in time and its outage errors turned
    into ``StoreUnavailable`` (for the modules that send their own commands)."""

    def __init__(self, raw: Any, timeout_s: float) -> None:
        self._raw, self._timeout_s = raw, timeout_s

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._raw, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)  # a command gives an awaitable to wait for
            return self._bounded(result) if inspect.isawaitable(result) else result

        return call

    async def _bounded(self, reply: Awaitable[Any]) -> Any:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await reply
        except Exception as error:
            problem = unavailable(error)
            if problem is None:
                raise
            raise problem from error


class RedisStore:
    """State in Redis, shared by every process that names the same URL.

    Every operation takes at most ``timeout_s`` and fails with ``StoreUnavailable`` when
    Redis is unreachable, paused or refusing writes; writes are checked by Redis against
    the caller's deadline, so a write that was refused is never stored later (a paused
    Redis runs what it had received when it resumes). ``watch`` runs in the background:
    it notices outages and returns, and when Redis comes back without this process's
    marker (its data lost), it calls the ``on_data_lost`` hooks, which write back what
    this process holds, before anything is read from the empty store."""

    def __init__(self, url: str, *, timeout_s: float = OP_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self.raw: Any = _connect(url, timeout_s)
        self.redis: Any = _Client(self.raw, timeout_s)
        self._write_script = self.raw.register_script(_GUARDED_WRITE)
        self._writes_script = self.raw.register_script(_GUARDED_WRITES)
        self.marker = MARKER_PREFIX + uuid.uuid4().hex
        self.available = True  # as last seen by ``watch`` or an operation
        self.offset_s: float | None = None  # Redis's clock minus ours
        self.margin_s = CLOCK_MARGIN_S
        self.on_data_lost: list[Callable[[], Awaitable[None]]] = []
        self.marked = False  # whether this process's marker was set once
        self.resyncs = 0  # times the hooks wrote back what Redis had lost

    async def _run(self, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await operation()
        except Exception as error:
            problem = unavailable(error)
            if problem is None:
                raise
            self.available = False
            raise problem from error
        self.available = True
        return result

    async def _measure_clock(self) -> None:
        """Redis's clock against ours, and how precisely that is known (half the trip)."""
        sent = time.time()
        seconds, micros = await self.raw.time()
        received = time.time()
        self.offset_s = seconds + micros / 1e6 - (sent + received) / 2
        self.margin_s = max(CLOCK_MARGIN_S, received - sent)

    async def write(self, command: str, key: str, *args: Any) -> Any:
        """Run one writing command on ``key``, which Redis refuses if it arrives after this
        call has stopped waiting for it."""
        deadline = time.time() + self.timeout_s

        async def guarded() -> Any:
            if self.offset_s is None:
                await self._measure_clock()
            assert self.offset_s is not None
            late_ms = int((deadline + self.offset_s - self.margin_s) * 1000)
            return await self._write_script(keys=[key], args=[late_ms, command, *args])

        return await self._run(guarded)

    async def write_all(
        self, steps: list[tuple[str, str, tuple[Any, ...]]], *, claim: bool = False
    ) -> bool:
        """Run several writing commands (command, key, arguments) as one: all of them or,
        if Redis refuses or never runs the step, none. With ``claim``, the first is an
        HSETNX and the rest happen only if it set its field (False if it did not)."""
        deadline = time.time() + self.timeout_s
        arguments: list[Any] = []
        for command, _, args in steps:
            arguments += [command, len(args), *args]

        async def guarded() -> Any:
            if self.offset_s is None:
                await self._measure_clock()
            assert self.offset_s is not None
            late_ms = int((deadline + self.offset_s - self.margin_s) * 1000)
            keys = [key for _, key, _ in steps]
            mode = "claim" if claim else "all"
            return await self._writes_script(keys=keys, args=[late_ms, mode, *arguments])

        return bool(await self._run(guarded))

    async def get(self, key: str) -> str | None:
        value: str | None = await self._run(lambda: self.raw.get(key))
        return value

    async def set(self, key: str, value: str, *, ttl_s: float | None = None) -> None:
        expiry = ["PX", int(ttl_s * 1000)] if ttl_s else []
        await self.write("SET", key, value, *expiry)

    async def set_if_absent(self, key: str, value: str, *, ttl_s: float | None = None) -> bool:
        expiry = ["PX", int(ttl_s * 1000)] if ttl_s else []
        return bool(await self.write("SET", key, value, "NX", *expiry))

    async def delete(self, key: str) -> None:
        await self.write("DEL", key)

    async def incr(self, key: str, by: int = 1) -> int:
        return int(await self.write("INCRBY", key, by))

    async def hset(self, key: str, field: str, value: str) -> bool:
        return bool(await self.write("HSET", key, field, value))

    async def hsetnx(self, key: str, field: str, value: str) -> bool:
        return bool(await self.write("HSETNX", key, field, value))

    async def hget(self, key: str, field: str) -> str | None:
        value: str | None = await self._run(lambda: self.raw.hget(key, field))
        return value

    async def hgetall(self, key: str) -> dict[str, str]:
        return dict(await self._run(lambda: self.raw.hgetall(key)))

    async def hdel(self, key: str, field: str) -> bool:
        return bool(await self.write("HDEL", key, field))

    async def append(self, key: str, value: str) -> int:
        return int(await self.write("RPUSH", key, value))

    async def range(self, key: str, start: int = 0, stop: int = -1) -> list[str]:
        return list(await self._run(lambda: self.raw.lrange(key, start, stop)))

    async def keys(self, prefix: str) -> list[str]:
        # SCAN matches glob patterns: escape the prefix's own glob characters.
        escaped = "".join("\\" + c if c in "*?[]\\" else c for c in prefix)

        async def scan() -> list[str]:
            return sorted([k async for k in self.raw.scan_iter(match=escaped + "*", count=500)])

        return await self._run(scan)

    async def close(self) -> None:
        await self.raw.aclose(close_connection_pool=True)

    async def check(self) -> bool:
        """One look at Redis: whether it answers and still holds this process's marker.
        If the marker is gone, the ``on_data_lost`` hooks write back what this process
        holds and the marker is set again; False then. Raises StoreUnavailable if Redis
        cannot be reached or a hook could not finish (the next check tries again)."""
        await self._run(self._measure_clock)
        if await self._run(lambda: self.raw.expire(self.marker, MARKER_TTL_S)):
            return True
        if self.marked:
            self.resyncs += 1
            log.warning(
                "the store has lost what this server wrote (restarted without persistence, "
                "or flushed): writing back the polls, quizzes, sessions and bans held here"
            )
        for hook in self.on_data_lost:
            await hook()
        await self.set(self.marker, "1", ttl_s=MARKER_TTL_S)
        if self.marked:
            log.warning("the store has again what this server holds", extra={"count": self.resyncs})
        self.marked = True
        return False

    async def watch(self, every_s: float = WATCH_EVERY_S) -> None:
        """Check the store every ``every_s`` until cancelled (``check``), logging when it
        becomes unavailable and when it answers again."""
        down = False
        while True:
            try:
                await self.check()
            except StoreUnavailable as error:
                if not down:
                    log.warning("the store is unavailable", extra={"why": error.message})
                down = True
            except Exception:
                log.exception("checking the store failed")
            else:
                if down:
                    log.warning("the store answers again")
                down = False
            await asyncio.sleep(every_s)

    async def persistence_warning(self) -> str | None:
        """Why what this Redis is told may be lost on its restart, or None if it persists."""
        try:
            async with asyncio.timeout(self.timeout_s):
                config = await self.raw.config_get("appendonly")
                config.update(await self.raw.config_get("save"))
        except (TimeoutError, redis.exceptions.RedisError) as error:  # CONFIG may be disabled
            return f"could not ask Redis whether it keeps its data ({error}); make sure it does"
        if config.get("appendonly") == "yes" or config.get("save", "").strip():
            return None
        return (
            "Redis keeps nothing on disk (appendonly no, no save points): a Redis restart "
            "loses attendance, answers and sessions; run it with --appendonly yes "
            "(see the README); this server writes back what it holds when that happens"
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
