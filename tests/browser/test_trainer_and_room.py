"""What a trainer and a room met, in real Chromium against the real ``classroom serve``
process run as users run it: a second page of the same person, muting and unmuting a
conference-room device, and starting a session of a training module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.browser.conftest import LaunchBrowser
from tests.browser.participants import join, row
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


def tile(page: Page, participant: str) -> Locator:
    return page.locator(f'.tile[data-participant="{participant}"][data-source="camera"]')


async def microphone_sends(page: Page) -> bool:
    enabled: bool = await page.evaluate(
        "() => window.classroom.media?.published.get('microphone')?.enabled === true"
    )
    return enabled


async def test_a_trainer_unmutes_a_room_device_and_asks_a_trainee(
    served: Served, launch_browser: LaunchBrowser
) -> None:
    browser = await launch_browser()
    tea = await enter(browser, served, served.mint("trainer", "Tea", sub="tea"))
    room = await join(browser, served, served.mint("room", "Room 3", sub="room3"), autojoin=True)  # type: ignore[arg-type]
    besa = await enter(browser, served, served.mint("trainee", "Besa", sub="besa"))
    await decoding(besa, "room3")
    room_row = row(tea, "room3")

    # The trainer mutes the room device: everyone sees it muted by the trainer.
    await room_row.get_by_role("button", name="Mute Room 3").click()
    await expect(
        tile(besa, "room3").get_by_role("img", name="Muted by the trainer")
    ).to_be_visible()
    await expect(room_row.locator(".person-state")).to_have_text("Muted by the trainer")
    await expect(room.locator("#toggle-microphone")).to_have_attribute("aria-pressed", "true")
    assert not await microphone_sends(room)

    # Unmuting it turns the unattended device's microphone on, and everyone sees that.
    await room_row.get_by_role("button", name="Unmute Room 3").press("Enter")
    await expect(room.locator("#toggle-microphone")).to_have_attribute("aria-pressed", "false")
    await expect(tile(besa, "room3").locator(".badge-muted")).to_have_count(0)
    await expect(room_row.locator(".person-state")).to_have_text("")
    await expect(room_row.get_by_role("button", name="Mute Room 3")).to_be_visible()
    assert await microphone_sends(room)

    # A trainee who turns the microphone off shows as such, to everyone.
    await besa.locator("#toggle-microphone").click()
    besa_row = row(tea, "besa")
    await expect(besa_row.locator(".person-state")).to_have_text("Microphone off")
    await expect(tile(room, "besa").get_by_role("img", name="Microphone off")).to_be_visible()
    # The trainer can only ask: the trainee decides.
    await besa_row.get_by_role("button", name="Ask Besa to unmute").click()
    request = besa.get_by_role(
        "alertdialog", name="The trainer asks you to turn your microphone on."
    )
    await expect(request).to_be_visible()
    await expect(besa.get_by_role("button", name="Turn microphone on")).to_be_focused()
    await besa.get_by_role("button", name="Keep it off").click()
    await expect(tea.locator("#alerts")).to_contain_text("Besa keeps the microphone off")
    await expect(besa_row.locator(".person-state")).to_have_text("Microphone off")
    assert not await microphone_sends(besa)
    await besa_row.get_by_role("button", name="Ask Besa to unmute").click()
    await besa.get_by_role("button", name="Turn microphone on").press("Enter")
    await expect(request).to_be_hidden()
    await expect(besa_row.locator(".person-state")).to_have_text("")
    await expect(tile(room, "besa").locator(".badge-muted")).to_have_count(0)
    assert await microphone_sends(besa)


async def test_a_session_of_a_module_chosen_when_starting_shows_in_the_report(
    served: Served, launch_browser: LaunchBrowser
) -> None:
    browser = await launch_browser()
    token = served.mint("trainer", "Tea", sub="tea")
    tea = await enter(browser, served, token)
    module = tea.get_by_label("Training module")
    # Modules are offered grouped by topic; nothing is chosen in a room without a past.
    await expect(
        module.locator("optgroup[label='Human Rights and Migration'] option")
    ).to_have_text(["Human Rights and Migration"])
    await expect(module).to_have_value("")
    await tea.get_by_label("Session title").fill("Borders, day 1")
    await module.select_option(label="Migration, Security and Integrated Border Management")
    await tea.get_by_role("button", name="Start session").press("Enter")
    await expect(tea.locator("#session-state")).to_contain_text("Live: Borders, day 1")

    # The report names the module, and completion follows it.
    sessions = await tea.evaluate(
        """async (token) => (await (await fetch('/api/rooms/demo/sessions',
             {headers: {Authorization: `Bearer ${token}`}})).json()).sessions""",
        token,
    )
    report = await tea.context.new_page()
    await report.goto(f"{served.url}/sessions/{sessions[0]['id']}/report?token={token}")
    await expect(report.locator("#report-module")).to_have_text(
        "Training module: Migration, Security and Integrated Border Management"
        " (completed with 80% presence)"
    )
    await expect(report.locator("#report-table tbody tr")).to_have_count(1)
    await expect(report.locator("#report-table tbody tr td").last).to_have_text("Yes")

    # The room remembers its module: the next session offers it first.
    await tea.get_by_role("button", name="End session").click()
    await tea.get_by_role("button", name="Confirm").click()
    await expect(tea.locator("#session-state")).to_contain_text("Ended")
    await tea.reload()
    await expect(tea.locator("#classroom")).to_have_attribute("data-phase", "room", timeout=WAIT_MS)
    await expect(tea.get_by_label("Training module")).to_have_value("m06-security-borders")
