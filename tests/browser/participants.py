"""People in real browsers: open a join link, pass the pre-join screen, reach the room."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import LiveServer


async def open_join_page(
    browser: Browser, server: LiveServer, token: str, *, autojoin: bool = False, **context: Any
) -> Page:
    """A new context (its own storage, as a separate person) on the join link."""
    browser_context = await browser.new_context(**context)
    page = await browser_context.new_page()
    query = {"autojoin": "1"} if autojoin else {}
    await page.goto(server.join_url(token, **query))
    return page


async def join(
    browser: Browser, server: LiveServer, token: str, *, autojoin: bool = False, **context: Any
) -> Page:
    """Open the link, press Join on the pre-join screen (unless autojoin), wait to be in."""
    page = await open_join_page(browser, server, token, autojoin=autojoin, **context)
    if not autojoin:
        await expect(page.locator("#prejoin")).to_be_visible(timeout=20_000)
        await page.locator("#join-button").click()
    # Generous: on a busy 2-core machine opening the fake devices can take a while.
    await expect(page.locator("#classroom")).to_have_attribute("data-phase", "room", timeout=20_000)
    return page


async def join_lobby(browser: Browser, server: LiveServer, token: str) -> Page:
    """Join a locked room: the page ends up waiting in the lobby."""
    page = await open_join_page(browser, server, token)
    await page.locator("#join-button").click()
    await expect(page.locator("#waiting")).to_be_visible()
    return page


async def participant_id(page: Page) -> str:
    you: str = await page.evaluate("window.classroom.you")
    return you


def row(page: Page, pid: str) -> Any:
    """The participant list's row of one participant."""
    return page.locator(f'#participant-list li[data-id="{pid}"]')
