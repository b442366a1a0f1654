"""The load tool's websocket participant against a scripted server: what it sends, what it
makes of refusals and close codes (the real server's side is in test_runner.py)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import WSCloseCode, web
from aiohttp.test_utils import TestServer

from loadtest.participant import JoinRefused, Participant, websocket_url

Script = Callable[[web.WebSocketResponse, list[object]], Awaitable[None]]
Start = Callable[[Script], Awaitable[tuple[str, list[object]]]]


@pytest.fixture
async def scripted() -> AsyncIterator[Start]:
    """A server whose /ws runs a script; returns its address and what it was sent."""
    servers: list[TestServer] = []

    async def start(script: Script) -> tuple[str, list[object]]:
        seen: list[object] = []

        async def ws(request: web.Request) -> web.StreamResponse:
            if request.headers.get("Authorization") != "Bearer good":
                raise web.HTTPUnauthorized()
            socket = web.WebSocketResponse()
            await socket.prepare(request)
            seen.append(("compress", socket.compress))
            await socket.send_str(json.dumps({"type": "welcome", "you": {"sub": "s1"}}))
            await script(socket, seen)
            return socket

        app = web.Application()
        app.router.add_get("/ws", ws)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/"), seen

    yield start
    for server in servers:
        await server.close()


async def read_all(socket: web.WebSocketResponse, seen: list[object]) -> None:
    """Note every message; close on ``leave``, as the server does."""
    async for message in socket:
        seen.append(json.loads(message.data))
        if seen[-1] == {"type": "leave"}:
            await socket.close()


def test_the_websocket_address_follows_the_servers() -> None:
    assert websocket_url("http://127.0.0.1:8080/") == "ws://127.0.0.1:8080/ws"
    assert websocket_url("https://classroom.example") == "wss://classroom.example/ws"


async def test_join_sends_the_token_and_takes_the_id_from_welcome(scripted: Start) -> None:
    url, seen = await scripted(read_all)
    person = Participant(url, "good", "Ana", "trainee")
    welcome = await person.join()
    assert welcome["you"] == {"sub": "s1"} and person.id == "s1" and person.join_s is not None
    await person.send("chat", text="hi")
    await person.close()  # leaves (no reconnect grace), then closes normally
    assert seen == [("compress", 0), {"type": "chat", "text": "hi"}, {"type": "leave"}]
    assert person.close_reason is None and person.closed.is_set()


async def test_a_refused_handshake_names_the_status(scripted: Start) -> None:
    url, _ = await scripted(read_all)
    with pytest.raises(JoinRefused, match=r"Ana: handshake refused \(401\)"):
        await Participant(url, "bad", "Ana", "trainee").join()


@pytest.mark.parametrize(
    ("code", "reason"),
    [(WSCloseCode.OK, None), (WSCloseCode.POLICY_VIOLATION, "closed by the server (1008)")],
)
async def test_a_close_by_the_server_fails_waiters_and_sends(
    scripted: Start, code: WSCloseCode, reason: str | None
) -> None:
    async def close_on_ping(socket: web.WebSocketResponse, seen: list[object]) -> None:
        async for message in socket:
            seen.append(json.loads(message.data))
            await socket.close(code=code)

    url, _ = await scripted(close_on_ping)
    person = Participant(url, "good", "Ana", "trainee")
    await person.join()
    pong = person.wait_for("pong")
    await person.send("ping")
    with pytest.raises(ConnectionError, match=re.escape(f"Ana: {reason or 'connection closed'}")):
        await asyncio.wait_for(pong, 5)
    await asyncio.wait_for(person.closed.wait(), 5)
    assert person.close_reason == reason
    with pytest.raises(ConnectionError):
        await person.send("ping")
    await person.close()


async def test_only_awaited_messages_are_parsed_but_all_are_counted(scripted: Start) -> None:
    async def chatter(socket: web.WebSocketResponse, seen: list[object]) -> None:
        await socket.send_str('{"type": "chat_posted", "text": "' + "x" * 2_000_000 + '"}')
        await socket.send_str('{"type": "pong"}')
        await read_all(socket, seen)

    url, _ = await scripted(chatter)
    person = Participant(url, "good", "Ana", "trainee")
    pong = person.wait_for("pong")
    await person.join()
    assert (await asyncio.wait_for(pong, 5))["type"] == "pong"
    assert person.received == 3  # welcome, a 2 MB chat line (no size limit), pong
    await person.close()
