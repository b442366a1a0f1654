"""Recording with the real server run as users run it (``make run``: default settings, a
relative ``data_dir``, no Redis, started from a working directory of its own): a real aiortc
publisher is recorded, stopped and processed; and a recording cut off by ``kill -9`` is
closed and processed by itself when the server starts again."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiortc import RTCPeerConnection

from media.ice import gather_loopback_when_alone
from recordings.library import Library, RecordingStatus
from tests.media.clients import ClipTrack, encode_opus, encode_video
from tests.recordings.conftest import probe
from tests.recordings.publisher import publish, receive
from tests.server import ServerProcess

# Real ffmpeg (and browsers) on a busy 2-core machine: a bound on hanging, not on speed.
pytestmark = pytest.mark.timeout(300)

RECORD_S = 20.0
# What a crash may cost: the last packets of the open segment, and the moments between
# the start and the first keyframe (segments are flushed packet by packet).
MOST_LOST_S = 3.0
ROOM = "recorded"
TITLE = "Asylum procedures, day 1"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    gather_loopback_when_alone()
    served = ServerProcess.as_users_run_it(tmp_path / "classroom")
    await served.start()
    yield served
    await served.stop()


class Trainer:
    """A trainer over the real websocket, publishing a camera and a microphone (aiortc)."""

    def __init__(self, server: ServerProcess, http: aiohttp.ClientSession) -> None:
        self.server, self.http = server, http
        self.token = server.mint("trainer", "Tea Petrović", room=ROOM, sub="tea", lang="sr")
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.pc: RTCPeerConnection | None = None

    async def join_and_publish(self) -> None:
        self.ws = await self.http.ws_connect(self.server.ws_url, params={"token": self.token})
        await receive(self.ws, "welcome")
        self.pc = await publish(
            self.ws,
            {
                "camera": ClipTrack("video", encode_video("VP8", 90), "VP8"),
                "microphone": ClipTrack("audio", encode_opus(100, 300.0), "opus"),
            },
        )

    async def recording(self, action: str, status: int) -> dict[str, object]:
        async with self.http.post(
            f"{self.server.url}/api/rooms/{ROOM}/recording",
            json={"action": action, **({"title": TITLE} if action == "start" else {})},
            headers={"Authorization": f"Bearer {self.token}"},
        ) as response:
            assert response.status == status, await response.text()
            body: dict[str, object] = await response.json()
            return body

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        if self.ws is not None:
            await self.ws.close()


async def media_written(library: Library, recording_id: str) -> None:
    directory = library.directory(recording_id)
    async with asyncio.timeout(20):
        while True:
            if any(directory.glob("tracks/*-camera/*.mkv")):
                return
            await asyncio.sleep(0.1)


async def processed(server: ServerProcess, library: Library, recording_id: str) -> RecordingStatus:
    async with asyncio.timeout(180):
        while True:
            if library.load(recording_id).status in ("ready", "failed"):
                break
            await asyncio.sleep(0.2)
    status = library.load(recording_id)
    assert status.status == "ready", f"{status.error}\n{server.output()[-3000:]}"
    return status


def check_download(library: Library, status: RecordingStatus) -> None:
    """ffprobe the MP4 learners download: video and the trainer's voice, as long as kept."""
    assert status.duration_s is not None
    info = probe(library.directory(status.id) / "out" / "download.mp4")
    assert {"audio", "video"} <= {s["codec_type"] for s in info["streams"]}
    assert float(info["format"]["duration"]) == pytest.approx(status.duration_s, abs=0.5)


async def test_a_recording_is_ready_under_the_default_settings(server: ServerProcess) -> None:
    # The data directory is the default, relative one: under the server's working directory.
    assert not (server.settings.keys() & {"data_dir", "redis_url"})
    library = Library(server.workdir / "data" / "recordings")
    async with aiohttp.ClientSession() as http:
        trainer = Trainer(server, http)
        try:
            await trainer.join_and_publish()
            recording_id = str((await trainer.recording("start", 201))["id"])
            await media_written(library, recording_id)
            started = time.monotonic()
            await asyncio.sleep(RECORD_S)  # the recording's length: what this test is about
            stopped = await trainer.recording("stop", 200)
            recorded = time.monotonic() - started
            assert stopped["status"] == "processing"
        finally:
            await trainer.close()
    status = await processed(server, library, recording_id)
    assert status.stop_reason == "stopped" and status.languages == ["sr"]
    assert status.duration_s is not None and status.duration_s >= recorded - MOST_LOST_S
    check_download(library, status)


async def test_a_killed_server_loses_only_the_last_seconds(server: ServerProcess) -> None:
    library = Library(server.workdir / "data" / "recordings")
    async with aiohttp.ClientSession() as http:
        trainer = Trainer(server, http)
        try:
            await trainer.join_and_publish()
            recording_id = str((await trainer.recording("start", 201))["id"])
            assert trainer.ws is not None
            await receive(trainer.ws, "recording_started")
            started = time.time()
            await media_written(library, recording_id)
            await asyncio.sleep(max(0.0, started + RECORD_S / 2 - time.time()))
            await server.kill()
            recorded = time.time() - started
        finally:
            await trainer.close()

    assert library.load(recording_id).status == "recording"  # nobody closed it
    await server.start()  # the same working directory, port and defaults
    status = await processed(server, library, recording_id)
    assert status.stop_reason == "recovered"
    assert status.duration_s is not None
    lost = recorded - status.duration_s
    assert 0 <= lost <= MOST_LOST_S, (recorded, status.duration_s)
    check_download(library, status)
    manifest = json.loads((library.directory(recording_id) / "out" / "manifest.json").read_text())
    assert manifest["interrupted"] is True
    print(f"\nrecorded {recorded:.1f} s, kept {status.duration_s:.1f} s, lost {lost:.1f} s")
