"""Recording from the classroom page in real Chromium: the trainer starts and stops it, the
room sees it, and what the browsers sent (fake camera and microphone) becomes a replay."""

from __future__ import annotations

import asyncio
import time

import pytest
from playwright.async_api import expect

from recordings.library import Library
from tests.browser.conftest import LaunchBrowser, LiveServer
from tests.browser.participants import join
from tests.conftest import Mint
from tests.recordings.conftest import probe
from web.recording_handlers import RECORDINGS

# Real ffmpeg (and browsers) on a busy 2-core machine: a bound on hanging, not on speed.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
RECORD_S = 6.0


async def test_a_trainer_records_the_room_from_the_page(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint
) -> None:
    browser = await launch_browser()
    trainer = await join(browser, live_server, mint("trainer", "Tea", lang="en"))
    trainee = await join(browser, live_server, mint("trainee", "Besa", lang="en"))
    button = trainer.locator("#toggle-recording")
    await expect(button).to_have_text("Start recording")
    assert await trainee.locator("#toggle-recording").count() == 0  # trainees may not record

    await button.click()
    await expect(button).to_have_attribute("aria-pressed", "true")
    await expect(trainee.locator(".recording-badge")).to_be_visible()
    await expect(trainee.locator(".recording-notice")).to_contain_text("being recorded")
    started = time.monotonic()
    late = await join(browser, live_server, mint("trainee", "Lena", lang="en"))
    await expect(late.locator(".recording-badge")).to_be_visible()  # told on arrival

    library: Library = live_server.app[RECORDINGS].library
    (status,) = library.all()
    directory = library.directory(status.id)
    async with asyncio.timeout(30):  # the browsers' media reaches the recorder
        while True:
            if any(directory.glob("tracks/*-camera/*.mkv")) and any(
                directory.glob("tracks/*-microphone/*.mkv")
            ):
                break
            await asyncio.sleep(0.2)
    await asyncio.sleep(max(0.0, started + RECORD_S - time.monotonic()))
    await button.click()
    await expect(button).to_have_text("Start recording")
    await expect(trainee.locator(".recording-badge")).to_be_hidden()
    await expect(trainee.locator(".recording-notice")).to_contain_text("prepared for the library")

    async with asyncio.timeout(120):
        while True:
            if library.load(status.id).status in ("ready", "failed"):
                break
            await asyncio.sleep(0.5)
    done = library.load(status.id)
    assert done.status == "ready", done.error
    assert done.duration_s is not None and done.duration_s >= RECORD_S - 1
    info = probe(directory / "out" / "download.mp4")
    streams = {s["codec_type"]: s for s in info["streams"] if s["codec_type"] != "data"}
    assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
    assert streams["audio"]["tags"]["language"] == "eng"  # the trainer's language: the floor
