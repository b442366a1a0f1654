"""Attendance survives ``kill -9``: the real server, on a real redis-server, dies mid-session
without seeing anyone leave, starts again, and its report shows each departure at the last
liveness mark the dead server wrote."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import SECRET, Mint, free_port
from tests.web.test_attendance import wait_for_mark
from tests.web.test_polls import auth, receive

# Two server start-ups and one liveness period (15 s) on a busy 2-core machine.
pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parent.parent.parent


class Server:
    """``classroom serve`` in a process of its own, on Redis, restartable on the same port."""

    def __init__(self, data: Path, redis_url: str) -> None:
        self.data, self.redis_url, self.port = data, redis_url, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {
            **os.environ,
            "CLASSROOM_DATA_DIR": str(self.data),
            "CLASSROOM_TOKEN_SECRET": SECRET,
            "CLASSROOM_LOG_FORMAT": "text",
            "CLASSROOM_REDIS_URL": self.redis_url,
            "CLASSROOM_NODE_ID": "attendance-crash-node",
        }
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "web.cli", "serve", "--port", str(self.port),
            cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        async with asyncio.timeout(30), aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def test_after_kill_9_the_report_shows_each_departure_at_the_last_mark(
    mint: Mint, redis_url: str, tmp_path: Path
) -> None:
    room = "kill-" + os.urandom(4).hex()
    token = mint("trainer", "Tea", sub="t", room=room)
    server = Server(tmp_path / "data", redis_url)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:

            async def join(token: str) -> aiohttp.ClientWebSocketResponse:
                ws = await http.ws_connect(f"{server.url.replace('http', 'ws')}/ws?token={token}")
                await receive(ws, "welcome")
                return ws

            async def report(session: str) -> dict[str, Any]:
                url = f"{server.url}/api/sessions/{session}/attendance"
                async with http.get(url, headers=auth(token)) as response:
                    assert response.status == 200
                    body: dict[str, Any] = await response.json()
                    return body

            trainer = await join(token)
            await trainer.send_json({"type": "start_session", "module": "m02-human-rights"})
            session = (await receive(trainer, "session_changed"))["session"]["id"]
            ana = await join(mint("trainee", "Ana", sub="a", room=room))
            besa = await join(mint("trainee", "Besa", sub="b", room=room))
            arrivals = [(await receive(trainer, "presence_recorded"))["at"] for _ in range(2)]
            mark = await wait_for_mark(redis_url, room, after=max(arrivals))
            await server.kill()
            for ws in (trainer, ana, besa):
                await ws.close()

            await server.start()
            # Nobody back yet and the mark is fresh: for all this server knows, another
            # process serves the room, so nobody is closed yet.
            early = {row["id"]: row for row in (await report(session))["rows"]}
            assert early["a"]["last_left"] is None
            # Ana comes back: the restarted server takes the room over.
            ana = await join(mint("trainee", "Ana", sub="a", room=room))
            body = await report(session)
            assert body["session"]["state"] == "ended"
            assert (body["session"]["ended_at"], body["session"]["end_reason"]) == (
                mark,
                "server_stopped",
            )
            rows = {row["id"]: row for row in body["rows"]}
            assert set(rows) == {"t", "a", "b"}
            for row in rows.values():
                assert (row["last_left"], row["server_stops"], row["joins"]) == (mark, 1, 1)
            # She is present again, in a new interval: the next session counts her from now.
            trainer = await join(token)
            await trainer.send_json({"type": "start_session"})
            again = (await receive(trainer, "session_changed"))["session"]["id"]
            rows = {row["id"]: row for row in (await report(again))["rows"]}
            assert (rows["a"]["last_left"], rows["a"]["server_stops"]) == (None, 0)
            assert rows["a"]["first_joined"] > mark and "b" not in rows
            await ana.close()
            await trainer.close()
    finally:
        await server.stop()
