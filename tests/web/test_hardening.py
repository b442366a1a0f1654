"""Faults and abuse (issue 14): what an attacker or a fault tried from outside, refused."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from config import Settings
from live.store import MemoryStore
from tests.conftest import ManualClock, Mint
from tests.web.test_polls import auth, join, receive
from web.context import STORE

Client = TestClient[Any, Any]


@pytest.fixture
async def client(settings: Settings, clock: ManualClock) -> AsyncIterator[Client]:
    from web.app import create_app

    async with TestClient(TestServer(create_app(settings, clock))) as test_client:
        yield test_client


# --- 5. the in-memory store after a key expires ------------------------------------------


async def test_the_memory_store_lists_keys_after_one_has_expired() -> None:
    store = MemoryStore()
    await store.set("pairing-failures:1", "1", ttl_s=0)  # expired at once
    await store.set("pairing-other", "x")
    await store.hset("pairing-hash", "f", "v")
    assert await store.keys("pairing") == ["pairing-hash", "pairing-other"]
    assert await store.get("pairing-failures:1") is None


# --- 4. CSV formulas after a separator -----------------------------------------------------


async def test_no_csv_cell_starts_a_formula_whatever_the_separator(
    client: Client, mint: Mint, clock: ManualClock
) -> None:
    trainer = await join(client, mint("trainer", "Tea", sub="t"))
    await trainer.send_json({"type": "start_session"})
    session = (await receive(trainer, "session_changed"))["session"]["id"]
    for sub, name in (("a", "Ana;=1+2;"), ("b", "Bo, @SUM(A1)|-3")):
        await join(client, mint("trainee", name, sub=sub))
        await receive(trainer, "presence_recorded")
    clock.advance(60)
    response = await client.get(
        f"/api/sessions/{session}/attendance.csv", headers=auth(mint("trainer", "Tea", sub="t"))
    )
    text = await response.text()
    lines = text.splitlines()
    assert all(line.startswith('"') and line.endswith('"') for line in lines)  # all quoted
    names = {r["participant_id"]: r["name"] for r in csv.DictReader(io.StringIO(text))}
    assert names["a"] == "Ana;'=1+2;"
    assert names["b"] == "Bo, '@SUM(A1)|'-3"
    for separator in ",;|\t":  # read as a spreadsheet in any locale would split it
        for line in lines:
            for field in line.split(separator):
                assert field.strip(' "')[:1] not in ("=", "+", "-", "@"), (separator, line)


# --- 8. deeply nested JSON -----------------------------------------------------------------


async def test_deeply_nested_json_is_refused_and_the_socket_stays_up(
    client: Client, mint: Mint
) -> None:
    ws = await join(client, mint("trainee", "Ana", sub="a"))
    for text in ("[" * 1000, '{"type": "chat", "text": ' + "[" * 40 + "]" * 40 + "}"):
        await ws.send_str(text)
        error = await receive(ws, "error")
        assert error["code"] == "bad_json" and "nested deeper than 32" in error["message"]
    await ws.send_json({"type": "ping", "ref": "still"})
    assert (await receive(ws, "pong"))["ref"] == "still"
    for path in ("/api/companion/pair", "/api/rooms/demo/invitations"):
        response = await client.post(path, data="[" * 1000, headers=auth(mint("trainer")))
        body = await response.json()
        assert response.status == 400 and body["error"]["code"] == "bad_json", path


# --- 6. the lobby hears lobby messages only ------------------------------------------------


async def messages_until_pong(ws: Any) -> list[dict[str, Any]]:
    """Everything the server sent this socket up to the answer of a ping sent now."""
    await ws.send_json({"type": "ping", "ref": "mark"})
    seen = []
    async with asyncio.timeout(5):
        while True:
            message = json.loads((await ws.receive()).data)
            if message["type"] == "pong" and message.get("ref") == "mark":
                return seen
            seen.append(message)


async def test_someone_in_the_lobby_learns_nothing_of_the_room(
    settings: Settings, clock: ManualClock, mint: Mint
) -> None:
    from web.app import create_app

    app = create_app(settings.replace(interpretation_channels=("sr",)), clock)
    async with TestClient(TestServer(app)) as client:
        trainer_token = mint("trainer", "Tea", sub="t")
        trainer = await join(client, trainer_token)
        await client.ws_connect("/ws", params={"token": mint("interpreter", "Ivo", sub="i")})
        response = await client.post(
            "/api/rooms/demo/recording",
            json={"action": "start", "title": "Asylum basics"},
            headers=auth(trainer_token),
        )
        assert response.status == 201
        await trainer.send_json({"type": "lock", "value": True})
        await receive(trainer, "room_locked")
        knocker = await client.ws_connect("/ws", params={"token": mint("trainee", "Ana", sub="a")})
        seen = await messages_until_pong(knocker)
        assert sorted(m["type"] for m in seen) == ["lobby_entered", "welcome"]
        welcome = next(m for m in seen if m["type"] == "welcome")
        assert welcome["room"]["participants"] == []
        await trainer.send_json({"type": "admit", "target": "a"})
        assert (await receive(knocker, "welcome"))["room"]["participants"] != []
        wanted = {"polls_snapshot", "interpretation_state", "recording_started"}
        async with asyncio.timeout(5):  # once admitted, the features greet her
            while wanted:
                wanted.discard(json.loads((await knocker.receive()).data)["type"])


# --- 3. removal sticks; knocks are limited -------------------------------------------------


async def refused(ws: Any) -> str:
    """The error a refused join gets before its socket closes."""
    error = await receive(ws, "error")
    assert (await ws.receive()).type is aiohttp.WSMsgType.CLOSE
    return str(error["message"])


async def test_a_removed_person_stays_out_until_the_trainer_lets_them_back(
    client: Client, mint: Mint
) -> None:
    trainer = await join(client, mint("trainer", "Tea", sub="t"))
    ana_token = mint("trainee", "Ana", sub="a")
    await join(client, ana_token)
    await trainer.send_json({"type": "remove", "target": "a"})
    banned = await receive(trainer, "ban_changed")
    assert (banned["id"], banned["name"], banned["banned"]) == ("a", "Ana", True)
    for token in (ana_token, mint("trainee", "Ana again", sub="a")):  # same identity
        again = await client.ws_connect("/ws", params={"token": token})
        assert await refused(again) == "the trainer has removed you from this room"
    late_trainer = await client.ws_connect("/ws", params={"token": mint("trainer", "Tom")})
    assert (await receive(late_trainer, "welcome"))["room"]["banned"] == [
        {"id": "a", "name": "Ana"}
    ]
    await trainer.send_json({"type": "lift_ban", "target": "a"})
    assert (await receive(trainer, "ban_changed"))["banned"] is False
    back = await join(client, ana_token)
    await back.send_json({"type": "chat", "text": "I am back"})
    assert (await receive(trainer, "chat_posted"))["sender"] == "a"


async def test_a_refused_person_cannot_knock_again_nor_knock_without_end(
    settings: Settings, clock: ManualClock, mint: Mint
) -> None:
    from web.app import create_app

    app = create_app(settings.replace(lobby_max_knocks=2), clock)
    async with TestClient(TestServer(app)) as client:
        trainer = await join(client, mint("trainer", "Tea", sub="t"))
        await trainer.send_json({"type": "lock", "value": True})
        await receive(trainer, "room_locked")
        knock = await client.ws_connect("/ws", params={"token": mint("trainee", "Ana", sub="a")})
        await receive(knock, "lobby_entered")
        await trainer.send_json({"type": "deny", "target": "a"})
        assert (await receive(trainer, "ban_changed"))["banned"] is True
        again = await client.ws_connect("/ws", params={"token": mint("trainee", "Ana", sub="a")})
        assert "removed you" in await refused(again)
        for _ in range(2):  # Boris knocks and leaves, twice: then no more
            boris = await client.ws_connect("/ws", params={"token": mint("trainee", "B", sub="b")})
            await receive(boris, "lobby_entered")
            await boris.close()
            await receive(trainer, "participant_left")
        boris = await client.ws_connect("/ws", params={"token": mint("trainee", "B", sub="b")})
        assert "too often" in await refused(boris)


async def test_a_full_room_refuses_newcomers_but_not_trainers(
    settings: Settings, clock: ManualClock, mint: Mint
) -> None:
    from web.app import create_app

    app = create_app(settings.replace(room_max_participants=2), clock)
    async with TestClient(TestServer(app)) as client:
        await join(client, mint("trainer", "Tea", sub="t"))
        await join(client, mint("trainee", "Ana", sub="a"))
        third = await client.ws_connect("/ws", params={"token": mint("trainee", "B", sub="b")})
        assert await refused(third) == "the room is full (2 participants)"
        await join(client, mint("trainer", "Tom", sub="t2"))


# --- 2. pairing: bounded, revocable ----------------------------------------------------------


async def closed(ws: Any) -> int:
    """The close code of a socket, once the messages before it are read."""
    while not ws.closed:
        await ws.receive(timeout=5)
    return int(ws.close_code)


async def refused_at_the_door(client: Client, token: str) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as error:
        await client.ws_connect("/ws", params={"token": token})
    return error.value.status


async def pair_phone(client: Client, code: str, name: str) -> Any:
    return await client.post("/api/companion/pair", json={"code": code, "name": name})


async def test_one_code_pairs_a_room_of_phones_not_more_and_the_trainer_unpairs_them(
    settings: Settings, clock: ManualClock, mint: Mint
) -> None:
    from web.app import create_app

    app = create_app(settings.replace(companions_per_device=3), clock)
    async with TestClient(TestServer(app)) as client:
        trainer = await join(client, mint("trainer", "Tea", sub="t"))
        device = await join(client, mint("room", "Room 3", sub="room3"))
        await device.send_json({"type": "pair_companion"})
        code = (await receive(device, "pairing_code_issued"))["code"]
        answers = await asyncio.gather(*(pair_phone(client, code, f"P{i}") for i in range(10)))
        paired = [await r.json() for r in answers if r.status == 201]
        refusals = [await r.json() for r in answers if r.status != 201]
        assert len(paired) == 3 and {r.status for r in answers} == {201, 409}
        assert "3 phones paired already" in refusals[0]["error"]["message"]
        assert refusals[0]["error"]["reason"] == "device_full"  # the phone translates it
        await device.send_json({"type": "pair_companion"})  # a new code: still the device's 3
        fresh = (await receive(device, "pairing_code_issued"))["code"]
        assert (await pair_phone(client, fresh, "P10")).status == 409

        phones = [await client.ws_connect("/ws", params={"token": p["token"]}) for p in paired]
        ids = [(await receive(phone, "welcome"))["you"]["sub"] for phone in phones]
        await trainer.send_json({"type": "unpair_companion", "target": ids[0], "ref": "u"})
        assert (await receive(trainer, "companions_unpaired"))["ids"] == [ids[0]]
        assert (await receive(phones[0], "removed"))["id"] == ids[0]
        assert await closed(phones[0]) == 4003
        assert await refused_at_the_door(client, paired[0]["token"]) == 401
        me = await client.get("/api/me", headers=auth(paired[0]["token"]))
        assert me.status == 401
        assert (await pair_phone(client, fresh, "P11")).status == 201  # a place is free

        await trainer.send_json({"type": "unpair_companion", "device": "room3"})
        assert len((await receive(trainer, "companions_unpaired"))["ids"]) == 3
        for phone in phones[1:]:
            assert (await receive(phone, "removed"))["by"] == "t"
            await closed(phone)
        assert (await pair_phone(client, fresh, "P12")).status == 404  # the code is retired
        phone = await client.ws_connect("/ws", params={"token": mint("trainee", "Ana")})
        await receive(phone, "welcome")
        await phone.send_json({"type": "unpair_companion", "device": "room3"})
        assert (await receive(phone, "error"))["code"] == "forbidden"


async def test_a_trainer_withdraws_a_join_link(client: Client, mint: Mint) -> None:
    trainer_token = mint("trainer", "Tea", sub="t")
    trainer = await join(client, trainer_token)
    link = await client.post(
        "/api/rooms/demo/invitations",
        json={"role": "trainee", "name": "Guest"},
        headers=auth(trainer_token),
    )
    token = (await link.json())["token"]
    guest = await join(client, token)
    response = await client.post(
        "/api/rooms/demo/revocations", json={"token": token}, headers=auth(trainer_token)
    )
    assert response.status == 200 and (await response.json())["jti"]
    assert (await receive(guest, "error"))["code"] == "unauthorized"
    assert await closed(guest) == 4003
    assert await refused_at_the_door(client, token) == 401
    assert (await client.get("/api/me", headers=auth(token))).status == 401
    other = await client.post(
        "/api/rooms/demo/revocations",
        json={"token": token},
        headers=auth(mint("trainee", "Ana")),
    )
    assert other.status == 403
    await trainer.send_json({"type": "ping", "ref": "alive"})
    assert (await receive(trainer, "pong"))["ref"] == "alive"


async def test_a_crowd_joining_is_announced_in_batches(client: Client, mint: Mint) -> None:
    trainer = await join(client, mint("trainer", "Tea", sub="t"))
    crowd = [mint("trainee", f"P{i}", sub=f"p{i}") for i in range(40)]
    await asyncio.gather(*(join(client, token) for token in crowd))
    joined: list[str] = []
    messages = 0
    async with asyncio.timeout(5):
        while len(joined) < 40:
            message = json.loads((await trainer.receive()).data)
            if message["type"] == "participant_joined":
                joined.append(message["participant"]["id"])
            elif message["type"] == "participants_changed":
                assert {e["type"] for e in message["events"]} == {"participant_joined"}
                joined += [e["participant"]["id"] for e in message["events"]]
            else:
                continue
            messages += 1
    assert sorted(joined) == sorted(f"p{i}" for i in range(40))  # each once, none lost
    assert messages <= 10 + 3  # ten one by one, then a batch a second


# --- 7. the pairing limiter ------------------------------------------------------------------


async def guesses_under_a_crowd(client: Client, mint: Mint, **headers: str) -> list[int]:
    """200 wrong codes at once from one address: the statuses answered."""
    device = await join(client, mint("room", "Room 3", sub="room3"))
    await device.send_json({"type": "pair_companion"})
    code = (await receive(device, "pairing_code_issued"))["code"]
    wrong = "ZZZZZZ" if code != "ZZZZZZ" else "YYYYYY"
    answers = await asyncio.gather(
        *(
            client.post("/api/companion/pair", json={"code": wrong, "name": "x"}, headers=headers)
            for _ in range(200)
        )
    )
    return sorted(r.status for r in answers)


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_concurrent_guesses_get_exactly_the_limit_evaluated(
    store: str, request: pytest.FixtureRequest, settings: Settings, clock: ManualClock, mint: Mint
) -> None:
    from web.app import create_app

    redis_url = request.getfixturevalue("redis_url") if store == "redis" else ""
    changed = settings.replace(redis_url=redis_url, pairing_failures_per_minute=20)
    async with TestClient(TestServer(create_app(changed, clock))) as client:
        key = "pairing-failures:127.0.0.1"
        await client.app[STORE].delete(key)  # the tests share one redis-server
        assert await guesses_under_a_crowd(client, mint) == [404] * 20 + [429] * 180
        if store == "redis":
            ttl = await client.app[STORE].redis.pttl(key)  # type: ignore[attr-defined]
            assert 0 < ttl <= 60_000  # the counter always expires
        await client.app[STORE].delete(key)


async def test_behind_a_trusted_proxy_each_phone_is_limited_alone(
    settings: Settings, clock: ManualClock, mint: Mint
) -> None:
    from web.app import create_app

    changed = settings.replace(pairing_failures_per_minute=5, trusted_proxies=("127.0.0.1",))
    async with TestClient(TestServer(create_app(changed, clock))) as client:
        device = await join(client, mint("room", "Room 3", sub="room3"))
        await device.send_json({"type": "pair_companion"})
        code = (await receive(device, "pairing_code_issued"))["code"]
        wrong = "ZZZZZZ" if code != "ZZZZZZ" else "YYYYYY"

        async def attempt(typed: str, client_ip: str) -> int:
            # A client may send its own X-Forwarded-For: the proxy appends the real address.
            forwarded = {"X-Forwarded-For": f"198.51.100.99, {client_ip}"}
            body = {"code": typed, "name": "Besa"}
            response = await client.post("/api/companion/pair", json=body, headers=forwarded)
            return response.status

        assert [await attempt(wrong, "10.1.1.1") for _ in range(6)] == [404] * 5 + [429]
        assert await attempt(code, "10.1.1.1") == 429  # that phone waits a minute
        assert await attempt(code, "10.1.1.2") == 201  # the next phone in the room does not
        for _ in range(4):  # right codes are no failures: they do not use up the limit
            assert await attempt(code, "10.1.1.3") == 201
        assert await attempt(wrong, "10.1.1.3") == 404


# --- 9. smaller ------------------------------------------------------------------------------


async def test_pages_may_not_be_framed_nor_rebased(client: Client) -> None:
    for path in ("/", "/companion", "/join"):
        response = await client.get(path)
        policy = dict(
            part.strip().split(" ", 1)
            for part in response.headers["Content-Security-Policy"].split(";")
        )
        assert policy["frame-ancestors"] == "'none'" and policy["base-uri"] == "'none'", path


QUIZ = {
    "title": "Border law",
    "module": "m08-asylum-return",
    "questions": [{"text": "Who decides?", "options": ["Police", "Court"], "correct": [1]}],
}


async def test_only_its_author_reads_a_quiz_templates_answers_yet_anyone_runs_it(
    client: Client, mint: Mint
) -> None:
    author, other = mint("trainer", "Tea", sub="t"), mint("trainer", "Tom", sub="t2", room="r2")
    created = await client.post("/api/rooms/demo/quizzes", json=QUIZ, headers=auth(author))
    template_id = (await created.json())["id"]
    url = "/api/rooms/{}/quizzes?module=m08-asylum-return"
    mine = (await (await client.get(url.format("demo"), headers=auth(author))).json())["templates"]
    assert mine[0]["questions"][0]["correct"] == [1]
    theirs = (await (await client.get(url.format("r2"), headers=auth(other))).json())["templates"]
    assert theirs[0]["id"] == template_id and "correct" not in theirs[0]["questions"][0]
    trainer = await join(client, other)
    await trainer.send_json({"type": "start_session", "module": "m08-asylum-return"})
    await receive(trainer, "session_changed")
    await trainer.send_json({"type": "start_quiz", "quiz": template_id})
    assert (await receive(trainer, "quiz_started"))["quiz"]["title"] == "Border law"


async def test_anonymous_texts_keep_neither_order_nor_time_of_answering(
    settings: Settings, mint: Mint, redis_url: str
) -> None:
    import redis.asyncio as aioredis

    from tests.web.test_polls import open_poll
    from web.app import create_app

    room = "anon-" + uuid.uuid4().hex[:8]
    app = create_app(settings.replace(redis_url=redis_url))
    texts = [f"answer {i}" for i in range(6)]
    async with TestClient(TestServer(app)) as client:
        trainer = await join(client, mint("trainer", sub="t", room=room))
        poll = await open_poll(trainer, kind="text", options=[], anonymous=True)
        for i, text in enumerate(texts):
            voter = await join(client, mint("trainee", f"P{i}", sub=f"p{i}", room=room))
            await voter.send_json({"type": "answer_poll", "poll": poll["id"], "answer": text})
            await receive(voter, "poll_answer_recorded")
    direct = aioredis.from_url(redis_url, decode_responses=True)
    try:
        keys = sorted([k async for k in direct.scan_iter(match=f"poll:{room}:*")])
        texts_key = f"poll:{room}:{poll['id']}:texts"
        assert keys == [texts_key, f"poll:{room}:{poll['id']}:voters"]  # no key per text
        assert await direct.type(texts_key) == "zset"
        stored = await direct.zrange(texts_key, 0, -1, withscores=True)
        assert {score for _, score in stored} == {0}  # ordered by a random prefix alone
        prefixes = [member.split(":", 1)[0] for member, _ in stored]
        assert prefixes == sorted(prefixes) and all(len(p) == 32 for p in prefixes)
        assert sorted(member.split(":", 1)[1] for member, _ in stored) == texts
    finally:
        await direct.aclose()
    async with TestClient(TestServer(create_app(settings.replace(redis_url=redis_url)))) as again:
        token = mint("trainer", sub="t", room=room)
        listing = await again.get(f"/api/rooms/{room}/polls", headers=auth(token))
        (kept,) = (await listing.json())["polls"]
        assert kept["tally"]["texts"] == texts


async def test_a_recording_with_nobody_publishing_stops_by_itself(
    settings: Settings, clock: ManualClock, mint: Mint
) -> None:
    from web.app import create_app
    from web.context import HUB
    from web.recording_handlers import RECORDINGS

    app = create_app(settings.replace(recording_empty_stop_s=60), clock)
    async with TestClient(TestServer(app)) as client:
        token = mint("trainer", "Tea", sub="t")
        trainer = await join(client, token)
        observer = await join(client, mint("observer", "Olga", sub="o"))
        response = await client.post(
            "/api/rooms/demo/recording", json={"action": "start"}, headers=auth(token)
        )
        assert response.status == 201
        await trainer.close()  # the trainer's page is gone; nobody publishes
        await receive(observer, "participant_disconnected")
        clock.advance(59)
        app[HUB].expire()  # the sweep the server runs every few seconds
        assert app[HUB].rooms["demo"].recording.state.recording
        clock.advance(1)
        app[HUB].expire()
        stopped = await receive(observer, "recording_stopped")
        assert stopped["reason"] == "empty_room" and stopped["by"] is None
        await app[HUB].rooms["demo"].recording.stopping  # files closed, queued
        library = app[RECORDINGS].library
        assert library.load((await response.json())["id"]).stop_reason == "empty_room"
        journal = (library.root / stopped["id"] / "journal.jsonl").read_text()
        assert '"empty_room"' in journal
