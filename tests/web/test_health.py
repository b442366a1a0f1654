"""/healthz says ``degraded`` while the store does not answer: a real redis-server of the
test's own, stopped (SIGSTOP, a pause) and then running again."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from config import Settings
from tests.conftest import free_port

pytestmark = pytest.mark.redis


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server for this test alone (it is paused, which others must not see)."""
    port = free_port()
    binary = shutil.which("redis-server")
    assert binary is not None, "redis-server is not installed: run `make test`"
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0", process
    process.send_signal(signal.SIGCONT)
    process.terminate()
    process.wait(5)


async def health(client: TestClient[Any, Any]) -> dict[str, Any]:
    response = await client.get("/healthz")
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def test_health_is_degraded_while_redis_is_paused(
    settings: Settings, own_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    from web.app import create_app

    url, process = own_redis
    async with TestClient(TestServer(create_app(settings.replace(redis_url=url)))) as client:
        assert (await health(client))["status"] == "ok"
        process.send_signal(signal.SIGSTOP)
        try:
            body = await health(client)
            assert body["status"] == "degraded"
            assert body["problems"] == ["the store does not answer: TimeoutError"]
        finally:
            process.send_signal(signal.SIGCONT)
        assert (await health(client))["status"] == "ok"


async def test_health_of_the_embedded_store_is_ok(client: TestClient[Any, Any]) -> None:
    assert (await health(client)) | {"version": "", "node": ""} == {
        "status": "ok",
        "version": "",
        "node": "",
    }
