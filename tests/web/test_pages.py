"""Several pages of one person: a classroom tab, its reconnects, a second tab, side pages."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from tests.conftest import Mint
from tests.web.test_ws import WS, Client, receive


async def page(client: Client, token: str, page: str = "classroom", tab: str | None = None) -> WS:
    params = {"token": token, "page": page}
    if tab is not None:
        params["client"] = tab
    return await client.ws_connect("/ws", params=params)


async def closed(ws: WS) -> int | None:
    async with asyncio.timeout(3):
        while not ws.closed:
            await ws.receive()
    return ws.close_code


async def quiet(ws: WS, seconds: float = 0.3) -> list[dict[str, Any]]:
    """What a socket receives while the others go on (a ping is answered last)."""
    await ws.send_json({"type": "ping", "ref": "quiet"})
    seen = []
    async with asyncio.timeout(3):
        while True:
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.TEXT, msg
            data = json.loads(msg.data)
            if data["type"] == "pong" and data.get("ref") == "quiet":
                return seen
            seen.append(data)


async def test_a_side_page_never_throws_the_classroom_page_out(client: Client, mint: Mint) -> None:
    token = mint("trainer", "Tea", sub="t")
    classroom = await page(client, token, tab="tab-1")
    await receive(classroom, "welcome")
    ana = await page(client, mint("trainee", "Ana", sub="a"), tab="tab-a")
    await receive(ana, "welcome")
    await quiet(ana)
    await receive(classroom, "participant_joined")
    await quiet(classroom)

    polls = await page(client, token, "side")
    welcome = await receive(polls, "welcome")
    assert [p["id"] for p in welcome["room"]["participants"]] == ["t", "a"]
    # Nobody hears of it: the trainer did not join again.
    for ws in (ana, classroom):
        assert await quiet(ws) == []

    # The side page acts as the trainer, through the same messages and permissions...
    await polls.send_json({"type": "chat", "text": "from the polls page"})
    for ws in (classroom, ana, polls):
        assert (await receive(ws, "chat_posted"))["sender"] == "t"
    # ...but carries no media.
    await polls.send_json({"type": "media_ready", "codecs": ["VP8"], "ref": "m"})
    error = await receive(polls, "error")
    assert (error["code"], error["ref"]) == ("invalid_state", "m")

    # Closing it changes nothing for the others; the classroom page stays up.
    await polls.close()
    await classroom.send_json({"type": "chat", "text": "still here"})
    assert (await receive(ana, "chat_posted"))["text"] == "still here"
    assert "participant_disconnected" not in [m["type"] for m in await quiet(ana)]


async def test_the_same_tab_coming_back_replaces_its_stale_connection(
    client: Client, mint: Mint
) -> None:
    token = mint("trainee", "Ana", sub="a")
    stale = await page(client, token, tab="tab-a")
    await receive(stale, "welcome")
    back = await page(client, token, tab="tab-a")
    await receive(back, "welcome")
    assert (await receive(stale, "error"))["code"] == "replaced"
    assert await closed(stale) == 4001


async def test_a_second_classroom_tab_waits_until_the_person_joins_there(
    client: Client, mint: Mint
) -> None:
    token = mint("trainee", "Ana", sub="a")
    first = await page(client, token, tab="tab-1")
    await receive(first, "welcome")
    trainer = await page(client, mint("trainer", "Tea", sub="t"), tab="tab-t")
    await receive(trainer, "welcome")

    second = await page(client, token, tab="tab-2")
    await receive(second, "in_class_elsewhere")
    await second.send_json({"type": "chat", "text": "hello", "ref": "c"})
    assert (await receive(second, "error"))["code"] == "invalid_state"
    await trainer.send_json({"type": "chat", "text": "to the class"})
    await receive(first, "chat_posted")
    await receive(trainer, "chat_posted")
    # A page on standby hears nothing of the room.
    assert [m["type"] for m in await quiet(second)] == []

    await second.send_json({"type": "join_here"})
    welcome = await receive(second, "welcome")
    assert welcome["you"]["sub"] == "a"
    assert (await receive(first, "error"))["code"] == "replaced"
    assert await closed(first) == 4001
    await second.send_json({"type": "chat", "text": "here now"})
    assert (await receive(trainer, "chat_posted"))["text"] == "here now"
    await second.send_json({"type": "join_here", "ref": "again"})
    assert (await receive(second, "error"))["code"] == "invalid_state"


async def test_a_side_page_alone_keeps_the_person_present(client: Client, mint: Mint) -> None:
    trainer = await page(client, mint("trainer", "Tea", sub="t"), tab="tab-t")
    await receive(trainer, "welcome")
    token = mint("trainee", "Ana", sub="a")
    polls = await page(client, token, "side")
    await receive(polls, "welcome")
    assert (await receive(trainer, "participant_joined"))["participant"]["id"] == "a"

    # The classroom page then takes the presence (and media) over; the polls page stays.
    classroom = await page(client, token, tab="tab-a")
    await receive(classroom, "welcome")
    await classroom.send_json({"type": "media_ready", "codecs": ["VP8"], "ref": "m"})
    await receive(classroom, "media_config")
    await classroom.close()
    # The polls page still open keeps Ana in the room.
    assert "participant_disconnected" not in [m["type"] for m in await quiet(trainer)]
    await trainer.send_json({"type": "chat", "text": "still there?"})
    await receive(polls, "chat_posted")
    await polls.close()
    assert (await receive(trainer, "participant_disconnected"))["id"] == "a"


async def test_removing_someone_closes_all_their_pages(client: Client, mint: Mint) -> None:
    trainer = await page(client, mint("trainer", "Tea", sub="t"), tab="tab-t")
    await receive(trainer, "welcome")
    token = mint("trainee", "Ana", sub="a")
    classroom = await page(client, token, tab="tab-a")
    await receive(classroom, "welcome")
    polls = await page(client, token, "side")
    await receive(polls, "welcome")
    await trainer.send_json({"type": "remove", "target": "a"})
    assert await closed(classroom) == 4003
    assert await closed(polls) == 4003


async def test_a_page_must_say_what_it_is_for(client: Client, mint: Mint) -> None:
    params = {"token": mint("trainee", "Ana", sub="a"), "page": "sidebar"}
    async with client.session.get(client.make_url("/ws"), params=params) as response:
        assert response.status == 400
