"""Polls, quizzes and the phone companion in Firefox ESR, beside Chromium, against
``classroom serve`` as users run it.

A phone (a Firefox page the size of one) pairs with a room device's code and answers a
poll, which the trainer sees counted; a trainer runs a poll and a quiz from the polls
page in Firefox, which trainees answer in Firefox and in Chromium. Everything is
checked as shown: the charts' text alternatives, the counts, the scores, the tables.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import LaunchBrowser
from tests.browser.firefox import FirefoxPage, LaunchFirefox
from tests.browser.firefox_forms import (
    choose,
    click_button,
    shown_text,
    type_into,
    until_label,
    until_text,
)
from tests.browser.test_firefox import no_script_errors
from tests.server import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
WAIT_MS = 30_000


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess.as_users_run_it(tmp_path / "site")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def polls_url(server: ServerProcess, role: str, name: str) -> str:
    token = server.mint(role, name, sub=name.lower().replace(" ", "-"), lang="en")
    return f"{server.url}/polls?token={token}"


async def chromium_polls(browser: Browser, url: str) -> Page:
    page = await (await browser.new_context()).new_page()
    await page.goto(url)
    await expect(page.locator("#polls-page-status")).to_contain_text(
        "Connected as", timeout=WAIT_MS
    )
    return page


async def firefox_polls(page: FirefoxPage, url: str) -> FirefoxPage:
    await page.goto(url)
    await until_text(page, "#polls-page-status", "Connected as")
    return page


async def table_rows(page: FirefoxPage, selector: str) -> list[list[str]]:
    """The cells of each body row of the tables the selector finds, as shown."""
    rows: list[list[str]] = await page.evaluate(
        f"[...document.querySelectorAll({json.dumps(selector + ' tbody tr')})]"
        ".map((tr) => [...tr.cells].map((td) => td.textContent.trim()))"
    )
    return rows


async def test_a_firefox_phone_pairs_with_the_room_and_its_vote_is_counted(
    served: ServerProcess, launch_browser: LaunchBrowser, launch_firefox: LaunchFirefox
) -> None:
    browser = await launch_browser()
    trainer = await chromium_polls(browser, polls_url(served, "trainer", "Tea"))
    room = await chromium_polls(browser, polls_url(served, "room", "Room 3"))

    # The room device shows its code; the phone's owner reads it and types it in.
    await room.get_by_role("button", name="Show the code for phones").click()
    await expect(room.locator(".pairing-code")).to_have_text(re.compile(r"\S"), timeout=WAIT_MS)
    code = (await room.locator(".pairing-code").inner_text()).replace(" ", "")
    phone = await (await launch_firefox()).new_page()
    await phone.browser.send(
        "browsingContext.setViewport",
        {"context": phone.context, "viewport": {"width": 390, "height": 800}},
    )
    await phone.goto(f"{served.url}/companion")
    await type_into(phone, "#pair-code", code)
    await type_into(phone, "#pair-name", "Besa")
    await click_button(phone, "Join", within="#pair-form")
    assert "Besa" in await until_text(phone, "#companion-state", "Besa")
    await expect(room.locator(".pairing-paired")).to_contain_text(
        "Besa joined from a phone", timeout=WAIT_MS
    )

    # The trainer opens a poll; the phone shows it and answers it.
    await trainer.get_by_label("Question", exact=True).fill("Is the asylum procedure clear?")
    await trainer.get_by_label("Options, one per line").fill("Yes\nNot yet")
    await trainer.get_by_role("button", name="Create and open").click()
    await until_text(phone, "#companion-polls article", "Is the asylum procedure clear?")
    await choose(phone, "Not yet", within="#companion-polls")
    await click_button(phone, "Send answer", within="#companion-polls")
    await until_text(phone, "#companion-polls .poll-status", "Your answer is recorded.")

    # The trainer sees it counted, and once published the phone sees the result.
    chart = trainer.get_by_role("img", name=re.compile("Is the asylum procedure clear"))
    await expect(chart).to_have_attribute(
        "aria-label", re.compile(r"Yes: 0; Not yet: 1"), timeout=WAIT_MS
    )
    await expect(trainer.get_by_text("1 answered")).to_be_visible(timeout=WAIT_MS)
    await trainer.get_by_role("button", name="Close").click()
    await trainer.get_by_role("button", name="Publish results").click()
    shown = await until_label(phone, "#companion-polls svg[role=img]", "Yes: 0; Not yet: 1")
    print(f"the phone shows: {shown}")
    no_script_errors(phone)


async def test_a_firefox_trainer_runs_a_poll_and_a_quiz_from_the_polls_page(
    served: ServerProcess, launch_browser: LaunchBrowser, launch_firefox: LaunchFirefox
) -> None:
    firefox = await launch_firefox()
    tea = await firefox_polls(await firefox.new_page(), polls_url(served, "trainer", "Tea"))
    besa = await firefox_polls(await firefox.new_page(), polls_url(served, "trainee", "Besa"))
    ana = await chromium_polls(await launch_browser(), polls_url(served, "trainee", "Ana"))

    # A poll made with the keyboard in Firefox, answered in Firefox and in Chromium.
    await type_into(tea, "#poll-new-question", "Is the asylum procedure clear?")
    await type_into(tea, "#poll-new-options", "Yes\nNot yet")
    await click_button(tea, "Create and open")
    await choose(besa, "Yes", within="#polls-page")
    await click_button(besa, "Send answer", within="#polls-page")
    await until_text(besa, ".poll-status", "Your answer is recorded.")
    await ana.get_by_label("Not yet", exact=True).check()
    await ana.get_by_role("button", name="Send answer").click()
    await expect(ana.get_by_text("Your answer is recorded.")).to_be_visible(timeout=WAIT_MS)
    poll = await until_label(tea, ".poll svg[role=img]", "Yes: 1; Not yet: 1")
    await until_text(tea, ".poll .poll-answered", "2 answered")
    await click_button(tea, "Close", within=".poll")
    await click_button(tea, "Publish results", within=".poll")
    await expect(
        ana.get_by_role("img", name=re.compile(r"Yes: 1; Not yet: 1"))
    ).to_be_visible(timeout=WAIT_MS)  # fmt: skip
    await until_label(besa, ".poll svg[role=img]", "Yes: 1; Not yet: 1")

    # A timed quiz: Besa (Firefox) is right twice, Ana (Chromium) wrong twice.
    await type_into(tea, "#quiz-new-title", "Borders")
    await type_into(
        tea,
        "#quiz-new-questions",
        "Which agency guards EU borders? | *Frontex | Europol\n"
        "Which are EU members? | *Croatia | Serbia | *Slovenia",
    )
    await click_button(tea, "Create quiz")
    await click_button(tea, "Start", within=".quiz")
    await until_text(besa, ".quiz", "Question 1 of 2:")
    await choose(besa, "Frontex", within=".quiz-answer")
    await click_button(besa, "Send answer", within=".quiz-answer")
    await until_text(besa, ".quiz", "Your answer is recorded.")
    await ana.get_by_label("Europol").check(timeout=WAIT_MS)
    await ana.locator(".quiz-answer").get_by_role("button", name="Send answer").click()
    await expect(ana.get_by_text("Your answer is recorded.")).to_be_visible(timeout=WAIT_MS)
    tally = await until_label(tea, ".quiz svg[role=img]", "Frontex: 1; Europol: 1")

    await click_button(tea, "Next question", within=".quiz")
    await until_text(besa, ".quiz", "Question 2 of 2:")
    for option in ("Croatia", "Slovenia"):  # several right answers: check boxes
        await choose(besa, option, within=".quiz-answer")
    await click_button(besa, "Send answer", within=".quiz-answer")
    await until_text(besa, ".quiz", "Your answer is recorded.")
    await ana.get_by_role("checkbox", name="Serbia").check(timeout=WAIT_MS)
    await ana.locator(".quiz-answer").get_by_role("button", name="Send answer").click()
    await expect(ana.get_by_text("Your answer is recorded.")).to_be_visible(timeout=WAIT_MS)
    await click_button(tea, "End quiz", within=".quiz")

    score = await until_text(besa, ".quiz-result", "Your score: 200 of 200 (2 of 2 correct).")
    await expect(ana.get_by_text("Your score: 0 of 200 (0 of 2 correct).")).to_be_visible(
        timeout=WAIT_MS
    )
    await until_text(besa, ".quiz table", "Besa")  # the leaderboard
    await until_text(tea, ".quiz table", "Ana")  # everyone's results
    results = {row[1]: row for row in await table_rows(tea, ".quiz table")}
    print(f"poll: {poll}; quiz tally: {tally}; {score}; results: {results}")
    # rank, name, score, correct, answered
    assert results["Besa"][2:] == ["200", "2", "2"] and results["Ana"][2:] == ["0", "0", "2"]
    assert await shown_text(tea, ".quiz-result") == ""  # the trainer has no score of her own
    no_script_errors(tea, besa)
