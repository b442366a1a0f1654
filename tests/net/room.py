"""A room to measure a shaped viewer in: ``classroom serve`` where the namespace reaches it,
publishers of pre-encoded clips on the host, and a Chromium viewer inside the namespace.

The publishers are the load tool's (``loadtest.media``): a VP8 clip and an Opus tone
encoded once and sent as they are, answering keyframe requests from the clip's next
keyframe, so that six of them cost the 2-core machine almost nothing and each sends
what it was asked to (a Chromium publisher would pick its own rate).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

from loadtest.clip import Clip, SimulcastClip, encode_audio, encode_simulcast, encode_video
from loadtest.media import MediaClient
from loadtest.participant import Participant
from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS
from tests.browser.test_lip_sync import PLAY_AUDIO
from tests.browser.test_media import JOIN
from tests.net.netns import Namespace
from tests.server import ServerProcess

#: The clips publishers send (encoded once per process: encoding takes seconds).
_CLIPS: dict[tuple[int, int, int, bool], tuple[Clip | SimulcastClip, Clip]] = {}


def clips(
    bitrate: int, width: int, height: int, layered: bool = False
) -> tuple[Clip | SimulcastClip, Clip]:
    """A camera clip (in three simulcast layers when ``layered``) and a tone."""
    key = (bitrate, width, height, layered)
    if key not in _CLIPS:
        video: Clip | SimulcastClip
        if layered:
            video = encode_simulcast(bitrate=bitrate, width=width, height=height, seconds=2.0)
        else:
            video = encode_video(bitrate=bitrate, width=width, height=height, seconds=2.0)
        _CLIPS[key] = (video, encode_audio(seconds=1.0))
    return _CLIPS[key]


@contextlib.asynccontextmanager
async def served(namespace: Namespace, directory: Path) -> AsyncIterator[ServerProcess]:
    """``classroom serve`` on the host's end of the namespace's link (and only there)."""
    server = ServerProcess(directory / "data", host=namespace.host_ip)
    server.url = f"http://{namespace.host_ip}:{server.port}"
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class Publishers:
    """Publishers of a camera clip and a tone; the first is the trainer."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.clients: list[MediaClient] = []
        self.people: list[Participant] = []

    async def add(
        self,
        count: int,
        bitrate: int = 1_000_000,
        size: tuple[int, int] = (640, 480),
        layered: bool = False,
    ) -> list[MediaClient]:
        """``count`` cameras of ``bitrate`` (the full layer's, when ``layered``)."""
        video, audio = await asyncio.to_thread(clips, bitrate, *size, layered)
        started = []
        for _ in range(count):
            n = len(self.people)
            role = "trainer" if n == 0 else "trainee"
            token = self.server.mint(role, f"Camera {n}", sub=f"camera-{n}")
            person = Participant(self.server.url, token, f"camera-{n}", role)
            await person.join()
            self.people.append(person)
            client = MediaClient(person, video, audio)
            await client.start()
            self.clients.append(client)
            started.append(client)
        return started

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)
        await asyncio.gather(*(p.close() for p in self.people), return_exceptions=True)


@contextlib.asynccontextmanager
async def publishers(server: ServerProcess) -> AsyncIterator[Publishers]:
    made = Publishers(server)
    try:
        yield made
    finally:
        await made.close()


class Viewers:
    """Observers' pages in one Chromium inside the namespace, playing what they receive."""

    def __init__(self, browser: Browser, server: ServerProcess) -> None:
        self.browser, self.server = browser, server
        self.count = 0

    async def open(self) -> Page:
        self.count += 1
        page = await (await self.browser.new_context()).new_page()
        await page.goto(self.server.url + "/healthz")
        token = self.server.mint("observer", f"Viewer {self.count}", sub=f"viewer-{self.count}")
        await page.evaluate(JOIN, {"token": token, "codecs": None, "publish": False})
        await page.evaluate(PLAY_AUDIO)
        return page


@contextlib.asynccontextmanager
async def viewers(
    namespace: Namespace, server: ServerProcess, directory: Path
) -> AsyncIterator[Viewers]:
    executable = namespace.chromium(directory, CHROMIUM)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield Viewers(browser, server)
        finally:
            await browser.close()
