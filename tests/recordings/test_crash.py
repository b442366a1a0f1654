"""A recording survives ``kill -9``: the real server records a real aiortc publisher, dies
mid-recording, starts again, and the recording is closed and processed by itself."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from classroom.identity import mint_token
from media.ice import gather_loopback_when_alone
from recordings.library import Library
from tests.conftest import free_port
from tests.media.clients import ClipTrack, encode_opus, encode_video
from tests.recordings.conftest import probe
from tests.recordings.publisher import publish, receive

# Real ffmpeg (and browsers) on a busy 2-core machine: a bound on hanging, not on speed.
pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parent.parent.parent
SECRET = "crash-test-secret-" + "x" * 40
RECORD_S = 9.0
# What a crash may cost: the last packets of the open segment, and the moments between
# the start and the first keyframe (segments are flushed packet by packet).
MOST_LOST_S = 3.0


class Server:
    """``classroom serve`` in a process of its own, on its own port and data directory."""

    def __init__(self, data: Path) -> None:
        self.data, self.port = data, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {
            **os.environ,
            "CLASSROOM_DATA_DIR": str(self.data),
            "CLASSROOM_TOKEN_SECRET": SECRET,
            "CLASSROOM_LOG_FORMAT": "text",
            "CLASSROOM_REDIS_URL": "",
            "CLASSROOM_NODE_ID": "crash-test-node",
        }
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "web.cli", "serve", "--port", str(self.port),
            cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        async with asyncio.timeout(30), aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


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
