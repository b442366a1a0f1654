"""Mixed rooms: Firefox ESR and Chromium side by side, each seeing and hearing whom it should.

Chromium runs through Playwright, Firefox ESR over WebDriver BiDi (tests/browser/firefox.py).
Each person is a browser of their own with its own fake camera and microphone. What a
page sees is counted in decoded frames per source, what it hears in audio per source:
Chromium's loudness from an analyser on the received track, Firefox's from its WebRTC
statistics (totalAudioEnergy), since Firefox plays no sound without a sound device.
Firefox offers every m-line after its first one bundle-only (port 0): before the server
read that as BUNDLE defines it, nobody heard a Firefox microphone or interpreter.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import LaunchBrowser, LiveServer
from tests.browser.firefox import FirefoxPage, LaunchFirefox
from tests.browser.mixed import WAIT_S, firefox_join, hears, sees, until_gains
from tests.conftest import Mint
from tests.server import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
LOCALES = Path(__file__).resolve().parents[2] / "web" / "static" / "locales"


async def chromium_join(
    browser: Browser, url: str, *, camera: bool = True, microphone: bool = True
) -> Page:
    page = await (await browser.new_context()).new_page()
    await page.goto(url)
    if not camera:
        await page.locator("#prejoin-camera").uncheck()
    if not microphone:
        await page.locator("#prejoin-microphone").uncheck()
    await page.locator("#join-button").click()
    await expect(page.locator("#classroom")).to_have_attribute(
        "data-phase", "room", timeout=WAIT_S * 1000
    )
    return page


def no_script_errors(*pages: FirefoxPage) -> None:
    for page in pages:
        assert page.errors == [], page.errors


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    """``classroom serve`` as users run it: default settings, relative data_dir, no Redis."""
    server = ServerProcess.as_users_run_it(tmp_path / "site")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_a_chromium_trainer_and_a_firefox_trainee_see_and_hear_each_other(
    live_server: LiveServer, launch_browser: LaunchBrowser, launch_firefox: LaunchFirefox,
    mint: Mint,
) -> None:  # fmt: skip
    tea = await chromium_join(
        await launch_browser(), live_server.join_url(mint("trainer", "Tea", sub="tea"))
    )
    besa = await firefox_join(
        await launch_firefox(), live_server.join_url(mint("trainee", "Besa", sub="besa"))
    )

    # Firefox's microphone is bundle-only: Chromium hears it, and sees its camera (VP8).
    await hears(tea, "besa", "microphone", "the trainer hears the Firefox trainee")
    await sees(tea, "besa", "camera", "the trainer sees the Firefox trainee")
    # Firefox decodes the trainer's camera (republished in VP8 for it) and hears her.
    await sees(besa, "tea", "camera", "the Firefox trainee sees the trainer")
    await hears(besa, "tea", "microphone", "the Firefox trainee hears the trainer")
    no_script_errors(besa)


async def test_a_firefox_interpreter_on_air_is_heard_by_a_chromium_listener_on_her_channel(
    served: ServerProcess, launch_browser: LaunchBrowser, launch_firefox: LaunchFirefox
) -> None:
    """Against the real ``classroom serve`` with default settings: Chromium trainer,
    Firefox trainee, Firefox interpreter into Serbian (on air), Chromium listener."""

    def url(role: str, name: str, **claims: str) -> str:
        token = served.mint(role, name, room="demo", sub=name.lower(), **claims)
        return f"{served.url}/join?token={token}"

    tea = await chromium_join(await launch_browser(), url("trainer", "Tea", lang="en"))
    besa = await firefox_join(await launch_firefox(), url("trainee", "Besa", lang="en"))
    ivana = await firefox_join(
        await launch_firefox(), url("interpreter", "Ivana", lang="sr"), camera=False
    )
    ana = await chromium_join(
        await launch_browser(), url("trainee", "Ana", lang="sr"), camera=False, microphone=False
    )
    await ana.locator("#interpretation-channel-sr").check(timeout=WAIT_S * 1000)

    # Ana hears Ivana's interpretation at full level over the floor turned down.
    await hears(ana, "ivana", "interpretation", "the listener hears the Firefox interpreter")
    await until_gains(
        ana,
        lambda g: g.get("ivana:interpretation") == 1 and 0 < g.get("tea:microphone", 1) < 0.5,
        "Ivana at full level, the floor lowered",
    )
    # The room hears the Firefox trainee; the Firefox trainee hears and sees the trainer.
    await hears(tea, "besa", "microphone", "the trainer hears the Firefox trainee")
    await hears(ana, "besa", "microphone", "the listener hears the floor's Firefox trainee")
    await sees(besa, "tea", "camera", "the Firefox trainee sees the trainer")
    await hears(besa, "tea", "microphone", "the Firefox trainee hears the trainer")
    no_script_errors(besa, ivana)


async def test_a_chromium_interpreter_is_heard_by_a_firefox_listener_on_her_channel(
    live_server: LiveServer, launch_browser: LaunchBrowser, launch_firefox: LaunchFirefox,
    mint: Mint,
) -> None:  # fmt: skip
    """The reverse: Firefox trainer, Chromium trainee, Chromium interpreter, Firefox listener."""

    def url(role: str, name: str, lang: str) -> str:
        return live_server.join_url(mint(role, name, sub=name.lower(), lang=lang))

    tea = await firefox_join(await launch_firefox(), url("trainer", "Tea", "en"))
    besa = await chromium_join(await launch_browser(), url("trainee", "Besa", "en"))
    await chromium_join(
        await launch_browser(), url("interpreter", "Ivana", "sr"), camera=False, microphone=False
    )
    ana = await firefox_join(await launch_firefox(), url("trainee", "Ana", "sr"), camera=False)
    await ana.click("#interpretation-channel-sr")

    await hears(ana, "ivana", "interpretation", "the Firefox listener hears the interpreter")
    await until_gains(
        ana,
        lambda g: g.get("ivana:interpretation") == 1 and 0 < g.get("tea:microphone", 1) < 0.5,
        "Ivana at full level, the floor lowered",
    )
    await hears(ana, "tea", "microphone", "the Firefox listener hears the floor, lowered")
    # The Chromium trainee hears and sees the Firefox trainer, and the trainer her.
    await hears(besa, "tea", "microphone", "the trainee hears the Firefox trainer")
    await sees(besa, "tea", "camera", "the trainee sees the Firefox trainer")
    await sees(tea, "besa", "camera", "the Firefox trainer sees the trainee")
    await hears(tea, "besa", "microphone", "the Firefox trainer hears the trainee")
    no_script_errors(tea, ana)


async def test_a_firefox_trainer_is_told_why_the_screen_cannot_be_shared(
    live_server: LiveServer, launch_firefox: LaunchFirefox, mint: Mint
) -> None:
    """Headless Firefox has no screen to offer: getDisplayMedia ends in NotFoundError, and
    the page says so in the person's language instead of leaving the button unpressed."""
    url = live_server.join_url(mint("trainer", "Tea", sub="tea"), lang="sq")
    tea = await firefox_join(await launch_firefox(), url, camera=False)
    await tea.click("#toggle-screen")
    expected = json.loads((LOCALES / "sq.json").read_text("utf-8"))["room.share_not_found"]
    shown = await tea.wait_for(
        "[...document.querySelectorAll('#alerts p')].map((p) => p.textContent).join('|')"
    )
    assert expected in shown.split("|")
    assert await tea.evaluate("document.querySelector('#toggle-screen').ariaPressed") == "false"
    no_script_errors(tea)
