"""Issue 14 against the real ``classroom serve``, run as users run it (default settings)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from tests.server import ServerProcess


async def receive(ws: aiohttp.ClientWebSocketResponse, type_: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.TEXT, f"closed while waiting for {type_}"
            data = json.loads(msg.data)
            if data["type"] == type_:
                return data  # type: ignore[no-any-return]


async def test_removal_sticks_and_floods_are_bounded_on_the_served_process(
    tmp_path: Path,
) -> None:
    server = ServerProcess.as_users_run_it(tmp_path / "classroom")
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            trainer = await http.ws_connect(
                server.ws_url, params={"token": server.mint("trainer", "Tea", sub="t")}
            )
            await receive(trainer, "welcome")
            ana_token = server.mint("trainee", "Ana", sub="ana")
            ana = await http.ws_connect(server.ws_url, params={"token": ana_token})
            await receive(ana, "welcome")
            await trainer.send_json({"type": "remove", "target": "ana"})
            await receive(ana, "removed")
            again = await http.ws_connect(server.ws_url, params={"token": ana_token})
            error = await receive(again, "error")
            assert error["message"] == "the trainer has removed you from this room"

            await ana.close()
            await trainer.send_str("[" * 1000)  # the trainer's socket stays up
            assert (await receive(trainer, "error"))["code"] == "bad_json"
            deep = await http.post(f"{server.url}/api/companion/pair", data="[" * 1000)
            assert deep.status == 400 and (await deep.json())["error"]["code"] == "bad_json"

            device = await http.ws_connect(
                server.ws_url, params={"token": server.mint("room", "Room 3", sub="room3")}
            )
            await receive(device, "welcome")
            await device.send_json({"type": "pair_companion"})
            code = (await receive(device, "pairing_code_issued"))["code"]
            pairings = [
                http.post(f"{server.url}/api/companion/pair", json={"code": code, "name": f"P{i}"})
                for i in range(60)
            ]
            statuses = sorted([r.status for r in await asyncio.gather(*pairings)])
            assert statuses == [201] * 40 + [409] * 20  # companions_per_device = 40

            await trainer.send_json({"type": "lift_ban", "target": "ana"})
            assert (await receive(trainer, "ban_changed"))["banned"] is False
            back = await http.ws_connect(server.ws_url, params={"token": ana_token})
            assert (await receive(back, "welcome"))["you"]["sub"] == "ana"
        assert "unhandled error" not in server.output()
    finally:
        await server.stop()
