"""Polls in a real Chromium: a trainer opens a poll, a trainee and a companion phone (paired
with the conference room's code) answer, and the trainer sees the tally arrive."""

from __future__ import annotations

import re

import aiohttp
from playwright.async_api import BrowserContext, Page, expect

from tests.browser.conftest import LaunchBrowser, LiveServer
from tests.conftest import Mint
from tests.web.test_polls import open_poll, receive


async def polls_page(context: BrowserContext, server: LiveServer, token: str) -> Page:
    page = await context.new_page()
    await page.goto(f"{server.url}/polls?token={token}")
    await expect(page.locator("#polls-page-status")).to_contain_text("Connected as")
    return page


async def test_trainer_sees_the_answers_of_a_trainee_and_a_companion_phone(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint
) -> None:
    browser = await launch_browser()
    contexts = [await browser.new_context() for _ in range(3)]
    phone_context = await browser.new_context(
        viewport={"width": 390, "height": 800}, is_mobile=True
    )

    trainer = await polls_page(contexts[0], live_server, mint("trainer", "Tea", sub="t"))
    room = await polls_page(contexts[1], live_server, mint("room", "Room 3", sub="room3"))
    trainee = await polls_page(contexts[2], live_server, mint("trainee", "Ana", sub="a"))

    # The room device shows a code (and its QR code) for phones.
    await room.get_by_role("button", name="Show the code for phones").click()
    # The code arrives from the server after the click: wait for it, then read it.
    await expect(room.locator(".pairing-code")).to_have_text(re.compile(r"\S"))
    code_text = await room.locator(".pairing-code").inner_text()
    assert re.fullmatch(r"[2-9A-Z]{3} [2-9A-Z]{3}", code_text)
    await expect(room.locator(".pairing-qr svg")).to_be_visible()
    code = code_text.replace(" ", "")

    # A trainee in that room scans it: the phone page with the code filled in.
    phone = await phone_context.new_page()
    await phone.goto(f"{live_server.url}/companion?code={code}")
    await expect(phone.get_by_label("Code from the room screen")).to_have_value(code)
    await phone.get_by_label("Your name").fill("Besa")
    await phone.get_by_role("button", name="Join").click()
    await expect(phone.locator("#companion-state")).to_contain_text("Besa")
    await expect(room.locator(".pairing-paired")).to_contain_text("Besa joined from a phone")

    # A page that folds the panel away learns when a poll wants an answer.
    await trainee.evaluate(
        "window.calls = 0; document.addEventListener('pollsattention', () => window.calls++)"
    )

    # The trainer makes a poll on the spot with the keyboard-usable form.
    await trainer.get_by_label("Question", exact=True).fill("Is the asylum procedure clear?")
    await trainer.get_by_label("Kind of poll").select_option("single")
    await trainer.get_by_label("Options, one per line").fill("Yes\nNot yet")
    await trainer.get_by_role("button", name="Create and open").click()

    for page in (trainee, phone):
        question = page.get_by_role("article", name="Is the asylum procedure clear?")
        await expect(question).to_be_visible()
    assert await trainee.evaluate("window.calls") == 1
    await trainee.get_by_label("Yes", exact=True).check()
    await trainee.get_by_role("button", name="Send answer").click()
    await expect(trainee.get_by_text("Your answer is recorded.")).to_be_visible()
    await phone.get_by_label("Not yet").check()
    await phone.get_by_role("button", name="Send answer").press("Enter")
    await expect(phone.get_by_text("Your answer is recorded.")).to_be_visible()

    # The trainer sees both answers arrive, as a picture with a text alternative.
    chart = trainer.get_by_role("img", name=re.compile("Is the asylum procedure clear"))
    await expect(chart).to_have_attribute("aria-label", re.compile(r"Yes: 1; Not yet: 1"))
    await expect(trainer.get_by_text("2 answered")).to_be_visible()

    # Closing and publishing shows the results to everyone, the phone included.
    await trainer.get_by_role("button", name="Close").click()
    await trainer.get_by_role("button", name="Publish results").click()
    await expect(phone.get_by_role("img", name=re.compile("Yes: 1; Not yet: 1"))).to_be_visible()
    assert await trainee.get_by_role("img", name=re.compile("Yes: 1")).count() == 1


