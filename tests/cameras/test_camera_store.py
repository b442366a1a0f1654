"""Cameras are kept in Redis too: a Redis restarted empty gets them back from the server
running them, credentials included, and a server started while Redis is paused loads
them once it answers."""

from __future__ import annotations

import asyncio
import json
import signal

import pytest
from aiohttp.test_utils import TestClient, TestServer

from config import Settings
from live import cameras
from tests.conftest import Mint
from tests.web.test_store_outage import OwnRedis, own_redis
from web.cameras import CAMERAS

__all__ = ["own_redis"]  # the fixture, used by name
pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]


async def test_a_redis_restarted_empty_gets_the_cameras_back(
    settings: Settings, mint: Mint, own_redis: OwnRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web.app import create_app

    headers = {"Authorization": f"Bearer {mint('trainer', 'Tea', sub='t')}"}
    body = {"name": "Door", "url": "rtsp://127.0.0.1:9/camera", "username": "op", "password": "pw"}
    app = create_app(settings.replace(redis_url=own_redis.url))
    async with TestClient(TestServer(app)) as client:
        async with client.post("/api/rooms/demo/cameras", json=body, headers=headers) as added:
            camera = await added.json()
        own_redis.stop()
        own_redis.start()  # without persistence: empty
        direct = own_redis.direct()
        try:
            async with asyncio.timeout(10):
                while True:  # the store's watch looks every second
                    kept = await direct.hget("cameras", camera["id"])
                    if kept is not None:
                        break
                    await asyncio.sleep(0.05)
        finally:
            await direct.aclose()
        record = json.loads(kept)
        assert (record["room"], record["username"], record["password"]) == ("demo", "op", "pw")

    # A server started while Redis is paused serves at once and loads the cameras once
    # Redis answers again.
    monkeypatch.setattr(cameras, "LOAD_RETRY_S", 0.2)
    own_redis.signal(signal.SIGSTOP)
    try:
        app = create_app(settings.replace(redis_url=own_redis.url))
        async with TestClient(TestServer(app)) as c:
            async with c.get("/api/rooms/demo/cameras", headers=headers) as listed:
                assert (await listed.json())["cameras"] == []
            own_redis.signal(signal.SIGCONT)
            async with asyncio.timeout(10):
                while True:  # the loader tries every LOAD_RETRY_S
                    found = app[CAMERAS].of_room("demo")
                    if found:
                        break
                    await asyncio.sleep(0.05)
            (again,) = found
            assert (again["id"], again["name"], again["has_password"]) == (
                camera["id"],
                "Door",
                True,
            )
            assert "pw" not in json.dumps(again)
    finally:
        own_redis.signal(signal.SIGCONT)
