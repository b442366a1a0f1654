"""The library and the player in a real Chromium: find a recording, play it through hls.js,
switch the audio language, jump to a chapter, change speed, and resume where one stopped."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from playwright.async_api import Page

from config import Settings
from recordings import pipeline
from recordings.library import Library
from tests.browser.conftest import LiveServer, OpenPage
from tests.browser.firefox import LaunchFirefox
from tests.conftest import Mint
from tests.recordings.synthetic import generate_session

# Real ffmpeg (and browsers) on a busy 2-core machine: a bound on hanging, not on speed.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


async def until(page: Page, condition: str, within_s: float = 30) -> None:
    """Poll a condition in the page (wait_for_function would eval, which its CSP forbids)."""
    async with asyncio.timeout(within_s):
        while True:
            if await page.evaluate(condition):
                return
            await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("played") / "recordings"
    library = Library(root)
    made = generate_session(
        library, tmp_path_factory.mktemp("clips"), duration_s=20, channels=("sq",),
        title="Smuggling routes",
    )  # fmt: skip
    manifest = pipeline.process(made.directory, lambda step, pct: None)
    library.update(
        made.status.id,
        status="ready",
        progress=100.0,
        duration_s=manifest["duration_s"],
        languages=[a["language"] for a in manifest["audio"]],
    )
    return root


@pytest.fixture
def library(settings: Settings, recorded: Path) -> Library:
    shutil.copytree(recorded, settings.data_dir / "recordings")
    return Library(settings.data_dir / "recordings")


async def test_a_learner_finds_and_replays_a_recording(
    live_server: LiveServer, open_page: OpenPage, mint: Mint, library: Library
) -> None:
    token = mint("trainee", "Lena", sub="lena", lang="sq")
    page = await open_page(f"{live_server.url}/library?token={token}")
    card = page.locator(".recording[data-status=ready]")
    await card.wait_for()
    assert "Smuggling routes" in await card.inner_text()
    assert "token=" not in page.url  # the token left the address bar
    # Every module of the catalogue shows, by topic; those not recorded yet say so.
    assert await page.locator("h3[data-module]").count() >= 10
    assert await page.get_by_text("Ende nuk ka regjistrime.").count() >= 9
    # A reload no longer carries the token: the page keeps the language it had.
    await page.reload()
    await card.wait_for()
    assert await page.get_by_text("Ende nuk ka regjistrime.").count() >= 9
    assert await page.evaluate("document.documentElement.lang") == "sq"
    await page.fill("#search-q", "no such words")
    await page.click("#library-search button")
    await page.locator("#library-message").filter(has_text="Asnjë").wait_for()  # Albanian
    await page.fill("#search-q", "smuggling")
    await page.press("#search-q", "Enter")  # the keyboard works too
    await card.locator("a").click()

    await page.wait_for_selector("#player[data-ready=true]", timeout=30_000)
    options = await page.locator("#audio-language option").all_inner_texts()
    assert len(options) == 2 and "origjinali" in options[0] and "përkthim" in options[1]
    await page.evaluate("document.getElementById('replay').muted = true")
    await page.evaluate("document.getElementById('replay').play()")
    await until(
        page,
        "document.getElementById('replay').currentTime > 1 "
        "&& document.getElementById('replay').videoWidth > 0",
    )
    assert await page.evaluate("document.getElementById('replay').videoWidth") == 1280

    await page.select_option("#audio-language", "1")
    await page.wait_for_selector("#player[data-audio='1']", timeout=15_000)

    poll = page.locator("#chapter-list button[data-kind=poll]")
    start = float(await poll.get_attribute("data-start") or 0)
    await poll.click()
    await until(page, f"Math.abs(document.getElementById('replay').currentTime - {start}) < 1.5")
    await page.select_option("#speed", "1.5")
    assert await page.evaluate("document.getElementById('replay').playbackRate") == 1.5

    download = await page.get_attribute("#download", "href")
    assert download and download.endswith("/download.mp4?download=1")

    await page.evaluate("document.getElementById('replay').pause()")  # saves the position
    saved = await page.evaluate("Math.floor(document.getElementById('replay').currentTime)")
    await page.wait_for_timeout(500)
    await page.reload()
    await page.wait_for_selector("#player[data-ready=true]", timeout=30_000)
    resume = page.locator("#resume")
    await resume.wait_for()
    assert await page.evaluate("document.getElementById('replay').currentTime") == pytest.approx(
        saved, abs=1
    )
    await page.click("#start-over")
    assert await page.evaluate("document.getElementById('replay').currentTime") < 1


async def test_arabic_readers_get_the_library_right_to_left(
    live_server: LiveServer, open_page: OpenPage, mint: Mint, library: Library
) -> None:
    token = mint("trainer", "Amir", lang="ar")
    page = await open_page(f"{live_server.url}/library?token={token}&lang=ar")
    await page.locator(".recording").wait_for()
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    assert "المدرب" in await page.locator(".recording .meta").inner_text()


async def test_without_a_token_the_library_says_what_to_do(
    live_server: LiveServer, open_page: OpenPage, library: Library
) -> None:
    page = await open_page(f"{live_server.url}/library?lang=en")
    await page.locator("#library-message").filter(has_text="link your training centre").wait_for()
    assert await page.locator(".recording").count() == 0


async def test_a_learner_replays_in_firefox(
    live_server: LiveServer, launch_firefox: LaunchFirefox, mint: Mint, library: Library
) -> None:
    """The same recording in Firefox ESR: found in the library, played through hls.js (or
    the browser's own HLS), pictures decoded and time running, the language tracks there."""
    token = mint("trainee", "Lena", sub="lena", lang="sq")
    browser = await launch_firefox()
    page = await browser.new_page(f"{live_server.url}/library?token={token}")
    link = "document.querySelector('.recording[data-status=ready] h4 a')"
    href = await page.wait_for(f"{link} && {link}.href")
    await page.goto(href)
    await page.wait_for("document.querySelector('#player')?.dataset.ready === 'true'")
    options = await page.evaluate(
        "[...document.querySelectorAll('#audio-language option')].map(o => o.textContent)"
    )
    assert len(options) == 2 and "origjinali" in options[0]
    video = "document.getElementById('replay')"
    await page.evaluate(f"(() => {{ {video}.muted = true; return {video}.play(); }})()")
    await page.wait_for(f"{video}.currentTime > 1 && {video}.videoWidth === 1280")
    decoded = await page.evaluate(f"{video}.getVideoPlaybackQuality().totalVideoFrames")
    assert decoded > 10
    assert page.errors == [], page.errors
