"""The store and bus contract, run against the in-memory store and a real redis-server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from web.store import MemoryBus, MemoryStore, RedisBus, RedisStore


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, Any, str]]:
    if request.param == "memory":
        store: Any = MemoryStore()
        bus: Any = MemoryBus()
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
