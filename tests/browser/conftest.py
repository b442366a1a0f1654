"""Real-browser fixtures: the service on a real port, Debian's Chromium through Playwright
and Debian's Firefox ESR over WebDriver BiDi."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from config import Settings
from tests.browser.firefox import FIREFOX, LaunchFirefox, firefox_launcher
from tests.conftest import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
]


class LiveServer:
    """The app served on 127.0.0.1 at a free port, as a browser reaches it."""

    def __init__(self, app: web.Application, port: int) -> None:
        self.app, self.port = app, port
        self.url = f"http://127.0.0.1:{port}"

    def join_url(self, token: str, **query: str) -> str:
        extra = "".join(f"&{k}={v}" for k, v in query.items())
        return f"{self.url}/join?token={token}{extra}"


@pytest.fixture
async def live_server(settings: Settings) -> AsyncIterator[LiveServer]:
    from web.app import create_app

    port = free_port()
    app = create_app(settings.replace(port=port, base_url=f"http://127.0.0.1:{port}"))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield LiveServer(app, port)
    finally:
        await runner.cleanup()


LaunchBrowser = Callable[..., Awaitable[Browser]]


@pytest.fixture
async def launch_browser() -> AsyncIterator[LaunchBrowser]:
    """launch_browser(*extra_flags) -> a new headless Chromium (closed after the test).

    Each call is its own browser process, so each can have its own fake microphone:
    ``await launch_browser("--use-file-for-fake-audio-capture=/tmp/tone.wav")``.
    """
    if not shutil.which(CHROMIUM):
        pytest.fail("chromium is not installed: run `make test`, which installs it")
    browsers: list[Browser] = []
    async with async_playwright() as playwright:

        async def launch(*extra: str) -> Browser:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_FLAGS, *extra]
            )
            browsers.append(browser)
            return browser

        yield launch
        for browser in browsers:
            await browser.close()


OpenPage = Callable[..., Awaitable[Page]]


@pytest.fixture
async def open_page(launch_browser: LaunchBrowser) -> OpenPage:
    """open_page(url, *extra_flags, **context_options) -> a page in its own browser."""

    async def open_(url: str, *extra: str, **context_options: Any) -> Page:
        browser = await launch_browser(*extra)
        context: BrowserContext = await browser.new_context(**context_options)
        page = await context.new_page()
        await page.goto(url)
        return page

    return open_


@pytest.fixture
async def launch_firefox() -> AsyncIterator[LaunchFirefox]:
    """launch_firefox(**prefs) -> a new headless Firefox ESR over WebDriver BiDi (closed
    after the test); tests/browser/firefox.py says why not through Playwright."""
    if not shutil.which(FIREFOX):
        pytest.fail("firefox-esr is not installed: run `make test`, which installs it")
    async with firefox_launcher() as launch:
        yield launch
