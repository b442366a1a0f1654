"""Fixtures of the network tests: a namespace behind a shaped link, ``classroom serve``
where the namespace reaches it, publishers of pre-encoded clips, and a Chromium viewer
in the namespace."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Protocol

import pytest
from playwright.async_api import Page, async_playwright

from loadtest.clip import Clip, encode_audio, encode_video
from loadtest.media import MediaClient
from loadtest.participant import Participant
from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS
from tests.browser.test_lip_sync import PLAY_AUDIO
from tests.browser.test_media import JOIN
from tests.net.netns import Namespace, unavailable
from tests.server import ServerProcess

#: The clips publishers send (encoded once per process: encoding takes seconds).
_CLIPS: dict[tuple[int, int, int], tuple[Clip, Clip]] = {}


def clips(bitrate: int, width: int, height: int) -> tuple[Clip, Clip]:
    key = (bitrate, width, height)
    if key not in _CLIPS:
        video = encode_video(bitrate=bitrate, width=width, height=height, seconds=2.0)
        _CLIPS[key] = (video, encode_audio(seconds=1.0))
    return _CLIPS[key]


@pytest.fixture
def namespace() -> Iterator[Namespace]:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    with Namespace(seed=17) as made:
        yield made


@pytest.fixture
async def server(namespace: Namespace, tmp_path: Path) -> AsyncIterator[ServerProcess]:
    """``classroom serve`` on the host's end of the namespace's link (and only there)."""
    served = ServerProcess(tmp_path / "data", host=namespace.host_ip)
    served.url = f"http://{namespace.host_ip}:{served.port}"
    await served.start()
    try:
        yield served
    finally:
        await served.stop()


class Publish(Protocol):
    def __call__(
        self, count: int, bitrate: int = ..., size: tuple[int, int] = ...
    ) -> Awaitable[list[MediaClient]]: ...


@pytest.fixture
async def publish(server: ServerProcess) -> AsyncIterator[Publish]:
    """publish(n, bitrate=...) -> n publishers of a camera clip and a tone (the first a trainer)."""
    clients: list[MediaClient] = []
    people: list[Participant] = []

    async def start(
        count: int, bitrate: int = 1_000_000, size: tuple[int, int] = (640, 480)
    ) -> list[MediaClient]:
        video, audio = await asyncio.to_thread(clips, bitrate, *size)
        started = []
        for n in range(len(people), len(people) + count):
            role = "trainer" if n == 0 else "trainee"
            token = server.mint(role, f"Camera {n}", sub=f"camera-{n}")
            person = Participant(server.url, token, f"camera-{n}", role)
            await person.join()
            people.append(person)
            client = MediaClient(person, video, audio)
            await client.start()
            clients.append(client)
            started.append(client)
        return started

    yield start
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    await asyncio.gather(*(p.close() for p in people), return_exceptions=True)


View = Callable[[], Awaitable[Page]]


@pytest.fixture
async def view(namespace: Namespace, server: ServerProcess, tmp_path: Path) -> AsyncIterator[View]:
    """view() -> the page of an observer in Chromium inside the namespace, playing what
    it receives (videos and voices)."""
    executable = namespace.chromium(tmp_path, CHROMIUM)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )

        async def open_() -> Page:
            page = await (await browser.new_context()).new_page()
            await page.goto(server.url + "/healthz")
            token = server.mint("observer", "Viewer", sub="viewer")
            await page.evaluate(JOIN, {"token": token, "codecs": None, "publish": False})
            await page.evaluate(PLAY_AUDIO)
            return page

        try:
            yield open_
        finally:
            await browser.close()
