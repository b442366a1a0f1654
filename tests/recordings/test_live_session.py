"""A session recorded through the real server: aiortc participants publish over the websocket,
an interpreter is on air, a screen is shared; the replay has each language as its own track."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from media.ice import gather_loopback_when_alone
from recordings.library import Library
from tests.conftest import Mint
from tests.media.clients import ClipTrack, encode_opus, encode_video
from tests.recordings.conftest import probe, tone_levels
from tests.recordings.publisher import publish, receive
from web.recording_handlers import RECORDINGS

# Real ffmpeg (and browsers) on a busy 2-core machine: a bound on hanging, not on speed.
pytestmark = pytest.mark.timeout(300)

Client = TestClient[Any, Any]
FLOOR_HZ, INTERPRETER_HZ = 300.0, 1000.0
RECORD_S = 8.0


async def test_a_live_session_with_interpretation_is_recorded(client: Client, mint: Mint) -> None:
    gather_loopback_when_alone()
    trainer_token = mint("trainer", "Tea Petrović", sub="tea", lang="sr")
    trainer = await client.ws_connect("/ws", params={"token": trainer_token})
    await receive(trainer, "welcome")
    interpreter = await client.ws_connect(
        "/ws", params={"token": mint("interpreter", "Ivo", sub="ivo", lang="en")}
    )
    await receive(interpreter, "welcome")
    await interpreter.send_json({"type": "take_air", "channel": "en"})
    await receive(trainer, "on_air_changed")  # on air before the recording starts

    peers = [
        await publish(
            trainer,
            {
                "camera": ClipTrack("video", encode_video("VP8", 60), "VP8"),
                "microphone": ClipTrack("audio", encode_opus(50, FLOOR_HZ), "opus"),
            },
        ),
        await publish(
            interpreter,
            {"interpretation": ClipTrack("audio", encode_opus(50, INTERPRETER_HZ), "opus")},
        ),
    ]
    try:
        response = await client.post(
            "/api/rooms/demo/recording",
            json={"action": "start", "title": "Borders", "module": "m04-smuggling"},
            headers={"Authorization": f"Bearer {trainer_token}"},
        )
        assert response.status == 201
        recording_id = (await response.json())["id"]
        started = time.monotonic()
        await trainer.send_json({"type": "chat", "text": "Dobro došli"})
        await asyncio.sleep(RECORD_S)
        response = await client.post(
            "/api/rooms/demo/recording",
            json={"action": "stop"},
            headers={"Authorization": f"Bearer {trainer_token}"},
        )
        assert response.status == 200
        recorded = time.monotonic() - started
    finally:
        for pc in peers:
            await pc.close()

    library: Library = client.app[RECORDINGS].library
    directory = library.directory(recording_id)
    journal = [json.loads(line) for line in (directory / "journal.jsonl").read_text().splitlines()]
    tracks = {e["track"]["source"]: e["track"] for e in journal if e["kind"] == "track"}
    assert set(tracks) == {"camera", "microphone", "interpretation"}
    assert tracks["interpretation"]["language"] == "en" and tracks["camera"]["role"] == "trainer"
    assert any(e["kind"] == "sender_report" for e in journal)  # aiortc sends them
    async with asyncio.timeout(120):
        while True:
            status = library.load(recording_id)
            if status.status in ("ready", "failed"):
                break
            await asyncio.sleep(0.2)
    assert status.status == "ready", status.error
    assert status.languages == ["sr", "en"]
    assert status.duration_s == pytest.approx(recorded, abs=1.0)

    mp4 = directory / "out" / "download.mp4"
    info = probe(mp4)
    audio = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert [a["tags"]["language"] for a in audio] == ["srp", "eng"]
    assert any(s["codec_type"] == "video" for s in info["streams"])
    tones = [int(FLOOR_HZ), int(INTERPRETER_HZ)]
    original = tone_levels(mp4, 0, 2, RECORD_S - 1, tones)
    english = tone_levels(mp4, 1, 2, RECORD_S - 1, tones)
    assert original[300] > 10 * original[1000]  # the floor alone
    assert english[1000] > 3 * english[300]  # the interpreter over the lowered floor
    manifest = json.loads((directory / "out" / "manifest.json").read_text())
    assert any(c["kind"] == "on_air" for c in manifest["chapters"])
