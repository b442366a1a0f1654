"""The join page in a real Chromium: the token leaves the address bar once read."""

from __future__ import annotations

from tests.browser.conftest import LiveServer, OpenPage
from tests.conftest import Mint


async def test_the_token_leaves_the_address_bar(
    live_server: LiveServer, open_page: OpenPage, mint: Mint
) -> None:
    token = mint("trainee", "Ana")
    page = await open_page(live_server.join_url(token))
    await page.wait_for_function("!location.search.includes('token=')")
    assert "token=" not in page.url
    stored = await page.evaluate("sessionStorage.getItem('classroom.token')")
    assert stored == token


async def test_a_reload_after_the_token_left_the_address_bar_joins_again(
    live_server: LiveServer, open_page: OpenPage, mint: Mint
) -> None:
    token = mint("trainee", "Ana")
    page = await open_page(live_server.join_url(token))
    await page.wait_for_function("!location.search.includes('token=')")
    await page.reload()
    await page.wait_for_function("!location.search.includes('token=')")
    assert await page.evaluate("sessionStorage.getItem('classroom.token')") == token
    assert "Ana" in await page.content()


async def test_without_any_token_the_page_says_the_link_is_missing(
    live_server: LiveServer, open_page: OpenPage
) -> None:
    page = await open_page(f"{live_server.url}/join")
    await page.wait_for_selector("#rejoin-missing:not([hidden])")
    assert "without its join link" in await page.inner_text("#rejoin-missing")
