"""Benchmark fixtures: this service as its own process on one core, and tokens for it.

The server runs on core 0 and the load generator (this pytest process) on the
others, so that the server's CPU figures are its own. `make bench` runs these.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from classroom.identity import mint_token
from config import load_settings
from tests.bench.process import Server, classroom_server, pin_this_process
from tests.conftest import free_port

SECRET = "bench-secret-" + "y" * 40
SERVER_CORES = [0]
LOAD_CORES = [c for c in range(os.cpu_count() or 1) if c not in SERVER_CORES] or [0]

Mint = Callable[..., str]


@pytest.fixture(autouse=True, scope="session")
def _load_on_other_cores() -> None:
    pin_this_process(LOAD_CORES)


@pytest.fixture
def bench_mint() -> Mint:
    """bench_mint(room, role, name, sub=None) -> a join token the bench server accepts."""
    settings = load_settings(environ={})

    def mint(room: str, role: str, name: str, sub: str | None = None) -> str:
        return mint_token(
            room=room,
            role=role,
            name=name,
            sub=sub,
            now=int(time.time()),
            ttl_s=3 * 3600,
            signing_key=SECRET,
            algorithm="HS256",
            audience=settings.token_audience,
            issuer=settings.token_issuer,
        )

    return mint


StartServer = Callable[[], Awaitable[Server]]


@pytest.fixture
async def start_server(tmp_path: Path) -> AsyncIterator[StartServer]:
    """start_server() -> a fresh `classroom serve` on core 0 (stopped after the test)."""
    started: list[Server] = []

    async def start() -> Server:
        data = tmp_path / f"data-{len(started)}"
        data.mkdir()
        process = classroom_server(
            free_port(),
            data,
            SECRET,
            cores=SERVER_CORES,
            CLASSROOM_WS_RATE_PER_S="1000",
            CLASSROOM_WS_RATE_BURST="1000",
            # Rooms of a thousand and more (a quiz burst), past a conference room's cap.
            CLASSROOM_ROOM_MAX_PARTICIPANTS="5000",
            CLASSROOM_LOG_LEVEL="INFO",  # the server log in tmp_path tells what went wrong
        )
        started.append(process)
        await process.start()
        return process

    try:
        yield start
    finally:
        for process in started:
            await process.stop()


@pytest.fixture
async def server(start_server: StartServer) -> Server:
    """`classroom serve` on core 0, generous websocket rate limits, logs in tmp_path."""
    return await start_server()


# Real-browser fixtures for the join-time benchmark (Debian's Chromium through Playwright).
from tests.browser.conftest import launch_browser  # noqa: E402, F401
