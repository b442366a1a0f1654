"""Quizzes over the websocket: timed questions, scores, results, and a restart on Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from config import Settings
from tests.conftest import Mint
from tests.web.test_polls import auth, join, receive

Client = TestClient[Any, Any]
QUIZ = {
    "title": "Border law",
    "speed_bonus": False,
    "questions": [
        {"text": "Schengen borders code year?", "options": ["2006", "2016"], "correct": [0]},
        {
            "text": "Which are EU agencies?",
            "options": ["Frontex", "EUAA", "OSCE"],
            "correct": [0, 1],
        },
    ],
}


async def test_a_quiz_from_start_to_scores(client: Client, mint: Mint) -> None:
    trainer = await join(client, mint("trainer", "Tea", sub="t"))
    ana = await join(client, mint("trainee", "Ana", sub="a"))
    bojan = await join(client, mint("trainee", "Bojan", sub="b"))
    await trainer.send_json({"type": "create_quiz", **QUIZ})
    quiz = (await receive(trainer, "quiz_created"))["quiz"]
    assert quiz["spec"]["questions"][1]["correct"] == [0, 1]
    await ana.send_json({"type": "start_quiz", "quiz": quiz["id"]})
    assert (await receive(ana, "error"))["code"] == "forbidden"
    await trainer.send_json({"type": "start_quiz", "quiz": quiz["id"]})
    opened = await receive(bojan, "question_opened")
    assert opened["index"] == 0 and "correct" not in opened["question"]
    await ana.send_json({"type": "answer_quiz", "quiz": quiz["id"], "index": 0, "choices": [0]})
    await receive(ana, "quiz_answer_recorded")
    assert (await receive(trainer, "question_tallied"))["tally"]["correct"] == 1
    await bojan.send_json({"type": "answer_quiz", "quiz": quiz["id"], "index": 0, "choices": [5]})
    assert "does not exist" in (await receive(bojan, "error"))["message"]
    await trainer.send_json({"type": "next_question", "quiz": quiz["id"]})
    closed = await receive(bojan, "question_closed")
    assert closed["correct"] == [0] and closed["tally"]["answered"] == 1
    await bojan.send_json({"type": "answer_quiz", "quiz": quiz["id"], "index": 0, "choices": [0]})
    assert (await receive(bojan, "error"))["code"] == "invalid_state"  # that question is over
    await bojan.send_json(
        {"type": "answer_quiz", "quiz": quiz["id"], "index": 1, "choices": [1, 0]}
    )
    await receive(bojan, "quiz_answer_recorded")
    await trainer.send_json({"type": "end_quiz", "quiz": quiz["id"]})
    ended = await receive(ana, "quiz_ended")
    board = ended["leaderboard"]
    assert {(row["name"], row["score"]) for row in board} == {("Ana", 100), ("Bojan", 100)}
    assert [row["rank"] for row in board] == [1, 2]  # a tie goes to the faster in all
    mine = await receive(bojan, "quiz_scored")
    assert (mine["result"]["score"], mine["result"]["correct"]) == (100, 1)
    everyone = await receive(trainer, "quiz_results_reported")
    assert {r["id"] for r in everyone["results"]} == {"a", "b"}


async def test_a_question_closes_by_itself_at_its_time_limit(client: Client, mint: Mint) -> None:
    trainer = await join(client, mint("trainer", sub="t"))
    ana = await join(client, mint("trainee", "Ana", sub="a"))
    quick = {**QUIZ, "questions": [{**QUIZ["questions"][0], "time_limit_s": 5}]}  # type: ignore[dict-item]
    await trainer.send_json({"type": "create_quiz", **quick})
    quiz = (await receive(trainer, "quiz_created"))["quiz"]
    await trainer.send_json({"type": "start_quiz", "quiz": quiz["id"]})
    await receive(ana, "question_opened")
    async with asyncio.timeout(15):  # the 5-second limit, then the server's timer
        while True:
            message = json.loads((await ana.receive()).data)
            if message["type"] == "question_closed":
                break
    assert message["index"] == 0 and message["correct"] == [0]
    late = {"type": "answer_quiz", "quiz": quiz["id"], "index": 0, "choices": [0]}
    await ana.send_json(late)
    assert "time is up" in (await receive(ana, "error"))["message"]
    listing = await client.get("/api/rooms/demo/quizzes", headers=auth(mint("trainer", sub="t")))
    (stored,) = (await listing.json())["quizzes"]
    assert stored["question_open"] is False and stored["tally"]["answered"] == 0


async def test_a_running_quiz_survives_a_restart_on_redis(
    settings: Settings, mint: Mint, redis_url: str
) -> None:
    from web.app import create_app

    room = "quiz-" + uuid.uuid4().hex[:8]
    configured = settings.replace(redis_url=redis_url)
    async with TestClient(TestServer(create_app(configured))) as client:
        trainer = await join(client, mint("trainer", sub="t", room=room))
        await trainer.send_json({"type": "create_quiz", **QUIZ})
        quiz = (await receive(trainer, "quiz_created"))["quiz"]["id"]
        await trainer.send_json({"type": "start_quiz", "quiz": quiz})
        ana = await join(client, mint("trainee", "Ana", sub="a", room=room))
        await ana.send_json({"type": "answer_quiz", "quiz": quiz, "index": 0, "choices": [0]})
        await receive(ana, "quiz_answer_recorded")
    async with TestClient(TestServer(create_app(configured))) as client:
        ana = await client.ws_connect(
            "/ws", params={"token": mint("trainee", "Ana", sub="a", room=room)}
        )
        snapshot = await receive(ana, "polls_snapshot")
        (running,) = snapshot["quizzes"]
        assert running["current"] == 0 and running["your_choices"] == [0]
        await ana.send_json({"type": "answer_quiz", "quiz": quiz, "index": 0, "choices": [1]})
        assert "already" in (await receive(ana, "error"))["message"]
        trainer = await join(client, mint("trainer", sub="t", room=room))
        await trainer.send_json({"type": "end_quiz", "quiz": quiz})
        scored = await receive(ana, "quiz_scored")
        assert scored["result"]["score"] == 100


async def test_prepared_quizzes_and_bad_ones(client: Client, mint: Mint) -> None:
    token = mint("trainer", sub="t")
    created = await client.post("/api/rooms/demo/quizzes", json=QUIZ, headers=auth(token))
    assert created.status == 201 and (await created.json())["state"] == "draft"
    bad = {**QUIZ, "questions": [{"text": "?", "options": ["a", "b"], "correct": [3]}]}
    refused = await client.post("/api/rooms/demo/quizzes", json=bad, headers=auth(token))
    assert refused.status == 400 and "correct" in (await refused.json())["error"]["message"]
    template = await client.post(
        "/api/rooms/demo/quizzes", json={**QUIZ, "module": "m08-asylum-return"}, headers=auth(token)
    )
    template_id = (await template.json())["id"]
    trainer = await join(client, token)
    await trainer.send_json({"type": "start_session", "module": "m08-asylum-return"})
    await receive(trainer, "session_changed")
    await trainer.send_json({"type": "start_quiz", "quiz": template_id})
    started = await receive(trainer, "quiz_started")
    assert started["quiz"]["title"] == "Border law" and started["quiz"]["id"] != template_id
    listing = await client.get("/api/rooms/demo/quizzes", headers=auth(mint("trainee")))
    assert [q["state"] for q in (await listing.json())["quizzes"]] == ["running"]
