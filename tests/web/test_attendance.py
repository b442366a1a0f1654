"""Attendance from real connections: lobby, reconnections, companions, and a restart on Redis."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from config import Settings
from tests.conftest import Mint
from tests.web.test_polls import auth, connect, join, receive

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
