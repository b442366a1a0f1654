"""Every string in the reader's language, in a real Chromium against ``classroom serve``:
the library names languages, modules and topics and writes dates in the UI's language
(Serbian; Macedonian, for which Debian's Chromium carries no Intl data), the player starts
in the learner's language when the recording has it, and a refused link is explained in
the language asked for. Screenshots are kept under the test's tmp directory."""

from __future__ import annotations

import datetime
import shutil
import time
import tomllib
import zoneinfo
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from classroom.identity import mint_token
from config.settings import CATALOGUE_FILE
from recordings import pipeline
from recordings.library import Library
from tests.browser.conftest import LaunchBrowser
from tests.browser.test_companion_phone import next_message, snap, strings
from tests.recordings.synthetic import generate_session
from tests.server import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
WAIT_MS = 30_000
STARTED_AT = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC: 23:13 in Belgrade and Skopje
CATALOGUE = tomllib.loads(CATALOGUE_FILE.read_text())


def titles(kind: str, id_: str) -> dict[str, str]:
    found: dict[str, str] = next(e for e in CATALOGUE[kind] if e["id"] == id_)["titles"]
    return found


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A processed recording of module m04: the floor in Serbian, English and Albanian
    interpretation."""
    root = tmp_path_factory.mktemp("languages") / "recordings"
    library = Library(root)
    made = generate_session(
        library, tmp_path_factory.mktemp("clips"), duration_s=12, channels=("en", "sq"),
        title="Smuggling routes", started_at=STARTED_AT,
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
async def served(tmp_path: Path, recorded: Path) -> AsyncIterator[ServerProcess]:
    site = tmp_path / "site"
    shutil.copytree(recorded, site / "data" / "recordings")
    server = ServerProcess.as_users_run_it(site)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def library_page(browser: Browser, server: ServerProcess, lang: str) -> Page:
    token = server.mint("trainee", "Lena", sub=f"lena-{lang}", lang=lang)
    context = await browser.new_context(timezone_id="Europe/Belgrade")
    page = await context.new_page()
    await page.goto(f"{server.url}/library?token={token}")
    await page.locator(".recording[data-status=ready]").wait_for(timeout=WAIT_MS)
    return page


@pytest.mark.parametrize(
    ("lang", "page_lang", "albanian", "date"),
    [
        ("sr", "sr-Latn", "albanski", "14. 11. 2023. 23:13"),
        # No Intl data for Macedonian here: names from the catalogue, the date by hand.
        ("mk", "mk", "албански", "14.11.2023 23:13"),
    ],
)
async def test_the_library_speaks_the_readers_language(
    served: ServerProcess,
    launch_browser: LaunchBrowser,
    tmp_path: Path,
    lang: str,
    page_lang: str,
    albanian: str,
    date: str,
) -> None:
    page = await library_page(await launch_browser(), served, lang)
    assert await page.get_attribute("html", "lang") == page_lang
    module = page.locator('h3[data-module="m04-smuggling"]')
    await expect(module).to_have_text(titles("modules", "m04-smuggling")[lang])
    await expect(page.locator('section[data-topic="irregular"] h2')).to_have_text(
        titles("topics", "irregular")[lang]
    )
    topic = page.locator('#search-topic option[value="irregular"]')
    await expect(topic).to_have_text(titles("topics", "irregular")[lang])
    await expect(page.locator('#search-language option[data-language="sq"]')).to_have_text(albanian)
    meta = page.locator(".recording[data-status=ready] .meta")
    await expect(meta).to_contain_text(date)
    await expect(meta).to_contain_text(albanian)
    await expect(meta).not_to_contain_text("Albanian")
    await snap(page, tmp_path, f"library-{lang}")


async def test_the_player_starts_in_the_learners_language(
    served: ServerProcess, launch_browser: LaunchBrowser, tmp_path: Path
) -> None:
    browser = await launch_browser()
    # An Albanian learner: the recording has Albanian interpretation, so it starts there.
    page = await library_page(browser, served, "sq")
    await page.locator(".recording[data-status=ready] a").click()
    await page.wait_for_selector("#player[data-ready=true]", timeout=WAIT_MS)
    albanian = await page.locator('#audio-language option[lang="sq"]').get_attribute("value")
    assert albanian not in (None, "0")
    await expect(page.locator("#audio-language")).to_have_value(str(albanian))
    # Playing, hls.js has switched to that rendition.
    await page.evaluate("document.getElementById('replay').muted = true")
    await page.evaluate("document.getElementById('replay').play()")
    await expect(page.locator("#player")).to_have_attribute(
        "data-audio", str(albanian), timeout=WAIT_MS
    )
    selected = page.locator("#audio-language option:checked")
    await expect(selected).to_contain_text("shqip")
    await snap(page, tmp_path, "player-sq")

    # A Macedonian learner: no Macedonian here, so the original (the first track) plays.
    page = await library_page(browser, served, "mk")
    await page.locator(".recording[data-status=ready] a").click()
    await page.wait_for_selector("#player[data-ready=true]", timeout=WAIT_MS)
    await expect(page.locator("#audio-language")).to_have_value("0")
    await expect(page.locator("#audio-language option:checked")).to_contain_text("српски")


@pytest.mark.parametrize(("lang", "direction"), [("sr-Latn", "ltr"), ("ar", "rtl")])
async def test_a_refused_link_is_explained_in_the_language_asked_for(
    served: ServerProcess, launch_browser: LaunchBrowser, tmp_path: Path, lang: str, direction: str
) -> None:
    expired = mint_token(
        room="demo", role="trainee", name="Ana", now=int(time.time()) - 7200, ttl_s=60,
        signing_key=served.secret, algorithm="HS256", audience="classroom", issuer="classroom",
    )  # fmt: skip
    page = await (await launch_browser()).new_page()
    await page.goto(f"{served.url}/join?token={expired}&lang={lang}")
    assert await page.get_attribute("html", "dir") == direction
    text = strings(lang)
    await expect(page.get_by_role("heading", level=1)).to_have_text(text["refused.title"])
    await expect(page.get_by_role("alert")).to_have_text(text["refused.reason.expired"])
    await expect(page.get_by_role("alert")).to_be_in_viewport()
    await snap(page, tmp_path, f"refused-{lang}")


async def test_the_polls_page_says_why_its_link_is_refused(
    served: ServerProcess, launch_browser: LaunchBrowser, tmp_path: Path
) -> None:
    expired = mint_token(
        room="demo", role="trainee", name="Besa", now=int(time.time()) - 7200, ttl_s=60,
        signing_key=served.secret, algorithm="HS256", audience="classroom", issuer="classroom",
    )  # fmt: skip
    page = await (await launch_browser()).new_page()
    await page.goto(f"{served.url}/polls?token={expired}&lang=sq")
    status = page.locator("#polls-page-status")
    await expect(status).to_have_text(strings("sq")["refused.reason.expired"], timeout=WAIT_MS)
    await snap(page, tmp_path, "polls-refused-sq")


async def test_the_report_speaks_the_readers_language_and_time_zone(
    served: ServerProcess, launch_browser: LaunchBrowser, tmp_path: Path
) -> None:
    sr = strings("sr-Latn")
    trainer = served.mint("trainer", "Tea", sub="tea", lang="sr")
    async with aiohttp.ClientSession() as http:
        tea = await http.ws_connect(f"{served.ws_url}?token={trainer}")
        ana = await http.ws_connect(
            f"{served.ws_url}?token={served.mint('trainee', 'Ana', sub='ana')}"
        )
        await next_message(ana, "welcome")
        await tea.send_json({"type": "start_session", "module": "m04-smuggling"})
        session = (await next_message(tea, "session_changed"))["session"]
        context = await (await launch_browser()).new_context(timezone_id="Europe/Belgrade")
        page = await context.new_page()
        await page.goto(f"{served.url}/sessions/{session['id']}/report?token={trainer}")
        # The module by its Serbian title, when it began in Serbian, the roles in Serbian.
        module = titles("modules", "m04-smuggling")["sr"]
        await expect(page.locator("#report-module")).to_contain_text(module)
        started = page.locator("#report-when")
        await expect(started).to_contain_text(sr["report.started"].split(" {start}")[0])
        await expect(page.locator("#report-table tbody")).to_contain_text(sr["role.trainee"])
        # The timeline's clock in Belgrade's time, not the server's UTC.
        tick = page.locator("#report-timeline svg text[data-at]").first
        at = int(await tick.get_attribute("data-at") or 0)
        local = datetime.datetime.fromtimestamp(at, zoneinfo.ZoneInfo("Europe/Belgrade"))
        await expect(tick).to_have_text(local.strftime("%H:%M"))
        caption = page.locator("#report-timeline figcaption")
        await expect(caption).to_contain_text(f"Ana ({sr['role.trainee']})")
        await snap(page, tmp_path, "report-sr")
        await tea.close()
        await ana.close()
