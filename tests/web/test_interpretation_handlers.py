"""Interpretation over the websocket: booths, handover, listener choices, the timeline API."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from config import Settings, SettingsError
from tests.conftest import Mint
from tests.web.test_ws import WS, Client, connect, receive


async def join(client: Client, token: str) -> tuple[WS, dict[str, Any]]:
    ws = await connect(client, token)
    await receive(ws, "welcome")
    return ws, await receive(ws, "interpretation_state")


async def api(client: Client, token: str, room: str = "demo") -> dict[str, Any]:
    response = await client.get(
        f"/api/rooms/{room}/interpretation", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200, await response.text()
    return await response.json()  # type: ignore[no-any-return]


async def quiet(ws: WS, seconds: float = 0.3) -> list[dict[str, Any]]:
    """Every message that arrives within ``seconds``."""
    seen = []
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                msg = await ws.receive()
                if msg.type is aiohttp.WSMsgType.TEXT:
                    seen.append(json.loads(msg.data))
    return seen


async def test_an_interpreter_goes_on_air_hands_over_and_the_timeline_shows_it(
    client: Client, mint: Mint
) -> None:
    trainer_token = mint("trainer", "Tea", sub="t")
    trainer, _ = await join(client, trainer_token)
    listener, state = await join(client, mint("trainee", "Ana", sub="a"))
    assert state["channels"] == [] and state["listening"] == {
        "channel": "original",
        "floor_db": -14.0,
    }
    ivana, mine = await join(client, mint("interpreter", "Ivana", sub="i1", lang="sr"))
    assert mine["booth"] == "sr"
    on_air = await receive(listener, "on_air_changed")
    assert (on_air["channel"], on_air["id"], on_air["name"]) == ("sr", "i1", "Ivana")
    igor, _ = await join(client, mint("interpreter", "Igor", sub="i2", lang="sr"))
    booth = (await receive(trainer, "channel_changed"))["channel"]
    while [m["id"] for m in booth["booth"]] != ["i1", "i2"]:
        booth = (await receive(trainer, "channel_changed"))["channel"]
    assert booth["on_air"] == "i1" and booth["live"] is True

    await listener.send_json({"type": "select_channel", "channel": "sr"})
    assert (await receive(listener, "listening_changed"))["channel"] == "sr"

    await ivana.send_json({"type": "offer_handover", "to": "i2"})
    offer = await receive(igor, "handover_offered")
    assert (offer["by"], offer["taker"]) == ("i1", "i2")
    await igor.send_json({"type": "take_air", "channel": "sr"})
    switched = await receive(listener, "on_air_changed")
    assert (switched["id"], switched["previous"]) == ("i2", "i1")

    body = await api(client, trainer_token)
    assert body["channels"][0]["on_air_name"] == "Igor"
    timeline = body["timeline"]
    assert [(s["channel"], s["id"]) for s in timeline] == [("sr", "i1"), ("sr", "i2")]
    assert timeline[0]["end"] == timeline[1]["start"]  # no gap, no overlap
    assert timeline[1]["end"] >= timeline[1]["start"]


@pytest.mark.parametrize(
    ("sender", "message", "code", "fragment"),
    [
        ("i2", {"type": "take_air", "channel": "en"}, "forbidden", "interpret into sr, not en"),
        ("i2", {"type": "take_air", "channel": "sr"}, "invalid_state", "Ivana is on air"),
        ("i1", {"type": "offer_handover", "to": "a"}, "invalid_state", "not your partner"),
        ("i1", {"type": "offer_handover", "to": "e1"}, "invalid_state", "not your partner"),
        ("a", {"type": "select_channel", "channel": "fr"}, "not_found", "no 'fr' channel"),
        ("a", {"type": "select_channel", "channel": "SR!"}, "bad_message", "channel"),
        ("a", {"type": "set_floor_level", "floor_db": -90}, "invalid_state", "-60 and 0"),
        ("a", {"type": "set_floor_level", "floor_db": "loud"}, "bad_message", "floor_db"),
        ("a", {"type": "take_air", "channel": "sr"}, "forbidden", "may not interpret"),
        ("a", {"type": "booth_message", "text": "psst"}, "forbidden", "may not interpret"),
        ("a", {"type": "set_floor_language", "lang": "sr"}, "forbidden", "floor language"),
        ("a", {"type": "open_channel", "lang": "fr"}, "forbidden", "manage channels"),
        ("t", {"type": "open_channel", "lang": "de"}, "invalid_state", "no interpretation"),
        ("t", {"type": "close_channel", "lang": "sr"}, "invalid_state", "not empty"),
        ("i1", {"type": "offer_handover", "to": "i2", "extra": 1}, "bad_message", "extra"),
    ],
)
async def test_bad_input_gets_a_clear_error_and_changes_nothing(
    client: Client, mint: Mint, sender: str, message: dict[str, Any], code: str, fragment: str
) -> None:
    trainer_token = mint("trainer", "Tea", sub="t")
    sockets = {
        "t": (await join(client, trainer_token))[0],
        "a": (await join(client, mint("trainee", "Ana", sub="a")))[0],
        "i1": (await join(client, mint("interpreter", "Ivana", sub="i1", lang="sr")))[0],
        "i2": (await join(client, mint("interpreter", "Igor", sub="i2", lang="sr")))[0],
        "e1": (await join(client, mint("interpreter", "Emma", sub="e1", lang="en")))[0],
    }
    await sockets["a"].send_json({"type": "select_channel", "channel": "sr"})
    await receive(sockets["a"], "listening_changed")
    for ws in sockets.values():
        await quiet(ws, 0.1)  # what joining sent
    before = await api(client, trainer_token)
    await sockets[sender].send_json({**message, "ref": "bad"})
    error = await receive(sockets[sender], "error")
    assert (error["code"], error["ref"]) == (code, "bad")
    assert fragment in error["message"]
    after = await api(client, trainer_token)
    assert after["channels"] == before["channels"]
    assert after["floor_language"] == before["floor_language"]
    assert [(s["id"], s["start"]) for s in after["timeline"]] == [
        (s["id"], s["start"]) for s in before["timeline"]
    ]
    # Nobody else heard of it.
    for pid, ws in sockets.items():
        if pid != sender:
            assert [m["type"] for m in await quiet(ws, 0.1)] == []


async def test_booth_talk_reaches_the_booth_alone(client: Client, mint: Mint) -> None:
    trainer, _ = await join(client, mint("trainer", "Tea", sub="t"))
    ivana, _ = await join(client, mint("interpreter", "Ivana", sub="i1", lang="sr"))
    igor, _ = await join(client, mint("interpreter", "Igor", sub="i2", lang="sr"))
    emma, _ = await join(client, mint("interpreter", "Emma", sub="e1", lang="en"))
    await igor.send_json({"type": "booth_message", "text": "I take over at half past"})
    for ws in (ivana, igor):
        posted = await receive(ws, "booth_message_posted")
        assert (posted["name"], posted["text"]) == ("Igor", "I take over at half past")
    for ws in (trainer, emma):
        assert "booth_message_posted" not in [m["type"] for m in await quiet(ws, 0.2)]


async def test_relay_and_floor_language_are_shown_to_everyone(client: Client, mint: Mint) -> None:
    trainer, _ = await join(client, mint("trainer", "Tea", sub="t"))
    await join(client, mint("interpreter", "Emma", sub="e1", lang="en"))
    rania, _ = await join(client, mint("interpreter", "Rania", sub="r1", lang="ar"))
    await rania.send_json({"type": "set_relay", "source": "en"})
    changed = (await receive(trainer, "channel_changed"))["channel"]
    while changed["lang"] != "ar" or changed["booth"][0]["relay"] != "en":
        changed = (await receive(trainer, "channel_changed"))["channel"]
    assert changed["rtl"] is True
    await trainer.send_json({"type": "set_floor_language", "lang": "mk"})
    assert (await receive(rania, "floor_language_changed"))["lang"] == "mk"


async def test_the_interpreter_on_air_who_drops_goes_off_air_and_returns(
    client: Client, mint: Mint
) -> None:
    trainer, _ = await join(client, mint("trainer", "Tea", sub="t"))
    token = mint("interpreter", "Ivana", sub="i1", lang="sr")
    ivana, _ = await join(client, token)
    await receive(trainer, "on_air_changed")
    await ivana.close()
    off = await receive(trainer, "on_air_changed")
    assert off["id"] is None and off["previous"] == "i1"
    await join(client, token)
    assert (await receive(trainer, "on_air_changed"))["id"] == "i1"


async def booth_changed(ws: WS, lang: str = "sr") -> list[tuple[str, str, bool]]:
    """The next ``channel_changed`` of that channel: its booth, as (id, name, connected)."""
    changed = (await receive(ws, "channel_changed"))["channel"]
    while changed["lang"] != lang:
        changed = (await receive(ws, "channel_changed"))["channel"]
    return [(m["id"], m["name"], m["connected"]) for m in changed["booth"]]


async def test_a_partner_who_drops_shows_disconnected_and_comes_back_connected(
    client: Client, mint: Mint
) -> None:
    """The booth reads the room, yet the leave hook runs before the room marks the
    participant disconnected: what it tells then shows them disconnected already."""
    trainer, _ = await join(client, mint("trainer", "Tea", sub="t"))
    await join(client, mint("interpreter", "Ivana", sub="i1", lang="sr"))
    assert await booth_changed(trainer) == [("i1", "Ivana", True)]
    igor, _ = await join(client, mint("interpreter", "Igor", sub="i2", lang="sr"))
    assert await booth_changed(trainer) == [("i1", "Ivana", True), ("i2", "Igor", True)]
    await igor.close()
    assert await booth_changed(trainer) == [("i1", "Ivana", True), ("i2", "Igor", False)]
    assert (await receive(trainer, "participant_disconnected"))["id"] == "i2"
    await trainer.send_json({"type": "get_interpretation"})
    state = await receive(trainer, "interpretation_state")
    assert [m["connected"] for m in state["channels"][0]["booth"]] == [True, False]
    await join(client, mint("interpreter", "Igor K.", sub="i2", lang="sr"))
    assert await booth_changed(trainer) == [("i1", "Ivana", True), ("i2", "Igor K.", True)]


async def test_an_interpreter_whose_classroom_page_closes_is_off_the_booth_while_present(
    client: Client, mint: Mint
) -> None:
    """A side page keeps them in the room, but their media was the classroom page's."""
    trainer, _ = await join(client, mint("trainer", "Tea", sub="t"))
    token = mint("interpreter", "Ivana", sub="i1", lang="sr")
    ivana, _ = await join(client, token)
    await receive(trainer, "on_air_changed")
    side = await client.ws_connect("/ws", params={"token": token, "page": "side"})
    await receive(side, "welcome")
    await ivana.close()
    assert (await receive(trainer, "on_air_changed"))["id"] is None
    assert await booth_changed(trainer) == [("i1", "Ivana", False)]
    seen = await quiet(trainer)
    assert "participant_disconnected" not in [m["type"] for m in seen]
    await trainer.send_json({"type": "get_interpretation"})
    state = await receive(trainer, "interpretation_state")
    assert [m["connected"] for m in state["channels"][0]["booth"]] == [False]
    await side.close()


