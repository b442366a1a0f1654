"""The store and bus contract, run against the in-memory store, the SQLite file (the embedded
default) and a real redis-server; then what only the SQLite store promises."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from live.sqlite_store import SCHEMA_VERSION, DatabaseError, SqliteStore, is_locked
from live.store import MemoryBus, MemoryStore, RedisBus, RedisStore


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Any, Any, str]]:
    if request.param == "memory":
        store: Any = MemoryStore()
        bus: Any = MemoryBus()
    elif request.param == "sqlite":
        store, bus = SqliteStore(tmp_path / "classroom.sqlite3"), MemoryBus()
    else:
        url = request.getfixturevalue("redis_url")
        store, bus = RedisStore(url), RedisBus(url)
    prefix = f"test:{uuid.uuid4().hex}:"  # tests share one redis-server
    yield store, bus, prefix
    await bus.close()
    await store.close()


async def test_strings_counters_and_expiry(backend: tuple[Any, Any, str]) -> None:
    store, _, p = backend
    assert await store.get(p + "k") is None
    await store.set(p + "k", "v")
    assert await store.get(p + "k") == "v"
    assert not await store.set_if_absent(p + "k", "w")
    assert await store.set_if_absent(p + "n", "1", ttl_s=0.05)
    await asyncio.sleep(0.1)
    assert await store.get(p + "n") is None
    assert [await store.incr(p + "c") for _ in range(3)] == [1, 2, 3]
    assert await store.incr(p + "c", 5) == 8
    await store.delete(p + "k")
    assert await store.get(p + "k") is None


async def test_hashes(backend: tuple[Any, Any, str]) -> None:
    store, _, p = backend
    assert await store.hset(p + "h", "a", "1") is True
    assert await store.hset(p + "h", "a", "2") is False
    assert await store.hsetnx(p + "h", "a", "3") is False
    assert await store.hsetnx(p + "h", "b", "4") is True
    assert await store.hget(p + "h", "a") == "2"
    assert await store.hgetall(p + "h") == {"a": "2", "b": "4"}
    assert await store.hdel(p + "h", "a") is True and await store.hdel(p + "h", "a") is False
    assert await store.hgetall(p + "missing") == {}


async def test_lists_and_keys(backend: tuple[Any, Any, str]) -> None:
    store, _, p = backend
    for i in range(5):
        assert await store.append(p + "l", str(i)) == i + 1
    assert await store.range(p + "l") == ["0", "1", "2", "3", "4"]
    assert await store.range(p + "l", 1, 2) == ["1", "2"]
    assert await store.range(p + "l", -2) == ["3", "4"]
    assert await store.range(p + "l", 3, 10) == ["3", "4"]
    assert await store.range(p + "missing") == []
    await store.set(p + "x*", "glob characters in keys are literal")
    await store.hset(p + "h2", "f", "v")
    assert await store.keys(p) == [p + "h2", p + "l", p + "x*"]
    assert await store.keys(p + "x*") == [p + "x*"]


async def test_concurrent_hsetnx_counts_each_field_once(backend: tuple[Any, Any, str]) -> None:
    store, _, p = backend
    results = await asyncio.gather(
        *(store.hsetnx(p + "votes", f"u{i % 50}", "x") for i in range(200))
    )
    assert sum(results) == 50 and len(await store.hgetall(p + "votes")) == 50


async def test_bus_fans_out_to_every_subscriber(backend: tuple[Any, Any, str]) -> None:
    _, bus, p = backend
    received: list[list[str]] = [[], []]

    async def listen(index: int) -> None:
        async for message in bus.subscribe(p + "chan"):
            received[index].append(message)
            if len(received[index]) == 2:
                return

    tasks = [asyncio.create_task(listen(i)) for i in range(2)]
    await asyncio.sleep(0.2)  # let the subscriptions reach the server
    await bus.publish(p + "chan", "one")
    await bus.publish(p + "chan", "two")
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert received == [["one", "two"], ["one", "two"]]


async def test_what_sqlite_acknowledged_is_there_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "classroom.sqlite3"
    store = SqliteStore(path)
    await asyncio.gather(
        store.hsetnx("answers", "ana", "B"), store.append("journal", "joined"),
        store.set("session", "live"), store.set("pairing", "x", ttl_s=3600),
    )  # fmt: skip
    assert is_locked(path)
    with pytest.raises(DatabaseError, match="another classroom server"):
        SqliteStore(path)  # one server per data directory
    # No close: as after kill -9, only what was committed is on disk (a reader sees it).
    with sqlite3.connect(path) as reader:
        assert reader.execute("SELECT value FROM hashes WHERE field = 'ana'").fetchone() == ("B",)
    await store.close()
    assert not is_locked(path)
    again = SqliteStore(path)
    assert await again.hgetall("answers") == {"ana": "B"}
    assert await again.range("journal") == ["joined"]
    assert await again.get("pairing") == "x"
    assert await again.keys("") == ["answers", "journal", "pairing", "session"]
    await again.close()


async def test_a_burst_is_committed_in_few_transactions(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "classroom.sqlite3")
    results = await asyncio.gather(*(store.hsetnx("votes", f"u{i}", "x") for i in range(500)))
    assert all(results) and len(await store.hgetall("votes")) == 500
    assert store.commits < 500 / 5  # group commit: answers arriving together share a sync
    await store.close()


async def test_one_failing_operation_leaves_the_others_whole(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "classroom.sqlite3")
    await store.set("count", "not a number")
    outcomes = await asyncio.gather(
        store.hset("h", "a", "1"), store.incr("count"), store.append("l", "x"),
        return_exceptions=True,
    )  # fmt: skip
    assert outcomes[0] is True and isinstance(outcomes[1], ValueError) and outcomes[2] == 1
    assert await store.hget("h", "a") == "1" and await store.get("count") == "not a number"
    await store.close()


async def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "classroom.sqlite3"
    await SqliteStore(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(DatabaseError, match="newer classroom"):
        SqliteStore(path)
    assert not is_locked(path)  # refusing let the lock go


async def test_a_redis_that_keeps_nothing_is_named_at_start_up(redis_url: str) -> None:
    store = RedisStore(redis_url)  # the tests' redis-server: --save "" --appendonly no
    try:
        assert "appendonly" in (await store.persistence_warning() or "")
        await store.redis.config_set("appendonly", "yes")
        assert await store.persistence_warning() is None
    finally:
        await store.redis.config_set("appendonly", "no")
        await store.close()
