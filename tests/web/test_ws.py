"""The websocket: handshake checks, message validation, moderation and fault isolation."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import Mint

Client = TestClient[Any, Any]
WS = aiohttp.ClientWebSocketResponse


async def connect(client: Client, token: str, **kwargs: Any) -> WS:
    ws = await client.ws_connect("/ws", params={"token": token}, **kwargs)
    return ws


async def receive(ws: WS, type_: str) -> dict[str, Any]:
    """The next message of the given type (others are skipped), within 3 seconds."""
    async with asyncio.timeout(3):
        while True:
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"socket closed while waiting for {type_}: {msg}")
            data = json.loads(msg.data)
            if data["type"] == type_:
                return data  # type: ignore[no-any-return]


async def test_welcome_then_chat_reaches_everyone(client: Client, mint: Mint) -> None:
    trainer = await connect(client, mint("trainer", "Tea", sub="t"))
    welcome = await receive(trainer, "welcome")
    assert welcome["you"]["role"] == "trainer" and welcome["room"]["room"] == "demo"
    trainee = await connect(client, mint("trainee", "Ana", sub="a"))
    joined = await receive(trainer, "participant_joined")
    assert joined["participant"]["name"] == "Ana"
    await trainee.send_json({"type": "chat", "text": "Zdravo!", "ref": "c1"})
    for ws in (trainer, trainee):
        posted = await receive(ws, "chat_posted")
        assert (posted["text"], posted["sender"]) == ("Zdravo!", "a")


@pytest.mark.parametrize(
    ("raw", "code", "fragment"),
    [
        ("not json", "bad_json", "malformed"),
        ('{"type": "chat", "text": "a", "text": "b"}', "bad_json", "duplicated key"),
        ("[1, 2]", "bad_message", "JSON object"),
        ('{"type": "launch_rockets"}', "unknown_type", "launch_rockets"),
        ('{"type": "chat"}', "bad_message", "text"),
        ('{"type": "chat", "text": 5}', "bad_message", "text"),
        ('{"type": "chat", "text": "hi", "sender": "someone-else"}', "bad_message", "sender"),
        ('{"type": "mute", "target": "a"}', "forbidden", "may not moderate"),
        ('{"type": "remove", "target": "t"}', "forbidden", "may not moderate"),
    ],
)
async def test_bad_messages_get_an_error_and_the_connection_stays_up(
    client: Client, mint: Mint, raw: str, code: str, fragment: str
) -> None:
    await receive(trainer := await connect(client, mint("trainer", sub="t")), "welcome")
    trainee = await connect(client, mint("trainee", sub="a"))
    await receive(trainee, "welcome")
    await trainee.send_str(raw)
    error = await receive(trainee, "error")
    assert error["code"] == code and fragment in error["message"]
    await trainee.send_json({"type": "ping", "ref": "still-there"})
    assert (await receive(trainee, "pong"))["ref"] == "still-there"
    assert not trainer.closed


async def test_oversized_message_closes_with_1009(client: Client, mint: Mint) -> None:
    ws = await connect(client, mint())
    await receive(ws, "welcome")
    await ws.send_str(json.dumps({"type": "chat", "text": "x" * 70_000}))
    msg = await ws.receive(timeout=3)
    while msg.type is aiohttp.WSMsgType.TEXT:
        msg = await ws.receive(timeout=3)
    assert ws.close_code == 1009


async def test_handshake_refuses_bad_tokens_and_foreign_origins(client: Client, mint: Mint) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await connect(client, mint(now=1, ttl_s=10))
    assert refused.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await connect(client, mint(), headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403
    own = f"http://{client.host}:{client.port}"
    ws = await connect(client, mint(), headers={"Origin": own})
    await receive(ws, "welcome")


async def test_rate_limit(client: Client, mint: Mint, settings: Any) -> None:
    ws = await connect(client, mint())
    await receive(ws, "welcome")
    for _ in range(settings.ws_rate_burst + 5):
        await ws.send_json({"type": "ping"})
    error = await receive(ws, "error")
    assert error["code"] == "rate_limited"


async def test_trainer_moderates_mute_remove_lock_and_admit(client: Client, mint: Mint) -> None:
    trainer = await connect(client, mint("trainer", sub="t"))
    await receive(trainer, "welcome")
    ana = await connect(client, mint("trainee", "Ana", sub="a"))
    await receive(ana, "welcome")
    await trainer.send_json({"type": "mute", "target": "a"})
    assert (await receive(ana, "mute_changed"))["muted"] is True
    await trainer.send_json({"type": "lock", "value": True})
    await receive(ana, "room_locked")
    bojan = await connect(client, mint("trainee", "Bojan", sub="b"))
    assert (await receive(bojan, "lobby_entered"))["participant"]["id"] == "b"
    await receive(trainer, "lobby_entered")
    await bojan.send_json({"type": "chat", "text": "let me in"})
    assert (await receive(bojan, "error"))["code"] == "not_found"
    await trainer.send_json({"type": "admit", "target": "b"})
    await receive(bojan, "admitted")
    await receive(ana, "participant_joined")
    await trainer.send_json({"type": "remove", "target": "a"})
    await receive(ana, "removed")
    await ana.receive(timeout=3)
    while not ana.closed:
        await ana.receive(timeout=3)
    assert ana.close_code == 4003
    assert (await receive(bojan, "participant_left"))["reason"] == "removed"


async def test_second_connection_replaces_the_first_and_keeps_the_hand(
    client: Client, mint: Mint
) -> None:
    token = mint("trainee", "Ana", sub="a")
    first = await connect(client, token)
    await receive(first, "welcome")
    await first.send_json({"type": "raise_hand", "raised": True})
    await receive(first, "hand_changed")
    second = await connect(client, token)
    welcome = await receive(second, "welcome")
    assert welcome["room"]["participants"][0]["hand_raised"] is True
    assert (await receive(first, "error"))["code"] == "replaced"
    while not first.closed:
        await first.receive(timeout=3)
    assert first.close_code == 4001
    await second.send_json({"type": "ping"})
    await receive(second, "pong")


async def test_a_stalled_client_does_not_hold_up_the_others(client: Client, mint: Mint) -> None:
    from web.context import HUB

    trainer = await connect(client, mint("trainer", sub="t"))
    await receive(trainer, "welcome")
    stalled = await connect(client, mint("trainee", sub="s"))
    await receive(stalled, "welcome")
    live = client.app[HUB].rooms["demo"]  # type: ignore[index]
    slow = live.connections["s"]
    slow.writer.cancel()  # this client never drains its outbox again
    for i in range(600):
        live.send({"type": "pong", "at": i})
        if i % 100 == 0:
            await asyncio.sleep(0.01)  # the trainer's writer keeps up between bursts
    assert slow.closing  # dropped once its bounded outbox filled
    await trainer.send_json({"type": "chat", "text": "still here"})
    assert (await receive(trainer, "chat_posted"))["text"] == "still here"


async def test_the_lobby_sees_nothing_of_the_room_until_admitted(
    client: Client, mint: Mint
) -> None:
    trainer = await connect(client, mint("trainer", "Tea", sub="t"))
    await receive(trainer, "welcome")
    await trainer.send_json({"type": "lock", "value": True})
    await receive(trainer, "room_locked")
    waiting = await connect(client, mint("trainee", "Bojan", sub="b"))
    welcome = await receive(waiting, "welcome")
    assert welcome["room"]["participants"] == []
    assert [p["id"] for p in welcome["room"]["lobby"]] == ["b"]
    await trainer.send_json({"type": "chat", "text": "private to the room"})
    await receive(trainer, "chat_posted")
    await trainer.send_json({"type": "admit", "target": "b"})
    await receive(waiting, "admitted")
    full = await receive(waiting, "welcome")  # the room, now that Bojan may see it
    assert {p["id"] for p in full["room"]["participants"]} == {"t", "b"}
    await trainer.send_json({"type": "chat", "text": "welcome in"})
    assert (await receive(waiting, "chat_posted"))["text"] == "welcome in"  # not the earlier one


async def test_a_faulty_listener_is_logged_and_the_others_still_hear(
    client: Client, mint: Mint, caplog: pytest.LogCaptureFixture
) -> None:
    from web.context import HUB

    def faulty(live: Any, events: list[Any]) -> None:
        raise RuntimeError("broken journal")

    heard: list[Any] = []
    client.app[HUB].listeners[:0] = [faulty]
    client.app[HUB].listeners.append(lambda live, events: heard.extend(events))
    trainer = await connect(client, mint("trainer", "Tea", sub="t"))
    await receive(trainer, "welcome")
    await trainer.send_json({"type": "chat", "text": "still here", "ref": "c1"})
    assert (await receive(trainer, "chat_posted"))["text"] == "still here"
    assert any("ChatPosted" in repr(e) for e in heard)
    assert any(r.message == "event listener failed" for r in caplog.records)
