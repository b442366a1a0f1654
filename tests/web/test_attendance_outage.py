"""Attendance during a store outage: arrivals and departures the trainer was told of while
Redis was stopped are held in memory, in order, and journaled once a restarted
redis-server answers again (nothing told is lost). A real redis-server of the test's own."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from classroom.errors import StoreUnavailable
from config import Settings
from live.attendance import journal_key
from tests.conftest import Mint
from tests.web.test_store_outage import OwnRedis, own_redis, receive

__all__ = ["own_redis"]
pytestmark = pytest.mark.redis


async def test_attendance_refused_by_a_stopped_store_is_written_when_it_is_back(
    settings: Settings, mint: Mint, own_redis: OwnRedis
) -> None:
    from web.app import create_app
    from web.attendance import ATTENDANCE
    from web.context import STORE

    app = create_app(settings.replace(redis_url=own_redis.url))
    async with TestClient(TestServer(app)) as client:
        writer = app[ATTENDANCE].writer
        writer.retry_s = 0.05
        trainer = await client.ws_connect("/ws", params={"token": mint("trainer", "Tea", sub="t")})
        await receive(trainer, "welcome")
        await writer.flush()

        own_redis.stop()
        ana = await client.ws_connect("/ws", params={"token": mint("trainee", "Ana", sub="ana")})
        told = await receive(trainer, "presence_recorded")
        assert told["id"] == "ana"
        await ana.close()
        await receive(trainer, "presence_recorded")  # her departure, told as well
        for _ in range(1000):  # within 10 s, the store refuses the first of them
            if writer.held:
                break
            await asyncio.sleep(0.01)
        assert writer.held
        with pytest.raises(StoreUnavailable):
            await writer.flush()  # a report asking now is told the store is away
        assert writer.queue.qsize() >= 1  # held in memory, not dropped

        own_redis.start()  # back, empty: what was held is written, in order
        async with asyncio.timeout(15):
            while True:
                try:
                    await writer.flush()
                    break
                except StoreUnavailable:
                    await asyncio.sleep(0.05)
        journal = [json.loads(line) for line in await app[STORE].range(journal_key("demo"))]
        assert [(e["id"], e["present"]) for e in journal if e["id"] == "ana"] == [
            ("ana", True),
            ("ana", False),
        ]
        assert not writer.held
        await trainer.close()
