"""Shared fixtures: test settings, token minting, the app's test client, a real redis-server."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from classroom.identity import mint_token
from config import Settings, load_settings

SECRET = "test-secret-" + "x" * 40


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        environ={},
        data_dir=str(tmp_path / "data"),
        token_secret=SECRET,
        log_format="text",
        ws_rate_per_s=200.0,
        ws_rate_burst=200,
    )


Mint = Callable[..., str]


class ManualClock:
    """The app's clock in tests that say when time passes: it stands still until ``advance``."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    """A clock for ``create_app`` that starts at the wall time (tokens are checked against
    the wall clock) and moves only when the test advances it."""
    return ManualClock()


@pytest.fixture
def mint(settings: Settings) -> Mint:
    """mint(role, name, room='demo', **claims) -> a join token for the test settings."""

    def make(role: str = "trainee", name: str = "Ana", room: str = "demo", **extra: Any) -> str:
        return mint_token(
            room=room,
            role=role,
            name=name,
            now=extra.pop("now", int(time.time())),
            ttl_s=extra.pop("ttl_s", 3600),
            signing_key=extra.pop("key", SECRET),
            algorithm=extra.pop("algorithm", "HS256"),
            audience=extra.pop("audience", settings.token_audience),
            issuer=extra.pop("issuer", settings.token_issuer),
            **extra,
        )

    return make


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient[Any, Any]]:
    from web.app import create_app

    async with TestClient(TestServer(create_app(settings))) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server of the tests' own (or CLASSROOM_TEST_REDIS_URL when set)."""
    configured = os.environ.get("CLASSROOM_TEST_REDIS_URL")
    if configured:
        yield configured
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run `make test`, which installs it")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            break
        time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("redis-server did not start")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(5)