async def test_a_listener_choice_survives_a_reconnect(client: Client, mint: Mint) -> None:
    await join(client, mint("interpreter", "Emma", sub="e1", lang="en"))
    token = mint("room", "Room 3", sub="d")  # a conference-room device, for its whole room
    device, _ = await join(client, token)
    await device.send_json({"type": "select_channel", "channel": "en"})
    await receive(device, "listening_changed")
    await device.send_json({"type": "set_floor_level", "floor_db": -20})
    await receive(device, "listening_changed")
    await device.close()
    _, state = await join(client, token)
    assert state["listening"] == {"channel": "en", "floor_db": -20.0}


@pytest.mark.redis
async def test_choices_and_timeline_outlive_the_process_with_redis(
    settings: Settings, mint: Mint, redis_url: str
) -> None:
    from web.app import create_app

    room = "r" + uuid.uuid4().hex[:12]
    shared = settings.replace(redis_url=redis_url)
    listener = mint("trainee", "Ana", sub="a", room=room)
    async with TestClient(TestServer(create_app(shared))) as first:
        await join(first, mint("interpreter", "Emma", sub="e1", lang="en", room=room))
        ws, _ = await join(first, listener)
        await ws.send_json({"type": "select_channel", "channel": "en"})
        await receive(ws, "listening_changed")
    async with TestClient(TestServer(create_app(shared))) as second:
        body = await api(second, listener, room)
        assert [(s["channel"], s["name"]) for s in body["timeline"]] == [("en", "Emma")]
        assert body["timeline"][0]["end"] is not None
        await join(second, mint("interpreter", "Emma", sub="e1", lang="en", room=room))
        _, state = await join(second, listener)
        assert state["listening"]["channel"] == "en"


