"""Sign language in the replay, in real Chromium against ``classroom serve`` as users run it.

The trainer's camera is Chromium's fake one (a moving green pattern); Sanja interprets into
Serbian Sign Language from a browser whose fake camera shows colour bars. The room is
recorded, processed by the server (real ffmpeg), and a learner replays it: the language
menu offers Serbian Sign Language beside the audio languages, and picking it shows the
same moment with Sanja's colour bars in the picture's bottom start corner.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import ffmpeg
import pytest
from playwright.async_api import Page

from recordings.journal import read_journal
from tests.browser.conftest import LaunchBrowser
from tests.browser.test_booth import person
from tests.browser.test_firefox import chromium_join
from tests.server import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
#: Seconds of Sanja's video in the recording, at least.
SIGNED_S = 6.0


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess.as_users_run_it(tmp_path / "site")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def colour_bars(path: Path) -> Path:
    """A video file for Chromium's fake camera (Y4M, looped): SMPTE colour bars."""
    source = ffmpeg.input("smptebars=size=640x480:rate=15", f="lavfi", t=2)
    ffmpeg.output(source, str(path), pix_fmt="yuv420p").overwrite_output().run(quiet=True)
    return path


def signing_since(directory: Path) -> float | None:
    """When the recorder first wrote a segment of a signer's video (journal time)."""
    path = directory / "journal.jsonl"
    entries = read_journal(path) if path.exists() else []
    signing = {
        e["track"]["id"]
        for e in entries
        if e["kind"] == "track" and e["track"]["source"] == "signing"
    }
    return next(
        (float(e["t"]) for e in entries if e["kind"] == "segment" and e["track"] in signing),
        None,
    )


def written_until(directory: Path) -> float:
    path = directory / "journal.jsonl"
    return max((float(e["t"]) for e in read_journal(path)), default=0.0) if path.exists() else 0.0


async def until(check: Any, what: str, within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if value := check():
            return value
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what}: not within {within} s")


async def page_until(page: Page, condition: str, within_s: float = 30) -> None:
    """Poll a condition in the page (wait_for_function would eval, which the CSP forbids)."""
    async with asyncio.timeout(within_s):
        while True:
            if await page.evaluate(condition):
                return
            await asyncio.sleep(0.1)


# The mean colour of a box (x, y, width, height, in the 854x480 picture of a signed
# rendition) of what the player shows now, the picture drawn as the composition draws
# it (scaled to the height, centred).
SAMPLE = """
(box) => {
  const video = document.getElementById("replay");
  const canvas = document.createElement("canvas");
  canvas.width = 854;
  canvas.height = 480;
  const context = canvas.getContext("2d");
  const width = 480 * video.videoWidth / video.videoHeight;
  context.drawImage(video, (854 - width) / 2, 0, width, 480);
  const [x, y, w, h] = box;
  const data = context.getImageData(x, y, w, h).data;
  const mean = [0, 0, 0];
  for (let i = 0; i < data.length; i += 4) for (let c = 0; c < 3; c++) mean[c] += data[i + c];
  return mean.map((sum) => sum / (data.length / 4));
}
"""
PIP = [40, 340, 150, 100]  # inside the signer's picture: 16 px in, a third of the height
CAMERA = [140, 100, 80, 80]  # the camera's still background, covered by nothing


async def seek(page: Page, at: float) -> None:
    await page.evaluate(
        """(at) => new Promise((resolve) => {
          const video = document.getElementById("replay");
          video.addEventListener("seeked", () => resolve(), { once: true });
          video.currentTime = at;
        })""",
        at,
    )
    await page.wait_for_timeout(300)  # the seeked frame painted


