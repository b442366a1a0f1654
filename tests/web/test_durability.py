"""Durable by default: a session run on the real server as ``make run`` runs it (SQLite under
the relative ``./data``, no Redis) survives ``kill -9``: its polls, quiz, attendance,
recording and listeners' choices are all there after the restart, the reports are the
same; and a backup made while it ran restores into a new directory with the same
reports."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.server import ROOT, ServerProcess

# Three start-ups of the real server and a recording processed on a busy 2-core machine.
pytestmark = pytest.mark.timeout(180)
ROOM = "durable"
WS = aiohttp.ClientWebSocketResponse


async def receive(ws: WS, type_: str) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while True:
            message = await ws.receive()
            assert message.type is aiohttp.WSMsgType.TEXT, f"closed waiting for {type_}"
            data: dict[str, Any] = json.loads(message.data)
            assert data["type"] != "error", data
            if data["type"] == type_:
                return data


class People:
    """Everyone's tokens, minted once with the server's generated secret."""

    def __init__(self, server: ServerProcess) -> None:
        mint = server.mint
        self.trainer = mint("trainer", "Tea", room=ROOM, sub="tea", lang="en")
        self.ana = mint("trainee", "Ana", room=ROOM, sub="ana", lang="sr")
        self.bojan = mint("trainee", "Bojan", room=ROOM, sub="bojan", lang="mk")
        self.ivana = mint("interpreter", "Ivana", room=ROOM, sub="ivana", lang="sr")


async def run_session(server: ServerProcess, people: People, http: aiohttp.ClientSession) -> str:
    """A session with a poll, a quiz, an interpreter, a listener's choice and a recording; the
    people stay connected (the server is killed under them)."""

    async def join(token: str) -> WS:
        ws = await http.ws_connect(server.ws_url, params={"token": token})
        await receive(ws, "welcome")
        return ws

    trainer = await join(people.trainer)
    await trainer.send_json({"type": "start_session", "module": "m08-asylum-return"})
    session: str = (await receive(trainer, "session_changed"))["session"]["id"]
    await join(people.ivana)  # opens the Serbian channel, on air
    ana, bojan = await join(people.ana), await join(people.bojan)
    await ana.send_json({"type": "select_channel", "channel": "sr"})
    assert (await receive(ana, "listening_changed"))["channel"] == "sr"

    poll = {"question": "Which crossing?", "kind": "single", "options": ["North", "South"]}
    await trainer.send_json({"type": "create_poll", **poll, "open": True})
    poll_id = (await receive(trainer, "poll_opened"))["poll"]["id"]
    for ws, choice in ((ana, 0), (bojan, 1)):
        await ws.send_json({"type": "answer_poll", "poll": poll_id, "answer": choice})
        await receive(ws, "poll_answer_recorded")  # acknowledged: must survive

    quiz = {"title": "Asylum", "questions": [{"text": "Who decides?", "options": ["A", "B"],
                                              "correct": [1]}]}  # fmt: skip
    await trainer.send_json({"type": "create_quiz", **quiz})
    quiz_id = (await receive(trainer, "quiz_created"))["quiz"]["id"]
    await trainer.send_json({"type": "start_quiz", "quiz": quiz_id})
    for ws, choice in ((ana, 1), (bojan, 0)):
        await receive(ws, "question_opened")
        await ws.send_json(
            {"type": "answer_quiz", "quiz": quiz_id, "index": 0, "choices": [choice]}
        )
        await receive(ws, "quiz_answer_recorded")
    await trainer.send_json({"type": "end_quiz", "quiz": quiz_id})
    await receive(trainer, "quiz_ended")

    headers = {"Authorization": f"Bearer {people.trainer}"}
    url = f"{server.url}/api/rooms/{ROOM}/recording"
    async with http.post(url, json={"action": "start", "title": "Day 1"}, headers=headers) as r:
        assert r.status == 201
    async with http.post(url, json={"action": "stop"}, headers=headers) as r:
        recording = (await r.json())["id"]
    async with asyncio.timeout(90):
        while True:
            if await recording_status(server, people, http, recording) == "ready":
                break
            await asyncio.sleep(0.2)
    return session


async def recording_status(
    server: ServerProcess, people: People, http: aiohttp.ClientSession, recording: str
) -> str:
    headers = {"Authorization": f"Bearer {people.trainer}"}
    async with http.get(f"{server.url}/api/recordings/{recording}", headers=headers) as r:
        return str((await r.json())["status"])


async def reports(
    server: ServerProcess, people: People, http: aiohttp.ClientSession, session: str
) -> dict[str, Any]:
    """What a trainer reads after the session: attendance, results, xAPI, the library."""
    headers = {"Authorization": f"Bearer {people.trainer}"}
    got: dict[str, Any] = {}
    for name in ("attendance", "results.csv", "xapi"):
        async with http.get(f"{server.url}/api/sessions/{session}/{name}", headers=headers) as r:
            assert r.status == 200, await r.text()
            got[name] = await (r.text() if name.endswith(".csv") else r.json())
    async with http.get(f"{server.url}/api/recordings", headers=headers) as r:
        got["recordings"] = [(x["id"], x["status"]) for x in (await r.json())["recordings"]]
    return got


async def choice_of(server: ServerProcess, token: str, http: aiohttp.ClientSession) -> str:
    """The channel a listener finds chosen when she comes back."""
    async with http.ws_connect(server.ws_url, params={"token": token}) as ws:
        state = await receive(ws, "interpretation_state")
        return str(state["listening"]["channel"])


def stored_choice(data: Path) -> str | None:
    """The listener's choice as written to disk (it is stored just after it is told)."""
    with sqlite3.connect(data / "classroom.sqlite3") as db:
        row = db.execute(
            "SELECT value FROM hashes WHERE key = ? AND field = 'ana'",
            (f"interpretation:{ROOM}:listening",),
        ).fetchone()
    return None if row is None else str(row[0])


