"""Issue 14, finding 3 across nodes: a join link withdrawn, or a phone unpaired, on one
server holds on every server sharing the store; two real ``classroom serve`` processes on
one real redis-server, and one of them restarted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.server import ServerProcess
from tests.web.test_store_outage import OwnRedis, own_redis, receive

__all__ = ["own_redis"]
pytestmark = pytest.mark.redis
SECRET = "a-secret-both-nodes-share-0123456789abcdef"


async def status_of_me(http: aiohttp.ClientSession, server: ServerProcess, token: str) -> int:
    async with http.get(
        f"{server.url}/api/me", headers={"Authorization": f"Bearer {token}"}
    ) as response:
        return response.status


@pytest.fixture
async def nodes(
    tmp_path: Path, own_redis: OwnRedis
) -> AsyncIterator[tuple[ServerProcess, ServerProcess]]:
    """Two servers sharing one redis-server (and the token secret)."""
    settings = {"redis_url": own_redis.url, "token_secret": SECRET}
    first = ServerProcess(tmp_path / "a", node_id="node-a", **settings)
    second = ServerProcess(tmp_path / "b", node_id="node-b", **settings)
    await asyncio.gather(first.start(), second.start())
    yield first, second
    await asyncio.gather(first.stop(), second.stop())


async def refused_at_the_door(
    http: aiohttp.ClientSession, server: ServerProcess, token: str
) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as error:
        await http.ws_connect(server.ws_url, params={"token": token})
    return error.value.status


async def test_a_link_withdrawn_on_one_node_is_refused_on_the_other_and_after_a_restart(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = nodes
    async with aiohttp.ClientSession() as http:
        trainer = first.mint("trainer", "Tea", sub="t")
        invited = await http.post(
            f"{first.url}/api/rooms/demo/invitations",
            json={"role": "trainee", "name": "Guest"},
            headers={"Authorization": f"Bearer {trainer}"},
        )
        link = (await invited.json())["token"]
        guest = await http.ws_connect(second.ws_url, params={"token": link})
        await receive(guest, "welcome")
        assert await status_of_me(http, second, link) == 200

        withdrawn = await http.post(
            f"{first.url}/api/rooms/demo/revocations",
            json={"token": link},
            headers={"Authorization": f"Bearer {trainer}"},
        )
        assert withdrawn.status == 200
        # The page open on the other node is closed, as on the node that withdrew it.
        assert (await receive(guest, "error"))["code"] == "unauthorized"
        closing = await guest.receive()  # its code as sent (close_code may say 1006 when
        # the server has gone before the client's answering close frame)
        assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 4003)
        # The other node's HTTP API refuses it once the announcement arrived (by then
        # the page above is closed), and its websocket asks the store.
        assert await status_of_me(http, second, link) == 401
        assert await refused_at_the_door(http, second, link) == 401

        await second.stop()
        await second.start()  # a restarted node reads the revocations in the store
        assert await status_of_me(http, second, link) == 401
        assert await status_of_me(http, first, link) == 401
        assert "unhandled error" not in first.output() + second.output()


async def test_a_phone_unpaired_on_one_node_is_refused_on_the_other(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = nodes
    async with aiohttp.ClientSession() as http:
        trainer = await http.ws_connect(
            first.ws_url, params={"token": first.mint("trainer", "Tea", sub="t")}
        )
        await receive(trainer, "welcome")
        device = await http.ws_connect(
            first.ws_url, params={"token": first.mint("room", "Room 3", sub="room3")}
        )
        await receive(device, "welcome")
        await device.send_json({"type": "pair_companion"})
        code = (await receive(device, "pairing_code_issued"))["code"]
        paired = await http.post(
            f"{second.url}/api/companion/pair", json={"code": code, "name": "Besa"}
        )
        token = (await paired.json())["token"]
        phone = await http.ws_connect(second.ws_url, params={"token": token})
        companion = (await receive(phone, "welcome"))["you"]["sub"]
        await trainer.send_json({"type": "unpair_companion", "target": companion})
        assert (await receive(trainer, "companions_unpaired"))["ids"] == [companion]
        # Its page on the other node closes as soon as that node learns it ...
        assert (await receive(phone, "error"))["code"] == "unauthorized"
        assert (await phone.receive()).type is aiohttp.WSMsgType.CLOSE
        # ... which from then on refuses its token over HTTP and at the websocket.
        assert await status_of_me(http, second, token) == 401
        assert await refused_at_the_door(http, second, token) == 401
        for ws in (trainer, device):
            await ws.close()
