"""A viewer whose link loses packets hears every voice whole: the server repeats each
voice's earlier frames in its packets (RFC 2198 ``red``, ``media.redundancy``) once the
viewer's receiver reports say audio is lost, and Chromium rebuilds a lost packet's
frame from the next one. The publishers' Opus is the load tool's, encoded without
in-band FEC, so without the repeats every lost packet is a gap the listener hears."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.net.conftest import View
from tests.net.link import Impairment
from tests.net.netns import Namespace
from tests.net.room import Publishers
from tests.net.viewer import STATS, playing, window
from tests.server import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

VOICES = 2
LOSS = 0.05

REDUNDANT = "classroom_media_packets_redundant_total"


async def redundant(server: ServerProcess) -> float:
    """Audio packets the server sent with earlier frames repeated, from its /metrics."""
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/metrics") as response:
        text = await response.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == REDUNDANT:
                return float(sample.value)
    raise AssertionError(f"/metrics has no {REDUNDANT}")


async def test_a_viewer_on_a_lossy_link_hears_every_voice_whole(
    namespace: Namespace, server: ServerProcess, publish: Publishers, view: View
) -> None:
    await publish.add(VOICES, bitrate=200_000, size=(320, 240))
    page = await view()
    await playing(page, "audio", VOICES)
    await asyncio.sleep(2)  # the window of a clean link, measured
    assert await redundant(server) == 0  # a clean link pays nothing

    namespace.impair(down=Impairment(loss=LOSS))
    async with asyncio.timeout(20):  # the viewer's next reports tell the server
        while True:
            if await redundant(server):
                break
            await asyncio.sleep(0.5)
    await asyncio.sleep(1)  # packets sent before it are still in the jitter buffer
    before: list[dict[str, Any]] = await page.evaluate(STATS)
    await asyncio.sleep(12)  # the window measured
    voices = [s for s in window(before, await page.evaluate(STATS)) if s.kind == "audio"]
    lost = sum(s.lost for s in voices) / max(1, sum(s.packets + s.lost for s in voices))
    concealed = sum(s.concealed for s in voices) / max(1, sum(s.samples for s in voices))
    print(f"packets lost {lost:.4f}, samples concealed {concealed:.4f}")
    assert len(voices) == VOICES and all(s.samples for s in voices)
    assert lost > LOSS / 2  # the link did lose (the relay's seeded 5%)
    # ... and the listener heard little of it (each lost packet is a gap without repeats:
    # 3.4-4.3% of samples concealed; with them 0.2-1.0%).
    assert concealed < lost / 2
