"""Live polls over the websocket and the JSON API: the flow, bad input, Redis and restarts."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from config import Settings
from tests.conftest import Mint

Client = TestClient[Any, Any]
WS = aiohttp.ClientWebSocketResponse


async def connect(client: Client, token: str) -> WS:
    ws = await client.ws_connect("/ws", params={"token": token})
    return ws


async def receive(ws: WS, type_: str) -> dict[str, Any]:
    """The next message of the given type (others are skipped), within 5 seconds."""
    async with asyncio.timeout(5):
        while True:
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"socket closed while waiting for {type_}: {msg}")
            data = json.loads(msg.data)
            if data["type"] == type_:
                return data  # type: ignore[no-any-return]


async def join(client: Client, token: str) -> WS:
    ws = await connect(client, token)
    await receive(ws, "polls_snapshot")
    return ws


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def open_poll(trainer: WS, **fields: Any) -> dict[str, Any]:
    body = {"question": "Which border crossing?", "kind": "single", "options": ["A", "B", "C"]}
    await trainer.send_json({"type": "create_poll", **body, **fields, "open": True})
    return (await receive(trainer, "poll_opened"))["poll"]  # type: ignore[no-any-return]


async def test_trainer_opens_participants_answer_trainer_sees_the_tally(
    client: Client, mint: Mint
) -> None:
    trainer = await join(client, mint("trainer", "Tea", sub="t"))
    ana = await join(client, mint("trainee", "Ana", sub="a"))
    bojan = await join(client, mint("trainee", "Bojan", sub="b"))
    poll = await open_poll(trainer)
    assert (await receive(ana, "poll_opened"))["poll"]["id"] == poll["id"]
    assert "tally" not in poll  # results stay with the trainers until published
    await ana.send_json({"type": "answer_poll", "poll": poll["id"], "answer": 1})
    recorded = await receive(ana, "poll_answer_recorded")
    assert (recorded["answer"], recorded["changed"]) == (1, False)
    assert (await receive(trainer, "poll_tallied"))["tally"]["counts"] == [0, 0, 0]  # opening
    assert (await receive(trainer, "poll_tallied"))["tally"]["counts"] == [0, 1, 0]
    await bojan.send_json({"type": "answer_poll", "poll": poll["id"], "answer": 2})
    tally = (await receive(trainer, "poll_tallied"))["tally"]
    assert tally == {"answered": 2, "counts": [0, 1, 1], "texts": []}
    await trainer.send_json({"type": "close_poll", "poll": poll["id"]})
    assert (await receive(bojan, "poll_closed"))["poll"]["state"] == "closed"
    await trainer.send_json({"type": "publish_poll", "poll": poll["id"]})
    published = await receive(ana, "poll_results_published")
    assert published["tally"]["counts"] == [0, 1, 1]


async def test_a_latecomer_sees_the_open_poll_at_once(client: Client, mint: Mint) -> None:
    trainer = await join(client, mint("trainer", sub="t"))
    poll = await open_poll(trainer, kind="rating", options=[], scale=5)
    late = await connect(client, mint("trainee", "Late", sub="late"))
    snapshot = await receive(late, "polls_snapshot")
    assert [(p["id"], p["state"], p["answered"]) for p in snapshot["polls"]] == [
        (poll["id"], "open", False)
    ]


async def test_an_answer_changes_only_when_allowed_and_counts_once(
    client: Client, mint: Mint
) -> None:
    trainer = await join(client, mint("trainer", sub="t"))
    ana = await join(client, mint("trainee", "Ana", sub="a"))
    fixed = await open_poll(trainer)
    changeable = await open_poll(trainer, kind="multiple", allow_change=True)
    await ana.send_json({"type": "answer_poll", "poll": fixed["id"], "answer": 0})
    await receive(ana, "poll_answer_recorded")
    await ana.send_json({"type": "answer_poll", "poll": fixed["id"], "answer": 1, "ref": "r"})
    error = await receive(ana, "error")
    assert (error["code"], error["ref"]) == ("invalid_state", "r")
    for answer in ([0, 2], [1]):
        await ana.send_json({"type": "answer_poll", "poll": changeable["id"], "answer": answer})
        await receive(ana, "poll_answer_recorded")
    response = await client.get("/api/rooms/demo/polls", headers=auth(mint("trainer", sub="t")))
    tallies = {p["id"]: p["tally"] for p in (await response.json())["polls"]}
    assert tallies[fixed["id"]] == {"answered": 1, "counts": [1, 0, 0], "texts": []}
    assert tallies[changeable["id"]] == {"answered": 1, "counts": [0, 1, 0], "texts": []}


@pytest.mark.parametrize(
    ("message", "code", "fragment"),
    [
        ({"poll": "nope", "answer": 0}, "not_found", "no poll"),
        ({"answer": 7}, "invalid", "option 7 does not exist"),
        ({"answer": -1}, "invalid", "does not exist"),
        ({"answer": "A"}, "invalid", "number"),
        ({"answer": True}, "bad_message", "answer"),
        ({"answer": 0, "voter": "b"}, "bad_message", "voter"),
    ],
)
async def test_bad_answers_are_refused_and_change_no_tally(
    client: Client, mint: Mint, message: dict[str, Any], code: str, fragment: str
) -> None:
    trainer = await join(client, mint("trainer", sub="t"))
    ana = await join(client, mint("trainee", "Ana", sub="a"))
    poll = await open_poll(trainer)
    await ana.send_json({"type": "answer_poll", "poll": poll["id"], **message})
    error = await receive(ana, "error")
    assert error["code"] == code and fragment in error["message"]
    response = await client.get("/api/rooms/demo/polls", headers=auth(mint("trainer", sub="t")))
    assert (await response.json())["polls"][0]["tally"]["answered"] == 0


async def test_text_over_the_limit_and_closed_polls_are_refused(client: Client, mint: Mint) -> None:
    trainer = await join(client, mint("trainer", sub="t"))
    ana = await join(client, mint("trainee", "Ana", sub="a"))
    poll = await open_poll(trainer, kind="text", options=[], text_max=10)
    await ana.send_json({"type": "answer_poll", "poll": poll["id"], "answer": "x" * 11})
    assert "longer than 10" in (await receive(ana, "error"))["message"]
    await trainer.send_json({"type": "close_poll", "poll": poll["id"]})
    await receive(ana, "poll_closed")
    await ana.send_json({"type": "answer_poll", "poll": poll["id"], "answer": "ok"})
    assert (await receive(ana, "error"))["code"] == "invalid_state"


async def test_trainees_may_not_run_polls(client: Client, mint: Mint) -> None:
    trainer = await join(client, mint("trainer", sub="t"))
    ana = await join(client, mint("trainee", "Ana", sub="a"))
    poll = await open_poll(trainer)
    for message in (
        {"type": "create_poll", "question": "Mine?", "kind": "text"},
        {"type": "close_poll", "poll": poll["id"]},
        {"type": "publish_poll", "poll": poll["id"]},
    ):
        await ana.send_json(message)
        error = await receive(ana, "error")
        assert error["code"] == "forbidden" and "may not manage polls" in error["message"]
    response = await client.get("/api/rooms/demo/polls", headers=auth(mint("trainer", sub="t")))
    assert [p["state"] for p in (await response.json())["polls"]] == ["open"]


async def test_an_anonymous_poll_stores_no_link_between_person_and_answer(
    settings: Settings, mint: Mint, redis_url: str
) -> None:
    from web.app import create_app
    from web.context import HUB

    room = "anon-" + uuid.uuid4().hex[:8]
    app = create_app(settings.replace(redis_url=redis_url))
    heard: list[Any] = []
    app[HUB].listeners.append(lambda live, events: heard.extend(events))  # e.g. a journal
    async with TestClient(TestServer(app)) as client:
        trainer = await join(client, mint("trainer", sub="t", room=room))
        poll = await open_poll(trainer, kind="text", options=[], anonymous=True)
        ana = await join(client, mint("trainee", "Ana Secret", sub="ana-sub", room=room))
        await ana.send_json({"type": "answer_poll", "poll": poll["id"], "answer": "Too fast"})
        await receive(ana, "poll_answer_recorded")
        await ana.send_json({"type": "answer_poll", "poll": poll["id"], "answer": "again"})
        assert (await receive(ana, "error"))["code"] == "invalid_state"
        import redis.asyncio as aioredis

        direct = aioredis.from_url(redis_url, decode_responses=True)
        keys = [k async for k in direct.scan_iter(match=f"poll:{room}:*")]
        dump = {k: await direct.dump(k) for k in keys}
        await direct.aclose()
        voters_key = f"poll:{room}:{poll['id']}:voters"
        (text_key,) = [k for k in keys if k != voters_key]
        assert text_key == f"poll:{room}:{poll['id']}:texts"  # one key for every text
        assert dump[text_key] and b"Too fast" in dump[text_key]
        assert b"ana-sub" not in dump[text_key] and b"Too fast" not in dump[voters_key]
        assert not [e for e in heard if "ana-sub" in repr(e) and "Too fast" in repr(e)]
        assert any("PollOpened" in repr(e) for e in heard)  # listeners do hear the rest
    async with TestClient(TestServer(create_app(settings.replace(redis_url=redis_url)))) as again:
        token = mint("trainer", sub="t", room=room)
        listing = await again.get(f"/api/rooms/{room}/polls", headers=auth(token))
        (stored,) = (await listing.json())["polls"]
        assert stored["tally"] == {"answered": 1, "counts": [], "texts": ["Too fast"]}


async def test_concurrent_answers_count_once_in_redis_and_survive_a_restart(
    settings: Settings, mint: Mint, redis_url: str
) -> None:
    from web.app import create_app

    room = "load-" + uuid.uuid4().hex[:8]
    configured = settings.replace(redis_url=redis_url)
    people = 40
    async with TestClient(TestServer(create_app(configured))) as client:
        trainer = await join(client, mint("trainer", sub="t", room=room))
        poll = await open_poll(trainer, kind="multiple")
        anon = await open_poll(trainer, kind="single", anonymous=True)
        sockets = await asyncio.gather(
            *(join(client, mint("trainee", f"P{i}", sub=f"p{i}", room=room)) for i in range(people))
        )

        async def answer_twice(i: int, ws: WS) -> None:
            # Each sends its answers twice at once: the second of each must be refused.
            for _ in range(2):
                await ws.send_json({"type": "answer_poll", "poll": poll["id"], "answer": [i % 3]})
                await ws.send_json({"type": "answer_poll", "poll": anon["id"], "answer": i % 2})
            outcomes = [await receive(ws, "poll_answer_recorded") for _ in range(2)]
            outcomes += [await receive(ws, "error") for _ in range(2)]
            assert len(outcomes) == 4

        await asyncio.gather(*(answer_twice(i, ws) for i, ws in enumerate(sockets)))
        for ws in sockets:
            await ws.close()
    expected = [sum(1 for i in range(people) if i % 3 == k) for k in range(3)]
    # A new app on the same Redis (a restarted server) sees every answer, once.
    async with TestClient(TestServer(create_app(configured))) as client:
        token = mint("trainer", sub="t", room=room)
        response = await client.get(f"/api/rooms/{room}/polls", headers=auth(token))
        tallies = {p["id"]: p["tally"] for p in (await response.json())["polls"]}
        assert tallies[poll["id"]]["counts"] == expected
        assert tallies[poll["id"]]["answered"] == people
        assert tallies[anon["id"]] == {"answered": people, "counts": [20, 20, 0], "texts": []}
        # ... and goes on counting: someone answering twice is still refused.
        ws = await join(client, mint("trainee", "P0", sub="p0", room=room))
        await ws.send_json({"type": "answer_poll", "poll": poll["id"], "answer": [2]})
        assert (await receive(ws, "error"))["code"] == "invalid_state"


async def test_prepared_polls_for_the_room_and_the_module(client: Client, mint: Mint) -> None:
    trainer_token = mint("trainer", sub="t")
    body = {"question": "How useful was it?", "kind": "rating", "scale": 4}
    draft = await client.post("/api/rooms/demo/polls", json=body, headers=auth(trainer_token))
    assert draft.status == 201 and (await draft.json())["state"] == "draft"
    module_body = {**body, "question": "Module check", "module": "m02-human-rights"}
    template = await client.post(
        "/api/rooms/demo/polls", json=module_body, headers=auth(trainer_token)
    )
    assert template.status == 201
    template_id = (await template.json())["id"]
    unknown = await client.post(
        "/api/rooms/demo/polls", json={**module_body, "module": "m99"}, headers=auth(trainer_token)
    )
    assert unknown.status == 404
    refused = await client.post("/api/rooms/demo/polls", json=body, headers=auth(mint()))
    assert refused.status == 403
    bad = await client.post(
        "/api/rooms/demo/polls", json={**body, "scale": 40}, headers=auth(trainer_token)
    )
    assert bad.status == 400 and "rating scale" in (await bad.json())["error"]["message"]

    trainer = await join(client, trainer_token)
    await trainer.send_json({"type": "start_session", "module": "m02-human-rights"})
    session = (await receive(trainer, "session_changed"))["session"]
    listing = await client.get("/api/rooms/demo/polls", headers=auth(trainer_token))
    assert [t["question"] for t in (await listing.json())["templates"]] == ["Module check"]
    await trainer.send_json({"type": "open_poll", "poll": template_id})
    opened = (await receive(trainer, "poll_opened"))["poll"]
    assert opened["question"] == "Module check" and opened["session_id"] == session["id"]
    assert opened["id"] != template_id  # a copy: the template stays for the next session