async def test_channels_from_settings_and_only_ones_own_room(
    settings: Settings, mint: Mint
) -> None:
    from web.app import create_app

    configured = settings.replace(interpretation_channels=("sq", "mk"))
    async with TestClient(TestServer(create_app(configured))) as client:
        _, state = await join(client, mint("trainee", "Ana", sub="a"))
        assert [c["lang"] for c in state["channels"]] == ["sq", "mk"]
        assert all(c["live"] is False for c in state["channels"])
        response = await client.get(
            "/api/rooms/elsewhere/interpretation",
            headers={"Authorization": f"Bearer {mint('trainer')}"},
        )
        assert response.status == 403
    with pytest.raises(SettingsError, match="interpretation_channels"):
        create_app(settings.replace(interpretation_channels=("sr", "xx")))


async def test_every_media_router_asks_the_channels_who_hears_what(
    client: Client, mint: Mint
) -> None:
    from web.context import HUB
    from web.media_handlers import router_for

    await join(client, mint("trainer", "Tea", sub="t"))
    listener, _ = await join(client, mint("trainee", "Ana", sub="a"))
    await join(client, mint("interpreter", "Ivana", sub="i1", lang="sr"))
    await join(client, mint("interpreter", "Igor", sub="i2", lang="sr"))
    await listener.send_json({"type": "select_channel", "channel": "sr"})
    await receive(listener, "listening_changed")
    live = client.app[HUB].rooms["demo"]  # type: ignore[index]
    router = router_for(client.app, live)  # type: ignore[arg-type]

    def forwarded(publisher: str, source: str, subscriber: str) -> bool:
        return all(policy(publisher, source, subscriber) for policy in router.policies)

    assert forwarded("t", "microphone", "a") and forwarded("i1", "interpretation", "a")
    assert not forwarded("i2", "interpretation", "a")  # the partner is not on air
    assert not forwarded("a", "interpretation", "t")  # a trainee cannot publish into a channel
    assert not forwarded("i1", "microphone", "a")  # interpreters are heard in channels only
    assert forwarded("i2", "booth", "i1") and not forwarded("i2", "booth", "t")
    assert forwarded("i1", "interpretation", "recorder")  # the recorder keeps every language
    assert not forwarded("i1", "booth", "recorder")  # but never the booth's private talk
