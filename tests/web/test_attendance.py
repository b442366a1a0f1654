"""Attendance from real connections: lobby, reconnections, companions, a restart on Redis, and
a server that stops without seeing anyone leave."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from config import Settings
from tests.conftest import Mint
from tests.web.test_polls import auth, connect, join, receive
from web.context import STORE

Client = TestClient[Any, Any]


async def report(client: Client, token: str, session: str) -> dict[str, dict[str, Any]]:
    response = await client.get(f"/api/sessions/{session}/attendance", headers=auth(token))
    assert response.status == 200
    return {row["id"]: row for row in (await response.json())["rows"]}


async def test_presence_starts_past_the_lobby_and_each_return_is_an_arrival(
    client: Client, mint: Mint
) -> None:
    trainer_token = mint("trainer", "Tea", sub="t")
    trainer = await join(client, trainer_token)
    await trainer.send_json({"type": "start_session", "module": "m02-human-rights"})
    session = (await receive(trainer, "session_changed"))["session"]["id"]
    await trainer.send_json({"type": "lock", "value": True})
    await receive(trainer, "room_locked")  # locked before Vesna arrives
    waiting = await connect(client, mint("trainee", "Vesna", sub="v"))
    await receive(trainer, "lobby_entered")
    assert "v" not in await report(client, trainer_token, session)
    await trainer.send_json({"type": "admit", "target": "v"})
    presence = await receive(trainer, "presence_recorded")
    assert (presence["id"], presence["present"]) == ("v", True)
    await waiting.close()
    assert (await receive(trainer, "presence_recorded"))["present"] is False
    again = await join(client, mint("trainee", "Vesna", sub="v"))  # within the grace period
    await receive(trainer, "presence_recorded")
    rows = await report(client, trainer_token, session)
    assert rows["v"]["joins"] == 2 and rows["v"]["last_left"] is None
    assert rows["t"]["joins"] == 1 and rows["t"]["completed"] is True  # there all along
    await again.send_json({"type": "leave"})
    await receive(trainer, "presence_recorded")
    assert (await report(client, trainer_token, session))["v"]["last_left"] is not None


async def test_each_change_is_told_to_the_trainers_present_then_and_nobody_else(
    client: Client, mint: Mint
) -> None:
    """The attendance core finds its audience in the room's roster at each change."""
    first = await join(client, mint("trainer", "Tea", sub="t1"))
    ana = await join(client, mint("trainee", "Ana", sub="a"))
    assert (await receive(first, "presence_recorded"))["id"] == "a"
    second = await connect(client, mint("trainer", "Tom", sub="t2"))
    for trainer in (first, second):  # a trainer arriving is told of their own arrival
        assert (await receive(trainer, "presence_recorded"))["id"] == "t2"
    await first.close()
    gone = await receive(second, "presence_recorded")
    assert (gone["id"], gone["present"]) == ("t1", False)
    await ana.send_json({"type": "ping", "ref": "last"})
    seen = []
    while (message := await ana.receive_json(timeout=3))["type"] != "pong":
        seen.append(message["type"])
    assert "presence_recorded" not in seen


async def test_companions_are_recorded_with_their_room_device_across_a_restart(
    settings: Settings, mint: Mint, redis_url: str
) -> None:
    from web.app import create_app

    room = "att-" + uuid.uuid4().hex[:8]
    configured = settings.replace(redis_url=redis_url)
    token = mint("trainer", sub="t", room=room)
    async with TestClient(TestServer(create_app(configured))) as client:
        trainer = await join(client, token)
        await trainer.send_json({"type": "start_session", "title": "Return and reintegration"})
        session = (await receive(trainer, "session_changed"))["session"]["id"]
        device = await join(client, mint("room", "Room 3", sub="room3", room=room))
        await device.send_json({"type": "pair_companion"})
        code = (await receive(device, "pairing_code_issued"))["code"]
        paired = await client.post("/api/companion/pair", json={"code": code, "name": "Besa"})
        phone = await join(client, (await paired.json())["token"])
        await phone.close()
        await trainer.send_json({"type": "end_session"})
        await receive(trainer, "session_changed")
    async with TestClient(TestServer(create_app(configured))) as client:
        rows = await report(client, token, session)
        companion = next(r for r in rows.values() if r["role"] == "companion")
        assert (companion["name"], companion["device"]) == ("Besa", "room3")
        assert companion["last_left"] is not None and companion["completed"] is None
        assert {r["role"] for r in rows.values()} == {"trainer", "room", "companion"}
        listing = await client.get(f"/api/rooms/{room}/sessions", headers=auth(token))
        (stored,) = (await listing.json())["sessions"]
        assert stored["state"] == "ended" and stored["title"] == "Return and reintegration"


