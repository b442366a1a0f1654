"""Debian's Firefox ESR driven over WebDriver BiDi, the protocol Firefox speaks itself.

Playwright drives only its own build of Firefox, which cannot be downloaded here, so
the tests talk BiDi to ``firefox-esr`` over a websocket: start the browser headless on a
profile of its own (fake camera and microphone, no permission prompts), open pages,
evaluate scripts in them and collect their script errors. Each ``launch`` is one
browser process, as one person on one computer.

Firefox plays no sound without a sound device, so what a Firefox page hears is read
from its WebRTC statistics (packets, ``totalAudioEnergy``), not from its speakers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import websockets

FIREFOX = shutil.which("firefox-esr") or "/usr/bin/firefox-esr"

#: A profile for tests: fake devices without prompts, host addresses as they are (aiortc
#: resolves no mDNS names), loopback allowed, sound allowed to start without a gesture,
#: and nothing that calls home.
PREFS: dict[str, Any] = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "media.autoplay.default": 0,
    "media.autoplay.blocking_policy": 0,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.aboutwelcome.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.disabledForTesting": True,
    "app.normandy.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "extensions.update.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "dom.min_background_timeout_value": 0,
    "dom.timeout.enable_budget_timer_throttling": False,
}

LISTENING = re.compile(rb"WebDriver BiDi listening on (ws://\S+)")


class BiDiError(Exception):
    """A command failed, or a script threw in the page."""


class Firefox:
    """One Firefox ESR process and its BiDi session."""

    def __init__(self, process: asyncio.subprocess.Process, profile: Path) -> None:
        self.process = process
        self.profile = profile
        self.pages: list[FirefoxPage] = []
        self._ws: Any = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._stderr: asyncio.Task[None] | None = None
        self.output = bytearray()

    @classmethod
    async def launch(cls, prefs: dict[str, Any] | None = None) -> Firefox:
        if not shutil.which(FIREFOX):
            raise RuntimeError("firefox-esr is not installed: run `make test`, which installs it")
        profile = Path(tempfile.mkdtemp(prefix="classroom-firefox-"))
        lines = [
            f"user_pref({json.dumps(k)}, {json.dumps(v)});"
            for k, v in {**PREFS, **(prefs or {})}.items()
        ]
        (profile / "user.js").write_text("\n".join(lines) + "\n")
        env = {**os.environ, "MOZ_HEADLESS": "1", "MOZ_CRASHREPORTER_DISABLE": "1"}
        process = await asyncio.create_subprocess_exec(
            FIREFOX, "--headless", "--no-remote", "--profile", str(profile),
            "--remote-debugging-port=0", "about:blank",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, env=env, start_new_session=True,
        )  # fmt: skip
        browser = cls(process, profile)
        try:
            url = await asyncio.wait_for(browser._listening(), 60)
            browser._stderr = asyncio.create_task(browser._drain())
            browser._ws = await websockets.connect(url + "/session", max_size=None, open_timeout=30)
            browser._reader = asyncio.create_task(browser._read())
            await browser.send(
                "session.new", {"capabilities": {"alwaysMatch": {"acceptInsecureCerts": True}}}
            )
            await browser.send(
                "session.subscribe",
                {"events": ["log.entryAdded", "browsingContext.userPromptOpened"]},
            )
        except BaseException:
            await browser.close()
            raise
        return browser

    async def _listening(self) -> str:
        assert self.process.stderr is not None
        while True:
            line = await self.process.stderr.readline()
            if not line:
                raise RuntimeError(
                    f"firefox-esr exited: {self.output[-2000:].decode(errors='replace')}"
                )
            self.output += line
            found = LISTENING.search(line)
            if found:
                return found.group(1).decode()

    async def _drain(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.output += line
            del self.output[:-100_000]

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                message = json.loads(raw)
                if "id" in message and message["id"] in self._waiting:
                    future = self._waiting.pop(message["id"])
                    if not future.done():
                        future.set_result(message)
                elif message.get("type") == "event":
                    self._event(message["method"], message["params"])
        except websockets.ConnectionClosed:
            pass
        finally:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(BiDiError("the browser closed its BiDi connection"))

    def _event(self, method: str, params: dict[str, Any]) -> None:
        context = params.get("source", {}).get("context") or params.get("context")
        for page in self.pages:
            if page.context == context:
                page.event(method, params)

    async def send(self, method: str, params: dict[str, Any], within: float = 60) -> Any:
        number = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        await self._ws.send(json.dumps({"id": number, "method": method, "params": params}))
        try:
            message = await asyncio.wait_for(future, within)
        finally:
            self._waiting.pop(number, None)
        if message.get("type") == "error":
            raise BiDiError(f"{method}: {message.get('error')}: {message.get('message')}")
        return message.get("result")

    async def new_page(self, url: str | None = None) -> FirefoxPage:
        """A new tab in a user context of its own (its own cookies and storage)."""
        user_context = (await self.send("browser.createUserContext", {}))["userContext"]
        created = await self.send(
            "browsingContext.create", {"type": "tab", "userContext": user_context}
        )
        page = FirefoxPage(self, created["context"])
        self.pages.append(page)
        if url is not None:
            await page.goto(url)
        return page

    async def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.send("browser.close", {}, within=10), 10)
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self.process.returncode is None:
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                await self.process.wait()
        for task in (self._reader, self._stderr):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        shutil.rmtree(self.profile, ignore_errors=True)


class FirefoxPage:
    """One tab: navigate, run scripts, wait for what a person would see."""

    def __init__(self, browser: Firefox, context: str) -> None:
        self.browser = browser
        self.context = context
        #: Uncaught errors and console.error lines of the page, as text.
        self.errors: list[str] = []
        self.console: list[str] = []

    def event(self, method: str, params: dict[str, Any]) -> None:
        if method == "log.entryAdded":
            text = f"{params.get('level')}: {params.get('text')}"
            self.console.append(text)
            if params.get("type") == "javascript" or params.get("level") == "error":
                self.errors.append(text)
        elif method == "browsingContext.userPromptOpened":
            self.errors.append(f"prompt: {params.get('message')}")

    async def goto(self, url: str) -> None:
        await self.browser.send(
            "browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"}
        )

    async def evaluate(self, expression: str, within: float = 60) -> Any:
        """The value of a JavaScript expression (awaited when a promise), through JSON."""
        wrapped = f"(async () => JSON.stringify(await ({expression}) ?? null))()"
        result = await self.browser.send(
            "script.evaluate",
            {
                "expression": wrapped,
                "target": {"context": self.context},
                "awaitPromise": True,
                "resultOwnership": "none",
            },
            within=within,
        )
        if result.get("type") == "exception":
            details = result.get("exceptionDetails", {})
            raise BiDiError(f"{details.get('text')} in: {expression[:200]}")
        value = result["result"]
        return json.loads(value["value"]) if value.get("type") == "string" else None

    async def wait_for(self, expression: str, within: float = 30, every: float = 0.25) -> Any:
        """Poll until the expression is truthy; its value. Raises TimeoutError with the last one."""
        last: Any = None
        async with asyncio.timeout(within):
            while True:
                try:
                    last = await self.evaluate(expression)
                except BiDiError as error:
                    if "no longer" not in str(error) and "destroyed" not in str(error):
                        raise
                if last:
                    return last
                await asyncio.sleep(every)

    async def activate(self) -> None:
        """Bring this tab to the front, as a person does before clicking or typing in it
        (several tabs of one Firefox: keys sent to a tab behind may never arrive)."""
        await self.browser.send("browsingContext.activate", {"context": self.context})

    async def click(self, selector: str) -> None:
        """Click what the selector finds, once it is there, visible and enabled."""
        found = json.dumps(selector)
        await self.wait_for(
            f"(() => {{ const e = document.querySelector({found});"
            " return !!e && !e.disabled && e.getClientRects().length > 0; })()"
        )
        # A real pointer click through BiDi input, at the element's centre.
        box = await self.evaluate(
            f"(() => {{ const e = document.querySelector({found});"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        await self.activate()
        await self.browser.send(
            "input.performActions",
            {
                "context": self.context,
                "actions": [
                    {
                        "type": "pointer",
                        "id": "mouse",
                        "actions": [
                            {"type": "pointerMove", "x": round(box[0]), "y": round(box[1])},
                            {"type": "pointerDown", "button": 0},
                            {"type": "pointerUp", "button": 0},
                        ],
                    }
                ],
            },
        )


LaunchFirefox = Callable[..., Awaitable[Firefox]]


@contextlib.asynccontextmanager
async def firefox_launcher() -> AsyncIterator[LaunchFirefox]:
    """launch(**prefs) -> a new Firefox ESR; every one is closed on leaving."""
    browsers: list[Firefox] = []

    async def launch(**prefs: Any) -> Firefox:
        browser = await Firefox.launch(prefs)
        browsers.append(browser)
        return browser

    try:
        yield launch
    finally:
        await asyncio.gather(*(b.close() for b in browsers), return_exceptions=True)
