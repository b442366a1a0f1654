"""Companion phones: the room device's code and QR, pairing, and the companion in the room."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from classroom.companion import CODE_TTL_S
from config import Settings
from tests.conftest import ManualClock, Mint
from tests.web.test_polls import auth, join, open_poll, receive

Client = TestClient[Any, Any]


async def code_of(client: Client, mint: Mint) -> tuple[Any, dict[str, Any]]:
    device = await join(client, mint("room", "Room 3", sub="room3"))
    await device.send_json({"type": "pair_companion", "ref": "p"})
    return device, await receive(device, "pairing_code_issued")


async def pair(client: Client, code: str, name: str = "Besa") -> aiohttp.ClientResponse:
    return await client.post("/api/companion/pair", json={"code": code, "name": name})


async def test_the_room_device_shows_a_code_a_url_and_a_qr_code(client: Client, mint: Mint) -> None:
    _, issued = await code_of(client, mint)
    assert len(issued["code"]) == 6 and issued["ref"] == "p"
    assert issued["url"].endswith(f"/companion?code={issued['code']}")
    svg = ET.fromstring(issued["qr_svg"])
    assert svg.tag == "svg" and svg.find(".//path[@class='qrline']") is not None
    page = await client.get("/companion", params={"code": issued["code"].lower()})
    assert page.status == 200 and f'value="{issued["code"]}"' in await page.text()


async def test_a_phone_pairs_then_answers_chats_and_raises_a_hand_as_itself(
    client: Client, mint: Mint
) -> None:
    trainer = await join(client, mint("trainer", sub="t"))
    device, issued = await code_of(client, mint)
    response = await pair(client, issued["code"][:3] + "-" + issued["code"][3:].lower())
    assert response.status == 201
    body = await response.json()
    assert (body["room"], body["name"], body["device"]) == ("demo", "Besa", "room3")
    assert (await receive(device, "companion_paired"))["name"] == "Besa"
    me = await (await client.get("/api/me", headers=auth(body["token"]))).json()
    assert me["role"] == "companion" and me["permissions"] == sorted(
        ["answer_polls", "chat", "join", "listen_channel", "raise_hand", "subscribe_media"]
    )
    phone = await client.ws_connect("/ws", params={"token": body["token"]})
    welcome = await receive(phone, "welcome")
    assert welcome["you"]["device"] == "room3"
    phone_id = welcome["you"]["sub"]
    poll = await open_poll(trainer)
    await receive(phone, "poll_opened")
    await phone.send_json({"type": "answer_poll", "poll": poll["id"], "answer": 2})
    await receive(phone, "poll_answer_recorded")
    await device.send_json({"type": "answer_poll", "poll": poll["id"], "answer": 0})
    await receive(device, "poll_answer_recorded")  # the room's own answer counts apart
    tally = (await receive(trainer, "poll_tallied"))["tally"]
    while tally["answered"] < 2:
        tally = (await receive(trainer, "poll_tallied"))["tally"]
    assert tally["counts"] == [1, 0, 1]
    await phone.send_json({"type": "chat", "text": "From my phone"})
    posted = await receive(trainer, "chat_posted")
    assert (posted["sender"], posted["name"]) == (phone_id, "Besa")
    await phone.send_json({"type": "raise_hand", "raised": True})
    assert (await receive(trainer, "hand_changed"))["id"] == phone_id
    await phone.send_json({"type": "create_poll", "question": "Mine", "kind": "text"})
    assert (await receive(phone, "error"))["code"] == "forbidden"
    await phone.send_json({"type": "pair_companion"})
    assert (await receive(phone, "error"))["code"] == "forbidden"


async def test_a_new_code_retires_the_old_one(client: Client, mint: Mint) -> None:
    device, first = await code_of(client, mint)
    await device.send_json({"type": "pair_companion"})
    second = await receive(device, "pairing_code_issued")
    assert second["code"] != first["code"]
    # The old code pairs nobody, and says it has expired (use the new one), not wrong.
    refused = await pair(client, first["code"])
    assert refused.status == 409
    assert (await refused.json())["error"]["reason"] == "code_expired"
    assert (await pair(client, second["code"])).status == 201


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"code": "ZZZZZZ", "name": "Besa"}, 404, "wrong"),
        ({"code": "12", "name": "Besa"}, 400, "6 letters"),
        ({"code": "ZZZZZZ"}, 400, "name"),
        ({"code": "ZZZZZZ", "name": "Besa", "role": "trainer"}, 400, "role"),
    ],
)
async def test_bad_pairing_requests_are_refused_clearly(
    client: Client, body: dict[str, Any], status: int, fragment: str
) -> None:
    response = await client.post("/api/companion/pair", json=body)
    assert response.status == status and fragment in (await response.json())["error"]["message"]


async def test_an_expired_code_is_refused(client: Client, mint: Mint) -> None:
    from web.context import STORE

    _, issued = await code_of(client, mint)
    store = client.app[STORE]  # type: ignore[index]
    record = json.loads(await store.get(f"pairing:{issued['code']}"))
    record["expires_at"] = record["issued_at"]  # as if ten minutes had passed
    await store.set(f"pairing:{issued['code']}", json.dumps(record))
    response = await pair(client, issued["code"])
    error = (await response.json())["error"]
    assert response.status == 409 and "expired" in error["message"]
    assert (error["code"], error["reason"]) == ("invalid_state", "code_expired")  # translated


async def test_a_code_lasts_ten_minutes_of_the_apps_clock(
    settings: Settings, clock: ManualClock, mint: Mint
) -> None:
    """Issued and redeemed on the one clock the app is given: the code's ten minutes pass
    when that clock says so, however little time the system clock saw pass."""
    from web.app import create_app

    async with TestClient(TestServer(create_app(settings, clock))) as client:
        device, issued = await code_of(client, mint)
        assert issued["expires_at"] == clock() + CODE_TTL_S
        clock.advance(CODE_TTL_S - 1)
        assert (await pair(client, issued["code"], "Besa")).status == 201
        await device.send_json({"type": "pair_companion"})
        second = await receive(device, "pairing_code_issued")
        assert second["expires_at"] == clock() + CODE_TTL_S
        clock.advance(CODE_TTL_S)
        refused = await pair(client, second["code"], "Ana")
        assert refused.status == 409
        assert (await refused.json())["error"]["reason"] == "code_expired"


async def test_everyone_sees_which_room_device_a_phone_belongs_to(
    client: Client, mint: Mint
) -> None:
    """Each room screen counts its own phones: a phone's participant names its device."""
    trainer = await join(client, mint("trainer", sub="t"))
    device, issued = await code_of(client, mint)
    body = await (await pair(client, issued["code"])).json()
    phone = await client.ws_connect("/ws", params={"token": body["token"]})
    mine = (await receive(phone, "welcome"))["you"]["sub"]
    for ws in (trainer, device):
        joined = (await receive(ws, "participant_joined"))["participant"]
        while joined["id"] != mine:
            joined = (await receive(ws, "participant_joined"))["participant"]
        assert (joined["role"], joined["device"]) == ("companion", "room3")
    newcomer = await client.ws_connect("/ws", params={"token": mint("room", "Room 5", sub="r5")})
    people = (await receive(newcomer, "welcome"))["room"]["participants"]
    assert {p["id"]: p.get("device") for p in people} == {
        "t": None,
        "room3": None,
        mine: "room3",
        "r5": None,
    }


async def test_trainees_cannot_issue_codes_nor_mint_companions(client: Client, mint: Mint) -> None:
    ana = await join(client, mint("trainee", "Ana", sub="a"))
    await ana.send_json({"type": "pair_companion"})
    assert "may not pair companion" in (await receive(ana, "error"))["message"]
    response = await client.post(
        "/api/rooms/demo/invitations",
        json={"role": "companion", "name": "x"},
        headers=auth(mint("trainer")),
    )
    assert response.status == 400


async def test_guessing_codes_is_slowed_down(client: Client, mint: Mint) -> None:
    from web.context import SETTINGS

    _, issued = await code_of(client, mint)
    wrong = "ZZZZZZ" if issued["code"] != "ZZZZZZ" else "YYYYYY"
    for _ in range(client.app[SETTINGS].pairing_failures_per_minute):
        assert (await pair(client, wrong)).status == 404
    refused = await pair(client, issued["code"])
    assert refused.status == 429 and (await refused.json())["error"]["code"] == "rate_limited"
