"""A trainer adds a module recorded elsewhere to the library, in a real Chromium, against
``classroom serve`` as users run it; a learner then watches it with subtitles.

The trainer opens the library from her link, follows "Add a video", gives a title,
the video (H.264 from a camera), an English sound and Serbian subtitles (SRT) and two
chapters, and uploads: each file's progress reaches 100 %, the page follows the
processing and offers the link to watch. A learner whose language is Serbian but who
has no Serbian sound gets the Serbian subtitles at once, shown on the video, the
chapters by the trainer's titles, and can turn the subtitles off.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from tests.browser.conftest import LaunchBrowser
from tests.server import ServerProcess
from tests.web.test_uploads import SRT, VTT_EN, make_sound, make_video

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


async def until(page: Page, condition: str, within_s: float = 60) -> None:
    """Poll a condition in the page (wait_for_function would eval, which its CSP forbids).
    The page may load again meanwhile (the subtitles editor reloads it after a change):
    the condition is asked again of the new page."""
    async with asyncio.timeout(within_s):
        while True:
            try:
                if await page.evaluate(condition):
                    return
            except PlaywrightError as error:
                if "context was destroyed" not in error.message:
                    raise
            await asyncio.sleep(0.2)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess.as_users_run_it(tmp_path / "site")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_a_trainer_uploads_a_module_and_a_learner_watches_it_with_subtitles(
    served: ServerProcess, launch_browser: LaunchBrowser, tmp_path: Path
) -> None:
    video, sound, srt = tmp_path / "modul-5.mp4", tmp_path / "english.opus", tmp_path / "sr.srt"
    make_video(video, seconds=8)
    make_sound(sound, seconds=8)
    srt.write_text(SRT)
    browser = await launch_browser()
    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    token = served.mint("trainer", "Tea", sub="tea", lang="en")
    await page.goto(f"{served.url}/library?token={token}")
    add = page.locator("#library-upload")
    await add.wait_for(state="visible")
    await add.click()
    await page.wait_for_url("**/library/upload")
    await until(page, "document.querySelector('#upload-language option').textContent !== 'sr'")
    await page.fill("#upload-title", "Modul 5: povratak")
    await page.set_input_files("#upload-video", str(video))
    await page.select_option("#upload-language", "sr")
    await page.click("#add-sound")
    row = page.locator("#upload-sounds .language-row")
    await row.locator("select").select_option("en")
    await row.locator("input[type=file]").set_input_files(str(sound))
    await page.click("#add-subtitles")
    row = page.locator("#upload-subtitles .language-row")
    await row.locator("select").select_option("sr")
    await row.locator("input[type=file]").set_input_files(str(srt))
    await page.fill("#upload-chapters", "0:00 Uvod\n0:04 Povratak")
    await page.click("#upload-send")
    ready = page.locator("#upload-ready")
    await ready.wait_for(state="visible", timeout=120_000)
    bars = await page.eval_on_selector_all(
        "#upload-progress progress", "els => els.map(e => e.value)"
    )
    assert bars == [100, 100, 100], "each file's progress reaches the end"
    texts = await page.locator("#upload-progress .progress-text").all_inner_texts()
    assert all(text.startswith("Done") for text in texts), texts
    link = await ready.get_attribute("href")
    assert link and link.startswith("/library/")

    # A learner reads Serbian. The original sound is Serbian: subtitles start off; she
    # takes the English sound and turns the Serbian subtitles on, then off again.
    learner = served.mint("trainee", "Lena", sub="lena", lang="sr")
    watcher = await browser.new_page(viewport={"width": 1366, "height": 768})
    await watcher.goto(f"{served.url}{link}?token={learner}")
    await until(watcher, "document.querySelector('#player')?.dataset.ready === 'true'")
    field = watcher.locator("#subtitles-field")
    await field.wait_for(state="visible")
    options = await watcher.locator("#subtitles option").all_inner_texts()
    assert len(options) == 2 and options[0] == "Isključeni", options
    chapters = await watcher.locator("#chapter-list button").all_inner_texts()
    assert any("Uvod" in c for c in chapters) and any("Povratak" in c for c in chapters), chapters
    assert await watcher.locator("#subtitles").input_value() == "-1"
    await watcher.select_option("#audio-language", index=1)  # the English sound
    await watcher.select_option("#subtitles", "0")
    await watcher.evaluate(
        "() => { const v = document.querySelector('#replay'); v.muted = true; v.play(); }"
    )
    await until(
        watcher,
        """(() => {
          const video = document.querySelector('#replay');
          const shown = [...video.textTracks].filter((t) => t.mode === 'showing');
          return shown.some((t) => [...(t.activeCues || [])].some(
            (c) => c.text.includes('Dobrodošli na obuku.')));
        })()""",
    )
    await watcher.select_option("#subtitles", "-1")
    await until(
        watcher,
        "![...document.querySelector('#replay').textTracks]"
        ".some((t) => t.mode === 'showing' && t.kind === 'subtitles')",
        within_s=10,
    )

    # The trainer adds English subtitles from the player; a learner's player offers them.
    vtt = tmp_path / "en.vtt"
    vtt.write_text(VTT_EN)
    await page.goto(f"{served.url}{link}")
    editor = page.locator("#subtitles-editor")
    await editor.wait_for(state="visible")
    assert await watcher.locator("#subtitles-editor").is_hidden(), "only trainers edit"
    await page.select_option("#subtitles-language", "en")
    await page.set_input_files("#subtitles-file", str(vtt))
    await page.click("#subtitles-send")
    await until(page, "document.querySelectorAll('#subtitles-present li').length === 2")
    await watcher.reload()
    await until(watcher, "document.querySelectorAll('#subtitles option').length === 3")
