"""Attendance survives ``kill -9``: the real server, on a real redis-server, dies mid-session
without seeing anyone leave, starts again, and its report shows each departure at the last
liveness mark the dead server wrote."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import SECRET, Mint
from tests.server import ServerProcess
from tests.web.test_attendance import wait_for_mark
from tests.web.test_polls import auth, receive

# Two server start-ups and one liveness period (15 s) on a busy 2-core machine.
pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]


async def test_after_kill_9_the_report_shows_each_departure_at_the_last_mark(
    mint: Mint, redis_url: str, tmp_path: Path
) -> None:
    room = "kill-" + os.urandom(4).hex()
    token = mint("trainer", "Tea", sub="t", room=room)
    server = ServerProcess(
        tmp_path / "data", token_secret=SECRET, redis_url=redis_url, node_id="kill-node"
    )
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