async def test_the_phone_page_refuses_a_wrong_code_clearly(
    live_server: LiveServer, launch_browser: LaunchBrowser
) -> None:
    browser = await launch_browser()
    page = await (await browser.new_context(locale="ar")).new_page()
    await page.goto(f"{live_server.url}/companion?code=AAAAAA")
    assert await page.get_attribute("html", "dir") == "rtl"
    await page.get_by_label("اسمك").fill("Amir")
    await page.get_by_role("button", name="انضم").click()
    await expect(page.locator("#pair-status")).to_contain_text("هذا الرمز غير صحيح")


async def test_the_report_page_shows_the_timeline_charts_and_downloads(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint
) -> None:
    token = mint("trainer", "Tea", sub="t")
    async with aiohttp.ClientSession() as http:
        trainer = await http.ws_connect(f"{live_server.url}/ws?token={token}")
        ana = await http.ws_connect(f"{live_server.url}/ws?token={mint('trainee', 'Ana', sub='a')}")
        await trainer.send_json({"type": "start_session", "module": "m02-human-rights"})
        session = (await receive(trainer, "session_changed"))["session"]["id"]
        poll = await open_poll(trainer)
        await ana.send_json({"type": "answer_poll", "poll": poll["id"], "answer": 1})
        await receive(ana, "poll_answer_recorded")

        browser = await launch_browser()
        context = await browser.new_context(accept_downloads=True)
        # A second trainer's polls panel links to each session's report.
        panel = await polls_page(context, live_server, mint("trainer", "Ivo", sub="t2"))
        link = panel.get_by_role("link", name=re.compile(r"^demo \("))
        await expect(link).to_have_attribute("href", re.compile(f"/sessions/{session}/report"))
        async with context.expect_page() as opened:
            await link.click()
        page = await opened.value
        await expect(page.locator("#report-title")).to_contain_text("Session report")
        timeline = page.locator("#report-timeline svg")
        await expect(timeline).to_have_attribute("role", "img")
        await expect(timeline).to_contain_text("Ana")
        await expect(page.locator("#report-charts svg")).to_contain_text("Which border crossing?")
        await expect(page.locator("#report-table tbody tr")).to_have_count(3)  # Tea, Ana, Ivo
        async with page.expect_download() as download_info:
            await page.get_by_role("button", name="Attendance (CSV)").click()
        download = await download_info.value
        path = await download.path()
        assert download.suggested_filename == f"attendance-{session}.csv"
        assert "participant_id" in path.read_text().splitlines()[0]
        assert "token=" not in page.url
        await trainer.close()
        await ana.close()


async def test_a_quiz_in_the_browser_from_questions_to_the_leaderboard(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint
) -> None:
    browser = await launch_browser()
    trainer = await polls_page(await browser.new_context(), live_server, mint("trainer", sub="t"))
    ana = await polls_page(
        await browser.new_context(), live_server, mint("trainee", "Ana", sub="a")
    )

    await trainer.get_by_label("Title").fill("Borders")
    await trainer.get_by_label("Questions, one per line").fill(
        "Which agency guards EU borders? | *Frontex | Europol\n"
        "Which are EU members? | *Croatia | Serbia | *Slovenia"
    )
    await trainer.get_by_role("button", name="Create quiz").click()
    await trainer.get_by_role("button", name="Start").click()

    await expect(ana.get_by_text("Question 1 of 2:")).to_be_visible()
    await expect(ana.locator(".quiz-countdown")).to_contain_text("s left")
    await ana.get_by_label("Frontex").check()
    await ana.locator(".quiz-answer").get_by_role("button", name="Send answer").click()
    await expect(ana.get_by_text("Your answer is recorded.")).to_be_visible()
    tally = trainer.get_by_role("img", name=re.compile("Which agency guards EU borders"))
    await expect(tally).to_have_attribute("aria-label", re.compile("Frontex: 1; Europol: 0"))

    await trainer.get_by_role("button", name="Next question").click()
    await expect(ana.get_by_text("Question 2 of 2:")).to_be_visible()
    for option in ("Croatia", "Slovenia"):  # several correct options: check boxes
        await ana.get_by_role("checkbox", name=option).check()
    await ana.locator(".quiz-answer").get_by_role("button", name="Send answer").click()
    await expect(ana.get_by_text("Your answer is recorded.")).to_be_visible()
    await trainer.get_by_role("button", name="End quiz").click()

    await expect(ana.get_by_text("Your score: 200 of 200 (2 of 2 correct).")).to_be_visible()
    board = ana.get_by_role("table", name="Leaderboard")
    await expect(board.get_by_role("row")).to_have_count(2)
    await expect(board).to_contain_text("Ana")
    await expect(trainer.get_by_role("table", name="Everyone's results")).to_contain_text("200")
