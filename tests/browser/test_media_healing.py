"""Media heals itself: one participant's UDP path is cut for longer than ICE consent lasts
(its websocket stays up), then restored; without a reload its video and audio decode
again within 10 s, everywhere, while the others never stopped seeing and hearing each other.

The cut participant's Chromium runs in a network namespace of its own, made by the test:
its media goes over a veth pair to the server's addresses, and its page and websocket over
the namespace's loopback, relayed by the test to the server's. Taking the veth down cuts
media alone. Needs root (network namespaces) and the real ``classroom serve`` process.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS
from tests.server import ServerProcess

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]

CUT_S = 36  # longer than ICE consent lasts: aioice gives up after 24 to 36 s, Chromium 30 s
HEAL_S = 10  # the promise: media again within this long after the path is back
WAIT_S = 60  # generous bounds for a loaded 2-core machine (not speed bounds)
CLONE_NEWNET = 0x40000000

# What each page decodes, per other participant: frames its tile's <video> has shown,
# and audio samples decoded from what arrived (concealment, made up for missing
# packets, does not count).
COUNTS = """
async () => {
  const out = {};
  for (const video of document.querySelectorAll(".tile[data-source='camera'] video")) {
    const id = video.closest(".tile").dataset.participant;
    const frames = video.getVideoPlaybackQuality().totalVideoFrames;
    if (id !== window.classroom.you) out[`${id}:video`] = frames;
  }
  const media = window.classroom.media;
  if (media && media.subscriber) {
    const voices = new Map([...media.shown].filter(([, d]) => d.source === "microphone")
      .map(([mid, d]) => [mid, d.participant]));
    (await media.subscriber.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "audio" && voices.has(r.mid)) {
        const decoded = (r.totalSamplesReceived || 0) - (r.concealedSamples || 0);
        out[`${voices.get(r.mid)}:audio`] = decoded;
      }
    });
  }
  return out;
}
"""


def run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


class CutNetwork:
    """A network namespace whose only way out for media is a veth pair to this host."""

    def __init__(self) -> None:
        tag = os.getpid() % 100_000
        self.name = f"classroom-heal-{tag}"
        self.outer, self.inner = f"ch{tag}o", f"ch{tag}i"
        net = f"10.231.{tag % 250}"
        self.host, self.guest = f"{net}.1", f"{net}.2"

    def create(self) -> None:
        run("ip", "netns", "add", self.name)
        run("ip", "link", "add", self.outer, "type", "veth", "peer", "name", self.inner,
            "netns", self.name)  # fmt: skip
        run("ip", "addr", "add", f"{self.host}/30", "dev", self.outer)
        run("ip", "link", "set", self.outer, "up")
        self.inside("ip", "addr", "add", f"{self.guest}/30", "dev", self.inner)
        self.inside("ip", "link", "set", "lo", "up")
        self.restore()

    def inside(self, *command: str) -> None:
        run("ip", "netns", "exec", self.name, *command)

    def cut(self) -> None:
        self.inside("ip", "link", "set", self.inner, "down")

    def restore(self) -> None:
        self.inside("ip", "link", "set", self.inner, "up")
        self.inside("ip", "route", "replace", "default", "via", self.host)

    def delete(self) -> None:
        # The namespace may be busy for a moment while its Chromium exits: try again.
        for _ in range(50):
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
            subprocess.run(["ip", "link", "del", self.outer], capture_output=True)
            if not Path(f"/run/netns/{self.name}").exists():
                return
            time.sleep(0.1)

    def listen(self, port: int) -> socket.socket:
        """A TCP socket listening on the namespace's 127.0.0.1 (sockets keep the
        namespace they were made in; setns applies to the calling thread only)."""
        libc = ctypes.CDLL(None, use_errno=True)
        made: dict[str, Any] = {}

        def make() -> None:
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            theirs = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
            try:
                if libc.setns(theirs, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
                try:
                    sock = socket.socket()
                    sock.bind(("127.0.0.1", port))
                    sock.listen()
                    sock.setblocking(False)
                    made["socket"] = sock
                finally:
                    if libc.setns(own, CLONE_NEWNET) != 0:
                        made["error"] = OSError(ctypes.get_errno(), "setns back")
            except OSError as error:
                made.setdefault("error", error)
            finally:
                os.close(own)
                os.close(theirs)

        thread = threading.Thread(target=make)
        thread.start()
        thread.join()
        if "error" in made:
            raise made["error"]
        sock: socket.socket = made["socket"]
        return sock


@pytest.fixture
def network() -> Iterator[CutNetwork]:
    net = CutNetwork()
    net.delete()  # left over from a run that was killed
    net.create()
    try:
        yield net
    finally:
        net.delete()


@contextlib.asynccontextmanager
async def relay(listening: socket.socket, port: int) -> AsyncIterator[None]:
    """Every connection to ``listening`` is piped to 127.0.0.1:``port`` of this namespace."""
    tasks: set[asyncio.Task[None]] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        for task in (pipe(reader, up_writer), pipe(up_reader, writer)):
            tasks.add(asyncio.get_running_loop().create_task(task))

    server = await asyncio.start_server(accepted, sock=listening)
    try:
        yield
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def join(browser: Browser, url: str) -> Page:
    page = await (await browser.new_context()).new_page()
    await page.goto(url)
    await page.locator("#join-button").click(timeout=WAIT_S * 1000)
    await expect(page.locator("#classroom")).to_have_attribute(
        "data-phase", "room", timeout=WAIT_S * 1000
    )
    return page


async def counts(page: Page) -> dict[str, int]:
    found: dict[str, int] = await page.evaluate(COUNTS)
    return found


async def flowing(pages: dict[str, Page], within_s: float) -> float:
    """Until each page decodes every other participant's video and audio (counts move on
    from the first ones seen): seconds it took; fails after ``within_s``."""
    start = time.monotonic()
    first: dict[tuple[str, str], int] = {}
    while True:
        waiting = []
        for me, page in pages.items():
            now = await counts(page)
            for other in pages:
                for kind in ("video", "audio") if other != me else ():
                    key = f"{other}:{kind}"
                    seen = first.setdefault((me, key), now[key]) if key in now else None
                    if seen is None or now[key] <= seen:
                        waiting.append(f"{me} <- {key}")
        if not waiting:
            return time.monotonic() - start
        assert time.monotonic() - start < within_s, f"not decoding: {waiting}"
        await asyncio.sleep(0.3)


async def test_media_cut_for_longer_than_consent_heals_without_a_reload(
    tmp_path: Path, network: CutNetwork
) -> None:
    server = ServerProcess.as_users_run_it(tmp_path / "work")
    await server.start()
    wrapper = tmp_path / "chromium-in-namespace"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {network.name} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    listening = network.listen(server.port)
    try:
        async with relay(listening, server.port), async_playwright() as playwright:
            flags = [*CHROMIUM_FLAGS]
            outside = await playwright.chromium.launch(executable_path=CHROMIUM, args=flags)
            inside = await playwright.chromium.launch(executable_path=str(wrapper), args=flags)
            try:
                await heal(server, outside, inside, network)
            finally:
                await inside.close()
                await outside.close()
    except BaseException:
        print(server.output()[-4000:])
        raise
    finally:
        listening.close()
        await server.stop()


async def heal(server: ServerProcess, outside: Browser, inside: Browser, net: CutNetwork) -> None:
    def link(role: str, name: str) -> str:
        token = server.mint(role, name.title(), sub=name)
        return f"{server.url}/join?token={token}"

    pages = {
        "tea": await join(outside, link("trainer", "tea")),
        "besa": await join(outside, link("trainee", "besa")),
        "goran": await join(inside, link("trainee", "goran")),  # the one to be cut off
    }
    goran = pages["goran"]
    others = {who: pages[who] for who in ("tea", "besa")}
    await flowing(pages, WAIT_S)
    await goran.evaluate("window.sameDocument = true")
    status = goran.locator("#media-state")
    await expect(status).to_be_hidden()

    net.cut()
    cut_at = time.monotonic()
    await expect(status).to_be_visible(timeout=WAIT_S * 1000)
    await expect(status).to_have_text("Reconnecting media…")
    while time.monotonic() - cut_at < CUT_S:  # the others never stop
        await flowing(others, 10)
        await asyncio.sleep(2)
    assert await goran.evaluate("window.classroom.media.health.reconnecting")

    net.restore()
    took = await flowing(pages, HEAL_S)
    print(f"media decoded everywhere again {took:.1f} s after the path came back")
    await expect(status).to_be_hidden(timeout=HEAL_S * 1000)
    assert await goran.evaluate("window.sameDocument === true")  # no reload
    attempts = await goran.evaluate("window.classroom.media.health.attempts")
    print(f"{attempts} repairs")
    assert attempts >= 1