def distance(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


async def test_a_learner_picks_serbian_sign_language_and_sees_the_signer_in_the_replay(
    served: ServerProcess, launch_browser: LaunchBrowser, tmp_path: Path
) -> None:
    bars = colour_bars(tmp_path / "bars.y4m")
    trainer = served.mint("trainer", "Tea", sub="tea", lang="en")
    await chromium_join(await launch_browser(), f"{served.url}/join?token={trainer}")
    signer = await launch_browser(f"--use-file-for-fake-video-capture={bars}")
    await person(signer, served, "interpreter", "Sanja", "ysl")

    api = aiohttp.ClientSession(headers={"Authorization": f"Bearer {trainer}"})
    try:
        async with api.post(
            f"{served.url}/api/rooms/demo/recording", json={"action": "start"}
        ) as made:
            assert made.status == 201, await made.text()
            recording = (await made.json())["id"]
        directory = served.data / "recordings" / recording
        signing = await until(lambda: signing_since(directory), "Sanja's video recorded")
        await until(lambda: written_until(directory) > signing + SIGNED_S, "enough recorded")
        started = read_journal(directory / "journal.jsonl")[0]["t"]
        async with api.post(
            f"{served.url}/api/rooms/demo/recording", json={"action": "stop"}
        ) as done:
            assert done.status == 200, await done.text()
        body: dict[str, Any] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and body.get("status") not in ("ready", "failed"):
            await asyncio.sleep(0.5)
            async with api.get(f"{served.url}/api/recordings/{recording}") as response:
                body = await response.json()
        assert body["status"] == "ready", body
        assert [s["language"] for s in body["signed"]] == ["ysl"]
    finally:
        await api.close()

    learner = served.mint("trainee", "Lena", sub="lena", lang="en")
    page = await (await (await launch_browser()).new_context()).new_page()
    await page.goto(f"{served.url}/library/{recording}?token={learner}")
    await page.wait_for_selector("#player[data-ready=true]", timeout=30_000)
    options = await page.locator("#audio-language option").all_inner_texts()
    assert options[-1] == "Serbian Sign Language", options
    assert await page.locator("label[for=audio-language]").inner_text() == "Language"

    # The floor's picture: the camera as it came, nothing in the corner.
    video = "document.getElementById('replay')"
    await page.evaluate(f"(() => {{ {video}.muted = true; return {video}.play(); }})()")
    await page_until(page, f"{video}.currentTime > 0.5 && {video}.videoWidth > 0")
    assert await page.evaluate(f"{video}.videoWidth") != 854
    at = signing - started + SIGNED_S / 2  # Sanja on air
    await page.evaluate(f"{video}.pause()")
    await seek(page, at)
    floor = {"pip": await page.evaluate(SAMPLE, PIP), "camera": await page.evaluate(SAMPLE, CAMERA)}

    # Serbian Sign Language: the signed picture, decoded and playing, with the original sound.
    await page.select_option("#audio-language", label="Serbian Sign Language")
    await page.wait_for_selector("#player[data-picture='sign:0']")
    await page.evaluate(f"{video}.play()")
    frames = await page.evaluate(f"{video}.getVideoPlaybackQuality().totalVideoFrames")
    await page_until(page, f"{video}.videoWidth === 854 && {video}.videoHeight === 480")
    await page_until(
        page,
        f"{video}.getVideoPlaybackQuality().totalVideoFrames > {frames} + 10 && !{video}.paused",
    )
    assert await page.evaluate("document.getElementById('player').dataset.audio") == "0"
    await page.evaluate(f"{video}.pause()")
    await seek(page, at)
    signed = {
        "pip": await page.evaluate(SAMPLE, PIP),
        "camera": await page.evaluate(SAMPLE, CAMERA),
    }
    print(f"floor {floor}, signed {signed}")
    assert distance(floor["camera"], signed["camera"]) < 20  # the same moment
    assert distance(floor["pip"], signed["pip"]) > 40  # Sanja's colour bars in the corner

    # Back to the original: the floor's picture again.
    await page.select_option("#audio-language", "0")
    await page.wait_for_selector("#player[data-picture='floor']")
    await seek(page, 0.5)
    await page.evaluate(f"{video}.play()")
    await page_until(page, f"{video}.videoWidth === 640 && {video}.currentTime > 1")

    # A learner whose link is in Serbian Sign Language starts with it.
    signer_learner = served.mint("trainee", "Mila", sub="mila", lang="ysl")
    await page.goto(f"{served.url}/library/{recording}?token={signer_learner}")
    await page.wait_for_selector("#player[data-ready=true][data-picture='sign:0']")
    assert await page.locator("#audio-language").input_value() == "sign:0"
    await page.evaluate(f"(() => {{ {video}.muted = true; return {video}.play(); }})()")
    await page_until(page, f"{video}.videoWidth === 854 && {video}.currentTime > 1")
