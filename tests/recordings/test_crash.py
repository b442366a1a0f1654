"""A recording survives ``kill -9``: the real server records a real aiortc publisher, dies
mid-recording, starts again, and the recording is closed and processed by itself."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from classroom.identity import mint_token
from media.ice import gather_loopback_when_alone
from recordings.library import Library
from tests.media.clients import ClipTrack, encode_opus, encode_video
from tests.recordings.conftest import probe
from tests.recordings.publisher import publish, receive
from tests.server import ServerProcess

# Real ffmpeg (and browsers) on a busy 2-core machine: a bound on hanging, not on speed.
pytestmark = pytest.mark.timeout(300)

SECRET = "crash-test-secret-" + "x" * 40
RECORD_S = 9.0
# What a crash may cost: the last packets of the open segment, and the moments between
# the start and the first keyframe (segments are flushed packet by packet).
MOST_LOST_S = 3.0


class Server(ServerProcess):
    """``classroom serve`` without Redis, on its own port and data directory."""

    def __init__(self, data: Path) -> None:
        super().__init__(data, token_secret=SECRET, redis_url="", node_id="crash-test-node")


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[list[Server]]:
    made: list[Server] = []
    yield made
    for server in made:
        await server.stop()


def token(role: str, name: str, sub: str) -> str:
    return mint_token(
        room="crash", role=role, name=name, now=int(time.time()), ttl_s=3600,
        signing_key=SECRET, algorithm="HS256", audience="classroom", issuer="classroom",
        sub=sub, lang="sr",
    )  # fmt: skip


async def test_a_killed_server_loses_only_the_last_seconds(
    servers: list[Server], tmp_path: Path
) -> None:
    gather_loopback_when_alone()
    data = tmp_path / "data"
    server = Server(data)
    servers.append(server)
    await server.start()
    trainer = token("trainer", "Tea Petrović", "tea")
    library = Library(data / "recordings")
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{server.url}/ws", params={"token": trainer})
        await receive(ws, "welcome")
        pc = await publish(
            ws,
            {
                "camera": ClipTrack("video", encode_video("VP8", 90), "VP8"),
                "microphone": ClipTrack("audio", encode_opus(100, 300.0), "opus"),
            },
        )
        try:
            async with http.post(
                f"{server.url}/api/rooms/crash/recording",
                json={"action": "start", "title": "Cut short"},
                headers={"Authorization": f"Bearer {trainer}"},
            ) as response:
                assert response.status == 201, await response.text()
                recording_id = (await response.json())["id"]
            await receive(ws, "recording_started")
            started = time.time()
            directory = library.directory(recording_id)
            async with asyncio.timeout(20):  # media flows into segments
                while True:
                    if any(directory.glob("tracks/*-camera/*.mkv")):
                        break
                    await asyncio.sleep(0.1)
            await asyncio.sleep(max(0.0, started + RECORD_S - time.time()))
            await server.kill()
            recorded = time.time() - started
        finally:
            await pc.close()
            await ws.close()

    assert library.load(recording_id).status == "recording"  # nobody closed it
    again = Server(data)
    again.port = server.port
    again.url = server.url
    servers.append(again)
    await again.start()
    async with asyncio.timeout(120):
        while True:
            if library.load(recording_id).status in ("ready", "failed"):
                break
            await asyncio.sleep(0.2)
    status = library.load(recording_id)
    assert status.status == "ready", status.error
    assert status.stop_reason == "recovered"
    assert status.duration_s is not None
    lost = recorded - status.duration_s
    assert 0 <= lost <= MOST_LOST_S, (recorded, status.duration_s)
    info = probe(directory / "out" / "download.mp4")
    assert {"audio", "video"} <= {s["codec_type"] for s in info["streams"]}
    assert float(info["format"]["duration"]) == pytest.approx(status.duration_s, abs=0.5)
    manifest = json.loads((directory / "out" / "manifest.json").read_text())
    assert manifest["interrupted"] is True
    print(f"\nrecorded {recorded:.1f} s, kept {status.duration_s:.1f} s, lost {lost:.1f} s")