def classroom(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args], cwd=workdir, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, timeout=60, check=False,
    )  # fmt: skip


def same_results(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert after["results.csv"] == before["results.csv"]
    assert after["recordings"] == before["recordings"]
    rows = {r["id"]: r for r in before["attendance"]["rows"]}
    for row in after["attendance"]["rows"]:  # arrivals kept; departures at the last mark
        assert (row["joins"], row["first_joined"]) == (
            rows[row["id"]]["joins"],
            rows[row["id"]]["first_joined"],
        )
    assert {r["id"] for r in after["attendance"]["rows"]} == set(rows)

    # Statement ids are made from the public URL (another port after a restore): compare
    # what each says.
    def said(report: dict[str, Any]) -> list[tuple[str, str, str]]:
        return [
            (s["actor"]["account"]["name"], s["object"]["id"].split("/activities/")[1],
             s["result"]["response"])
            for s in report["xapi"]["statements"] if s["verb"]["display"]["en-US"] == "answered"
        ]  # fmt: skip

    assert len(said(before)) == 4 and said(after) == said(before)


async def test_a_session_survives_kill_9_and_a_backup_restores_it(tmp_path: Path) -> None:
    server = ServerProcess.as_users_run_it(tmp_path / "classroom")
    await server.start()
    people = People(server)
    try:
        async with aiohttp.ClientSession() as http:
            session = await run_session(server, people, http)
            before = await reports(server, people, http, session)
            table = list(csv.DictReader(io.StringIO(before["results.csv"])))
            assert {(r["participant_id"], r["answer"]) for r in table if r["kind"] == "poll"} == {
                ("ana", "North"),
                ("bojan", "South"),
            }
            async with asyncio.timeout(10):
                while True:
                    if stored_choice(server.data) is not None:
                        break
                    await asyncio.sleep(0.05)
            made = classroom(server.workdir, "backup", str(tmp_path / "backup"))
            assert made.returncode == 0, made.stderr
            assert json.loads(made.stdout)["database"] is True

            await server.kill()  # nothing closed, nobody told
            await server.start()
            after = await reports(server, people, http, session)
            same_results(before, after)
            assert await choice_of(server, people.ana, http) == "sr"
            refused = classroom(server.workdir, "restore", str(tmp_path / "backup"))
            assert refused.returncode == 2 and "stop it" in refused.stderr
            await server.stop()

            elsewhere = ServerProcess.as_users_run_it(tmp_path / "restored")
            restored = classroom(elsewhere.workdir, "restore", str(tmp_path / "backup"))
            assert restored.returncode == 0, restored.stderr
            await elsewhere.start()
            try:
                same_results(before, await reports(elsewhere, people, http, session))
                assert await choice_of(elsewhere, people.ana, http) == "sr"
            finally:
                await elsewhere.stop()
    finally:
        await server.stop()


async def test_a_removal_and_a_started_session_survive_kill_9(tmp_path: Path) -> None:
    """What the trainer was told (the session started, Ana removed) is on disk before they
    were told: after ``kill -9`` the session is listed and Ana is still kept out."""
    server = ServerProcess.as_users_run_it(tmp_path / "classroom")
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            trainer_token = server.mint("trainer", "Tea", room=ROOM, sub="tea")
            ana_token = server.mint("trainee", "Ana", room=ROOM, sub="ana")
            trainer = await http.ws_connect(server.ws_url, params={"token": trainer_token})
            await receive(trainer, "welcome")
            ana = await http.ws_connect(server.ws_url, params={"token": ana_token})
            await receive(ana, "welcome")
            await trainer.send_json({"type": "start_session", "title": "Day 2"})
            session = (await receive(trainer, "session_changed"))["session"]["id"]
            await trainer.send_json({"type": "remove", "target": "ana"})
            assert (await receive(trainer, "ban_changed"))["banned"] is True
            await server.kill()  # at once, after being told

            await server.start()
            headers = {"Authorization": f"Bearer {trainer_token}"}
            async with http.get(f"{server.url}/api/rooms/{ROOM}/sessions", headers=headers) as r:
                assert [s["id"] for s in (await r.json())["sessions"]] == [session]
            async with http.ws_connect(server.ws_url, params={"token": ana_token}) as again:
                message = json.loads((await again.receive()).data)
                assert message["type"] == "error"
                assert message["message"] == "the trainer has removed you from this room"
    finally:
        await server.stop()
