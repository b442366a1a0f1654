"""The report's pictures (the presence timeline and the result charts, drawn by the server)
in the reader's language, in a real Chromium against ``classroom serve``: an Arabic
trainer's report reads right to left, its words Arabic. Screenshots are kept under the
test's tmp directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Locator, expect

from tests.browser.conftest import LaunchBrowser
from tests.browser.test_companion_phone import next_message, snap, strings
from tests.server import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
WAIT_MS = 30_000
QUESTION, OPTIONS = "هل الإجراء واضح؟", ["نعم", "ليس بعد"]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess.as_users_run_it(tmp_path / "site")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def box(locator: Locator) -> dict[str, float]:
    found = await locator.bounding_box()
    assert found is not None, f"{locator} is not shown"
    return found


async def test_an_arabic_report_draws_its_pictures_right_to_left_in_arabic(
    served: ServerProcess, launch_browser: LaunchBrowser, tmp_path: Path
) -> None:
    ar = strings("ar")
    trainer = served.mint("trainer", "Tea", sub="tea", lang="ar")
    async with aiohttp.ClientSession() as http:
        tea = await http.ws_connect(f"{served.ws_url}?token={trainer}")
        ana = await http.ws_connect(
            f"{served.ws_url}?token={served.mint('trainee', 'Ana', sub='ana')}"
        )
        await next_message(ana, "welcome")
        await tea.send_json({"type": "start_session", "title": "Asylum"})
        session = (await next_message(tea, "session_changed"))["session"]
        poll = {"question": QUESTION, "kind": "single", "options": OPTIONS, "open": True}
        await tea.send_json({"type": "create_poll", **poll})
        opened = (await next_message(ana, "poll_opened"))["poll"]
        await ana.send_json({"type": "answer_poll", "poll": opened["id"], "answer": 0})
        await next_message(ana, "poll_answer_recorded")

        context = await (await launch_browser()).new_context(
            viewport={"width": 1366, "height": 768}
        )
        page = await context.new_page()
        await page.goto(f"{served.url}/sessions/{session['id']}/report?token={trainer}")
        assert await page.get_attribute("html", "dir") == "rtl"
        charts = page.locator("#report-charts svg")
        await expect(charts).to_be_visible(timeout=WAIT_MS)
        timeline = page.locator("#report-timeline svg")
        await expect(timeline).to_be_visible()

        # The words the server put in them are Arabic.
        presence = ar["chart.presence"].format(title="Asylum")
        await expect(timeline.locator("> title")).to_have_text(presence)
        await expect(timeline).to_have_attribute("direction", "rtl")
        for picture in (timeline, charts):
            assert await picture.evaluate("(e) => getComputedStyle(e).direction") == "rtl"

        # Read right to left: the question and the options start at the right edge, the
        # bars grow leftwards from beside them, the earliest time is on the right.
        whole = await box(charts)
        right = whole["x"] + whole["width"]
        heading = await box(charts.locator("text", has_text=QUESTION))
        assert right - (heading["x"] + heading["width"]) < 0.02 * whole["width"], heading
        label = await box(charts.locator("text", has_text=OPTIONS[0]).first)
        assert right - (label["x"] + label["width"]) < 0.02 * whole["width"], label
        bar = await box(charts.locator("rect[fill='#0b5cad']").first)
        assert bar["x"] + bar["width"] <= label["x"], (bar, label)
        assert bar["width"] > 0.5 * whole["width"], bar  # the one answer: the longest bar
        ticks = timeline.locator("text[data-at]")
        first, last = await box(ticks.first), await box(ticks.last)
        assert first["x"] > last["x"], "time runs leftwards"
        name = await box(timeline.locator("text", has_text="Ana").first)
        assert name["x"] > first["x"], "names on the right"
        await snap(page, tmp_path, "report-ar")
        await tea.close()
        await ana.close()
