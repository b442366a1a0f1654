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