async def wait_for_mark(redis_url: str, room: str, after: float) -> float:
    """The room's liveness mark once it is later than ``after`` (the last arrival)."""
    import redis.asyncio as aioredis

    direct = aioredis.from_url(redis_url, decode_responses=True)
    try:
        async with asyncio.timeout(30):
            while True:
                stored = await direct.get(f"room-alive:{room}")
                if stored is not None and json.loads(stored)["at"] > after:
                    return float(json.loads(stored)["at"])
                await asyncio.sleep(0.05)
    finally:
        await direct.aclose()


async def test_a_server_that_stops_unseen_leaves_nobody_present_forever(
    settings: Settings, mint: Mint, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from live import attendance
    from web.app import create_app
    from web.context import HUB

    monkeypatch.setattr(attendance, "MARK_EVERY_S", 0.2)
    room = "crash-" + uuid.uuid4().hex[:8]
    configured = settings.replace(redis_url=redis_url)
    token = mint("trainer", "Tea", sub="t", room=room)
    first = create_app(configured)
    async with TestClient(TestServer(first)) as client:
        trainer = await join(client, token)
        await trainer.send_json({"type": "start_session", "module": "m02-human-rights"})
        session = (await receive(trainer, "session_changed"))["session"]["id"]
        await join(client, mint("trainee", "Ana", sub="a", room=room))
        arrived = (await receive(trainer, "presence_recorded"))["at"]
        await wait_for_mark(redis_url, room, after=arrived)
        # Drop the room as a crash would: no departure is seen, no mark is written after.
        first[HUB].rooms.pop(room).connections.clear()
    mark = await wait_for_mark(redis_url, room, after=arrived)
    journal = f"attendance:{room}"

    second = create_app(configured)
    async with TestClient(TestServer(second)) as client:
        fresh = await report(client, token, session)  # the mark is fresh: maybe served elsewhere
        assert fresh["a"]["last_left"] is None and fresh["a"]["server_stops"] == 0
        clock = second[HUB].clock
        second[HUB].clock = lambda: clock() + 2 * attendance.STALE_AFTER_S
        response = await client.get(f"/api/sessions/{session}/attendance", headers=auth(token))
        body = await response.json()
        rows = {row["id"]: row for row in body["rows"]}
        assert (rows["a"]["last_left"], rows["a"]["server_stops"]) == (mark, 1)
        assert (rows["t"]["last_left"], rows["t"]["server_stops"]) == (mark, 1)
        assert (body["session"]["ended_at"], body["session"]["end_reason"]) == (
            mark,
            "server_stopped",
        )
        ana = next(line for line in body["timeline"] if line["id"] == "a")
        assert ana["spans"][-1][1] == mark and ana["reasons"] == ["server_stopped"]
        csv_text = await (
            await client.get(f"/api/sessions/{session}/attendance.csv", headers=auth(token))
        ).text()
        assert csv_text.splitlines()[0].endswith(',"server_stops"')
        assert all(line.endswith(',"1"') for line in csv_text.splitlines()[1:])
        svg = await (
            await client.get(f"/api/sessions/{session}/timeline.svg", headers=auth(token))
        ).text()
        assert "connection lost: server stopped" in svg
        xapi = await (await client.get(f"/api/sessions/{session}/xapi", headers=auth(token))).json()
        attended = [s for s in xapi["statements"] if s["verb"]["id"].endswith("/attended")]
        assert len(attended) == 2 and all(s["timestamp"] for s in attended)
        assert all(
            any(k.endswith("/server-stops") for k in s["result"]["extensions"]) for s in attended
        )
        listing = await client.get(f"/api/rooms/{room}/sessions", headers=auth(token))
        (listed,) = (await listing.json())["sessions"]
        assert (listed["state"], listed["end_reason"]) == ("ended", "server_stopped")
        stored = second[STORE]
        assert [json.loads(e)["present"] for e in await stored.range(journal)] == [True, True]

        # Ana comes back: this process takes the room, journals the closings, starts anew.
        second[HUB].clock = clock
        trainer = await join(client, token)
        await join(client, mint("trainee", "Ana", sub="a", room=room))
        while (presence := await receive(trainer, "presence_recorded"))["id"] != "a":
            pass
        back = presence["at"]
        rows = await report(client, token, session)  # (once what is queued is stored)
        assert (rows["a"]["last_left"], rows["a"]["server_stops"]) == (mark, 1)
        entries = [json.loads(e) for e in await stored.range(journal)]
        closings = [e for e in entries if e.get("reason") == "server_stopped"]
        assert sorted((e["id"], e["at"]) for e in closings) == [("a", mark), ("t", mark)]
        await trainer.send_json({"type": "start_session"})
        again = (await receive(trainer, "session_changed"))["session"]["id"]
        rows = await report(client, token, again)  # Ana there since she came back
        assert (rows["a"]["joins"], rows["a"]["last_left"], rows["a"]["server_stops"]) == (
            1,
            None,
            0,
        )
        assert rows["a"]["first_joined"] >= back > mark
