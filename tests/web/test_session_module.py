"""Starting a session of a training module: checked in the catalogue, and remembered as
the room's last module (through the store, so with Redis too)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from config import Settings
from tests.conftest import Mint
from tests.web.test_ws import Client, connect, receive


async def catalogue(client: Client, token: str) -> dict[str, Any]:
    response = await client.get("/api/modules", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def test_the_room_remembers_its_last_module(client: Client, mint: Mint) -> None:
    token = mint("trainer", "Tea", sub="t")
    assert (await catalogue(client, token))["last_module"] is None
    trainer = await connect(client, token)
    await receive(trainer, "welcome")
    await trainer.send_json(
        {"type": "start_session", "title": None, "module": "m09-labour-mobility"}
    )
    session = (await receive(trainer, "session_changed"))["session"]
    assert session["module_id"] == "m09-labour-mobility"
    listed = await catalogue(client, token)
    assert listed["last_module"] == "m09-labour-mobility"
    assert any(m["id"] == "m09-labour-mobility" for t in listed["topics"] for m in t["modules"])
    # Another room has its own.
    assert (await catalogue(client, mint("trainer", "Ivo", room="other")))["last_module"] is None


async def test_an_unknown_module_is_refused(client: Client, mint: Mint) -> None:
    trainer = await connect(client, mint("trainer", "Tea", sub="t"))
    await receive(trainer, "welcome")
    await trainer.send_json({"type": "start_session", "module": "m99-nothing", "ref": "s"})
    error = await receive(trainer, "error")
    assert (error["code"], error["ref"]) == ("not_found", "s")


@pytest.mark.redis
async def test_with_redis_the_last_module_survives_a_restart(
    settings: Settings, redis_url: str, mint: Mint
) -> None:
    from aiohttp.test_utils import TestServer

    from web.app import create_app

    token = mint("trainer", "Tea", sub="t")
    for step in ("start", "after restart"):
        app = create_app(settings.replace(redis_url=redis_url))
        async with TestClient(TestServer(app)) as client:
            if step == "start":
                trainer = await connect(client, token)
                await receive(trainer, "welcome")
                await trainer.send_json({"type": "start_session", "module": "m02-human-rights"})
                await receive(trainer, "session_changed")
                await trainer.close()
            else:
                assert (await catalogue(client, token))["last_module"] == "m02-human-rights"
