"""A recording of a camera sent in simulcast keeps its picture when the publisher stops
its full layer (a browser does when its uplink or processor cannot carry it): the
recorder moves to the largest layer that flows and back, and the recording processes to
a video that moves throughout. ``classroom serve`` as users run it, the load tool's
three-layer camera, real ffmpeg."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import ffmpeg
import numpy as np
import pytest

from loadtest.clip import encode_audio, encode_simulcast
from loadtest.media import MediaClient
from loadtest.participant import Participant
from loadtest.simulcast import SimulcastSender
from recordings.library import Library
from tests.recordings.test_crash import media_written, processed
from tests.server import ServerProcess

pytestmark = pytest.mark.timeout(300)

ROOM = "demo"
BEFORE_S, PAUSED_S, AFTER_S = 3.0, 8.0, 4.0
SIZE = (32, 24)  # frames are compared this small, in grey


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    served = ServerProcess.as_users_run_it(tmp_path / "classroom")
    await served.start()
    yield served
    await served.stop()


def still_share(path: Path, start: float, end: float) -> float:
    """The share of frames between two times that repeat the one before (a picture that
    stopped), decoded by ffmpeg."""
    raw, _ = (
        ffmpeg.input(str(path), ss=start, t=end - start)
        .output("pipe:", map="0:v:0", f="rawvideo", pix_fmt="gray", s=f"{SIZE[0]}x{SIZE[1]}")
        .run(capture_stdout=True, quiet=True)
    )
    frames = np.frombuffer(raw, dtype=np.uint8).reshape(-1, SIZE[1], SIZE[0]).astype(np.int16)
    assert len(frames) > 10, f"{len(frames)} frames between {start} and {end} s"
    changes = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2))
    return float((changes < 0.5).mean())


async def test_the_recording_keeps_the_picture_while_the_full_layer_stops(
    server: ServerProcess,
) -> None:
    video = await asyncio.to_thread(encode_simulcast, bitrate=1_000_000, seconds=2.0)
    token = server.mint("trainer", "Tea", room=ROOM, sub="tea", lang="en")
    tea = Participant(server.url, token, "tea", "trainer")
    await tea.join()
    camera = MediaClient(tea, video, encode_audio(seconds=1.0))
    library = Library(server.workdir / "data" / "recordings")
    try:
        await camera.start()
        sender = camera.sent["camera"]
        assert isinstance(sender, SimulcastSender)
        async with aiohttp.ClientSession() as http:
            url = f"{server.url}/api/rooms/{ROOM}/recording"
            auth = {"Authorization": f"Bearer {token}"}
            async with http.post(url, json={"action": "start"}, headers=auth) as made:
                assert made.status == 201, await made.text()
                recording_id = (await made.json())["id"]
            await media_written(library, recording_id)
            started = time.monotonic()
            await asyncio.sleep(BEFORE_S)
            sender.paused.add("f")  # the browser drops its full layer...
            await asyncio.sleep(PAUSED_S)
            sender.paused.clear()  # ... and sends it again
            await asyncio.sleep(AFTER_S)
            async with http.post(url, json={"action": "stop"}, headers=auth) as stopped:
                assert stopped.status == 200, await stopped.text()
            recorded = time.monotonic() - started
    finally:
        await camera.close()
        await tea.close()
    status = await processed(server, library, recording_id)
    assert status.duration_s is not None and status.duration_s >= recorded - 2
    download = library.directory(recording_id) / "out" / "download.mp4"
    # The picture moves before, while the full layer is away, and after it is back.
    for start, end in (
        (0.5, BEFORE_S),
        (BEFORE_S + 2, BEFORE_S + PAUSED_S),
        (BEFORE_S + PAUSED_S + 2, recorded - 0.5),
    ):
        assert still_share(download, start, end) < 0.2, (start, end)
