"""What a trainer and a room met, in real Chromium against the real ``classroom serve``
process run as users run it: a second page of the same person, muting and unmuting a
conference-room device, and starting a session of a training module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import LaunchBrowser
from tests.browser.participants import join
from tests.browser.test_classroom_media import WAIT_MS, decoding
from tests.server import ServerProcess

pytestmark = pytest.mark.timeout(300)


class Served:
    """The server process as the browser helpers reach it."""

    def __init__(self, process: ServerProcess) -> None:
        self.process = process
        self.url = process.url

    def join_url(self, token: str, **query: str) -> str:
        extra = "".join(f"&{k}={v}" for k, v in query.items())
        return f"{self.url}/join?token={token}{extra}"

    def mint(self, role: str, name: str, **claims: str) -> str:
        return self.process.mint(role, name, **claims)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    process = ServerProcess.as_users_run_it(tmp_path / "classroom")
    await process.start()
    try:
        yield Served(process)
    finally:
        await process.stop()


async def enter(browser: Browser, served: Served, token: str) -> Page:
    return await join(browser, served, token)  # type: ignore[arg-type]


async def test_the_polls_page_and_a_second_tab_leave_the_class_in_place(
    served: Served, launch_browser: LaunchBrowser
) -> None:
    browser = await launch_browser()
    tea_token = served.mint("trainer", "Tea", sub="tea")
    tea = await enter(browser, served, tea_token)
    besa = await enter(browser, served, served.mint("trainee", "Besa", sub="besa"))
    await decoding(besa, "tea")

    # The trainer opens the polls page, as the README suggests, in a second tab.
    polls = await tea.context.new_page()
    await polls.goto(f"{served.url}/polls?token={tea_token}")
    await expect(polls.locator("#polls-page-status")).to_contain_text("Connected as Tea")
    await expect(polls.get_by_label("Question", exact=True)).to_be_visible()
    # The class is still there, and the trainer's camera still reaches the trainee.
    await expect(tea.locator("#classroom")).to_have_attribute("data-phase", "room")
    await expect(tea.locator("#room")).to_be_visible()
    await decoding(besa, "tea")

    # A second classroom tab of the trainer does not throw the first out: it offers to
    # join there instead.
    second = await tea.context.new_page()
    await second.goto(served.join_url(tea_token))
    await expect(second.locator("#prejoin")).to_be_visible(timeout=WAIT_MS)
    await second.locator("#join-button").click()
    join_here = second.get_by_role("button", name="Join here instead")
    await expect(join_here).to_be_focused(timeout=WAIT_MS)
    await expect(
        second.get_by_role("heading", name="You are in this class on another page")
    ).to_be_visible()
    await expect(tea.locator("#classroom")).to_have_attribute("data-phase", "room")
    await decoding(besa, "tea")

    # Joining there moves the class: the first tab says so and offers to come back.
    await join_here.press("Enter")
    await expect(second.locator("#classroom")).to_have_attribute(
        "data-phase", "room", timeout=WAIT_MS
    )
    await expect(tea.get_by_role("heading", name="Joined elsewhere")).to_be_visible()
    back = tea.get_by_role("button", name="Join here again")
    await expect(back).to_be_visible()
    await decoding(besa, "tea")  # now from the second tab's camera

    # "Join here again" takes the class back at once (after the pre-join screen).
    await back.click()
    await expect(tea.locator("#prejoin")).to_be_visible(timeout=WAIT_MS)
    await tea.locator("#join-button").click()
    await expect(tea.locator("#classroom")).to_have_attribute("data-phase", "room", timeout=WAIT_MS)
    await expect(second.get_by_role("heading", name="Joined elsewhere")).to_be_visible()
    await decoding(besa, "tea")
    # The polls page was never disturbed.
    await expect(polls.locator("#polls-page-status")).to_contain_text("Connected as Tea")
