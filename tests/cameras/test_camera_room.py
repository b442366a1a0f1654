"""An IP camera in the room as the trainers' pages are told it (``cameras`` messages): it
joins as a participant named after it, and a trainer who removes it stops it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from tests.cameras.camera import RtspCamera
from tests.conftest import Mint

WS = aiohttp.ClientWebSocketResponse


async def until(ws: WS, type_: str, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first message of this type that passes ``check`` (others are skipped)."""
    async with asyncio.timeout(30):
        while True:
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.TEXT, msg
            data: dict[str, Any] = json.loads(msg.data)
            if data["type"] == type_ and check(data):
                return data


async def test_trainers_are_told_the_cameras_and_removing_one_stops_it(
    client: TestClient[Any, Any], mint: Mint, rtsp_camera: RtspCamera
) -> None:
    trainer_token = mint("trainer", "Ana", sub="ana")
    trainer = await client.ws_connect("/ws", params={"token": trainer_token})
    first = await until(trainer, "cameras", lambda m: True)
    assert first["cameras"] == []
    trainee = await client.ws_connect("/ws", params={"token": mint("trainee", "Ben", sub="ben")})
    await until(trainee, "welcome", lambda m: True)

    headers = {"Authorization": f"Bearer {trainer_token}"}
    body = {"name": "Front", "url": rtsp_camera.url, "username": "op", "password": "hidden"}
    async with client.post("/api/rooms/demo/cameras", json=body, headers=headers) as response:
        camera_id = (await response.json())["id"]
    participant = f"camera-{camera_id}"
    joined = await until(
        trainer, "participant_joined", lambda m: m["participant"]["id"] == participant
    )
    assert (joined["participant"]["name"], joined["participant"]["role"]) == ("Front", "room")
    live = await until(trainer, "cameras", lambda m: m["cameras"][0]["state"] == "live")
    assert "hidden" not in json.dumps(live)

    await trainer.send_json({"type": "remove", "target": participant})
    stopped = await until(trainer, "cameras", lambda m: m["cameras"][0]["state"] == "stopped")
    assert stopped["cameras"][0]["error"] == "removed"
    async with client.get("/api/rooms/demo/cameras", headers=headers) as response:
        (listed,) = (await response.json())["cameras"]
    assert (listed["id"], listed["state"]) == (camera_id, "stopped")

    await trainee.send_json({"type": "ping"})
    told: list[str] = []
    async with asyncio.timeout(10):
        while not told or told[-1] != "pong":
            told.append(json.loads((await trainee.receive()).data)["type"])
    assert "participant_joined" in told and "cameras" not in told  # for trainers only
    await trainer.close()
    await trainee.close()
