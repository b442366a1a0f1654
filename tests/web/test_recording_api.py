"""Starting and stopping a recording over the API: who may, what the room sees, bad requests."""

from __future__ import annotations

import asyncio
import json
import shutil
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from recordings.library import Library
from tests.conftest import Mint
from web.recording_handlers import RECORDINGS

Client = TestClient[Any, Any]
URL = "/api/rooms/demo/recording"


async def receive(ws: aiohttp.ClientWebSocketResponse, type_: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.TEXT, f"closed while waiting for {type_}"
            data = json.loads(msg.data)
            if data["type"] == type_:
                return data  # type: ignore[no-any-return]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def library(client: Client) -> Library:
    return client.app[RECORDINGS].library


async def wait_for_status(client: Client, recording_id: str, wanted: str) -> dict[str, Any]:
    async with asyncio.timeout(60):
        while True:
            status = library(client).load(recording_id)
            if status.status == wanted:
                return status.to_json()
            await asyncio.sleep(0.1)


async def test_a_trainer_records_and_everyone_sees_it(client: Client, mint: Mint) -> None:
    trainee = await client.ws_connect("/ws", params={"token": mint("trainee", "Ana", sub="a")})
    await receive(trainee, "welcome")
    trainer = mint("trainer", "Tea Petrović", sub="t", lang="sr")
    response = await client.post(
        URL,
        json={"action": "start", "title": "Asylum basics", "module": "m08-asylum-return"},
        headers=auth(trainer),
    )
    assert response.status == 201
    started = await response.json()
    assert (started["status"], started["title"], started["trainer"]) == (
        "recording",
        "Asylum basics",
        "Tea Petrović",
    )
    seen = await receive(trainee, "recording_started")
    assert (seen["id"], seen["by"], seen["title"]) == (
        started["id"],
        "Tea Petrović",
        "Asylum basics",
    )

    state = await client.get(URL, headers=auth(mint("trainee", "Lena", sub="l")))
    assert (await state.json())["recording"]["id"] == started["id"]
    other_room = await client.get("/api/rooms/other/recording", headers=auth(trainer))
    assert other_room.status == 403
    late = await client.ws_connect("/ws", params={"token": mint("trainee", "Lena", sub="l")})
    assert (await receive(late, "recording_started"))["id"] == started["id"]
    await trainee.send_json({"type": "chat", "text": "Pitanje?"})
    await receive(late, "chat_posted")

    response = await client.post(URL, json={"action": "stop"}, headers=auth(trainer))
    assert response.status == 200
    stopped = await response.json()
    assert (stopped["status"], stopped["stop_reason"]) == ("processing", "stopped")
    assert (await (await client.get(URL, headers=auth(trainer))).json()) == {"recording": None}
    for ws in (trainee, late):
        message = await receive(ws, "recording_stopped")
        assert (message["id"], message["reason"], message["by"]) == (
            started["id"],
            "stopped",
            "Tea Petrović",
        )
    journal = (library(client).directory(started["id"]) / "journal.jsonl").read_text()
    entries = [json.loads(line) for line in journal.splitlines()]
    assert entries[0]["kind"] == "started" and entries[0]["floor_language"] == "sr"
    events = [e["type"] for e in entries if e["kind"] == "event"]
    assert "room_snapshot" in events and "participant_joined" in events and "chat_posted" in events
    assert entries[-1]["kind"] == "stopped"
    # Processed by the server's own worker (a recording without media: silence).
    ready = await wait_for_status(client, started["id"], "ready")
    assert ready["progress"] == 100.0 and ready["languages"] == ["sr"]
    master = library(client).directory(started["id"]) / "out" / "hls" / "master.m3u8"
    assert 'NAME="Original (sr)",AUTOSELECT=YES' in master.read_text()  # audio alone


@pytest.mark.parametrize(
    ("role", "room", "body", "status", "fragment"),
    [
        ("trainee", "demo", {"action": "start"}, 403, "may not record"),
        ("interpreter", "demo", {"action": "start"}, 403, "may not record"),
        ("trainer", "other", {"action": "start"}, 403, "own room"),
        ("trainer", "demo", {"action": "stop"}, 409, "not being recorded"),
        ("trainer", "demo", {"action": "pause"}, 400, "action"),
        ("trainer", "demo", {"action": "start", "extra": 1}, 400, "extra"),
        ("trainer", "demo", {"action": "start", "module": "m99-none"}, 404, "m99-none"),
        ("trainer", "demo", {"action": "start", "title": ""}, 400, "title"),
    ],
)
async def test_bad_requests_are_refused_and_change_nothing(
    client: Client,
    mint: Mint,
    role: str,
    room: str,
    body: dict[str, Any],
    status: int,
    fragment: str,
) -> None:
    response = await client.post(
        f"/api/rooms/{room}/recording", json=body, headers=auth(mint(role, "X"))
    )
    assert response.status == status
    assert fragment in (await response.json())["error"]["message"]
    assert library(client).all() == []


async def test_starting_twice_is_refused(client: Client, mint: Mint) -> None:
    headers = auth(mint("trainer", "Tea"))
    assert (await client.post(URL, json={"action": "start"}, headers=headers)).status == 201
    response = await client.post(URL, json={"action": "start"}, headers=headers)
    assert response.status == 409 and "already" in (await response.json())["error"]["message"]
    assert len(library(client).all()) == 1
    assert (await client.post(URL, json={"action": "stop"}, headers=headers)).status == 200
    response = await client.post(URL, json={"action": "stop"}, headers=headers)
    assert response.status == 409


async def test_no_room_on_the_disk_no_recording(client: Client, mint: Mint) -> None:
    client.app[RECORDINGS].min_free_bytes = 1 << 62  # more than any disk has
    response = await client.post(URL, json={"action": "start"}, headers=auth(mint("trainer")))
    assert response.status == 507
    assert "free" in (await response.json())["error"]["message"]
    assert library(client).all() == []


async def test_ending_the_session_stops_the_recording(client: Client, mint: Mint) -> None:
    token = mint("trainer", "Tea", sub="t")
    ws = await client.ws_connect("/ws", params={"token": token})
    await receive(ws, "welcome")
    await ws.send_json({"type": "start_session", "title": "Borders", "module": None})
    await receive(ws, "session_changed")
    response = await client.post(URL, json={"action": "start"}, headers=auth(token))
    assert (await response.json())["title"] == "Borders"  # the session's title
    await ws.send_json({"type": "end_session"})
    stopped = await receive(ws, "recording_stopped")
    assert stopped["reason"] == "session_ended" and stopped["by"] is None


async def test_a_failed_recording_tells_trainees_plainly_and_trainers_can_retry(
    client: Client, mint: Mint
) -> None:
    trainer = auth(mint("trainer", "Tea", sub="t", lang="sr"))
    trainee = auth(mint("trainee", "Ana", sub="a"))
    started = await (await client.post(URL, json={"action": "start"}, headers=trainer)).json()
    await client.post(URL, json={"action": "stop"}, headers=trainer)
    await wait_for_status(client, started["id"], "ready")
    # As processing leaves a recording that failed three times: the raw tracks and journal
    # kept, nothing made, the reason naming a server path and ffmpeg's words.
    directory = library(client).directory(started["id"])
    for made in ("out", "work"):
        shutil.rmtree(directory / made)
    reason = f"ffmpeg failed in step encode: {directory}/work/audio0.mp4.part: No such file"
    library(client).update(started["id"], status="failed", error=reason, attempts=3)
    url = f"/api/recordings/{started['id']}"

    seen = await (await client.get(url, headers=trainee)).json()
    assert (seen["status"], seen["error"], seen["can_retry"]) == ("failed", None, False)
    listed = await (await client.get("/api/recordings", headers=trainee)).json()
    assert [(r["error"], r["can_retry"]) for r in listed["recordings"]] == [(None, False)]
    seen = await (await client.get(url, headers=trainer)).json()
    assert (seen["error"], seen["can_retry"]) == (reason, True)

    refused = [
        (trainee, 403),  # not a trainer
        (auth(mint("trainer", "Other", sub="o", room="other")), 403),  # another room's
    ]
    for headers, status in refused:
        response = await client.post(f"{url}/retry", headers=headers)
        assert response.status == status
    assert (await client.post("/api/recordings/nope/retry", headers=trainer)).status == 404
    assert library(client).load(started["id"]).status == "failed"

    response = await client.post(f"{url}/retry", headers=trainer)
    assert response.status == 202
    assert (await response.json())["status"] == "processing"
    ready = await wait_for_status(client, started["id"], "ready")
    assert (ready["error"], ready["attempts"]) == (None, 1)
    assert (directory / "out" / "hls" / "master.m3u8").is_file()
    again = await client.post(f"{url}/retry", headers=trainer)
    assert again.status == 409  # only a failed recording is processed again
    assert "failed" in (await again.json())["error"]["message"]
