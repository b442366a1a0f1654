"""A recording of an H.264 camera in simulcast keeps its picture when the browser stops
its full layer mid-recording (as Chromium does when its uplink or processor cannot
carry it): the recorder moves to the half layer at its keyframe and back when the full
one returns, in the same segment files, and the MP4 decodes without an error and
moves throughout. ``classroom serve`` as users run it, a Chromium trainer."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.browser.conftest import LaunchBrowser
from tests.browser.test_codec_switch_recording import (
    FROZEN_S,
    LATE_S,
    cameras,
    explain,
    recorded,
    served,
    until,
)
from tests.browser.test_firefox import chromium_join
from tests.recordings.conftest import probe
from tests.server import ServerProcess

__all__ = ["served"]  # the fixture

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

AWAY_S = 8.0

#: The trainer's page turns its camera's full layer off (or on again).
FULL_LAYER = """async (active) => {
  const transceiver = window.classroom.media.sending.get("camera");
  const parameters = transceiver.sender.getParameters();
  const rids = parameters.encodings.map((e) => e.rid);
  for (const encoding of parameters.encodings) {
    if (encoding.rid === "f") encoding.active = active;
  }
  await transceiver.sender.setParameters(parameters);
  return rids;
}"""


def sizes(files: list[Path]) -> list[str]:
    """The picture sizes of a camera's segment files, decoded by ffprobe, in order."""
    found: list[str] = []
    for file in files:
        shown = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
             "frame=width,height", "-of", "json", str(file)],
            capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
        for frame in json.loads(shown or "{}").get("frames", []):
            size = f"{frame.get('width')}x{frame.get('height')}"
            if found[-1:] != [size]:
                found.append(size)
    return found


async def test_an_h264_camera_recorded_while_its_full_layer_stops_and_returns(
    served: ServerProcess, launch_browser: LaunchBrowser
) -> None:
    token = served.mint("trainer", "Tea", sub="tea", lang="en")
    api = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})
    try:
        tea = await chromium_join(await launch_browser(), f"{served.url}/join?token={token}")
        async with api.post(
            f"{served.url}/api/rooms/demo/recording", json={"action": "start"}
        ) as made:
            assert made.status == 201, await made.text()
            recording = (await made.json())["id"]
        started = time.monotonic()
        directory = served.data / "recordings" / recording
        await until(lambda: recorded(directory, ["h264"]), "the H.264 camera is recorded")
        assert await tea.evaluate(FULL_LAYER, False) == ["h", "f"]  # the browser drops it
        await asyncio.sleep(AWAY_S)  # recording while the full layer is away
        await tea.evaluate(FULL_LAYER, True)  # ... and sends it again
        await asyncio.sleep(5)  # recording with the full layer back
        async with api.post(
            f"{served.url}/api/rooms/demo/recording", json={"action": "stop"}
        ) as done:
            assert done.status == 200, await done.text()
        recorded_s = time.monotonic() - started
        body: dict[str, Any] = {}
        async with asyncio.timeout(120):
            while True:
                async with api.get(f"{served.url}/api/recordings/{recording}") as response:
                    body = await response.json()
                if body["status"] in ("ready", "failed"):
                    break
                await asyncio.sleep(0.5)
        assert body["status"] == "ready", json.dumps(body)[:2000]
        mp4 = served.workdir / "download.mp4"
        async with api.get(f"{served.url}{body['download']}") as response:
            assert response.status == 200
            mp4.write_bytes(await response.read())
    finally:
        await api.close()

    # One stretch of the camera (no renegotiation), its pictures full, half, full.
    (camera,) = cameras(directory)
    assert camera["codec"] == "h264"
    assert sizes(camera["files"]) == ["640x480", "320x240", "640x480"], explain(directory)
    video = next(s for s in probe(mp4)["streams"] if s["codec_type"] == "video")
    duration = float(video["duration"])
    assert duration >= recorded_s - LATE_S, (duration, recorded_s)
    ffmpeg = await asyncio.create_subprocess_exec(
        "ffmpeg", "-hide_banner", "-v", "info", "-i", str(mp4), "-map", "0:v:0",
        "-vf", f"freezedetect=n=0.001:d={FROZEN_S}", "-f", "null", "-",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await ffmpeg.communicate()
    assert ffmpeg.returncode == 0
    lines = stderr.decode(errors="replace").splitlines()
    assert [line for line in lines if "error" in line.lower()] == []
    frozen = [line for line in lines if "freeze_" in line]
    print(f"MP4: {duration:.1f} s of video; frozen stretches: {frozen}")
    assert frozen == [], explain(directory)
