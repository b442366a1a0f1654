"""A voice heard through a lossy link: how much of it the viewer's Chromium conceals.

A Chromium publisher (fake microphone and camera, on the host) and a Chromium viewer in
a network namespace (``tests.net``) whose downlink loses 5% of its packets. Measured
from the viewer's statistics: the share of audio samples concealed
(``concealedSamples / totalSamplesReceived``) and the packets lost after
retransmission. Opus in-band FEC can only help where the publisher's encoder adds it,
which it does for the loss it is told of.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS
from tests.browser.test_media import JOIN
from tests.net.link import Impairment
from tests.net.netns import Namespace, unavailable
from tests.net.room import served, viewers
from tests.net.viewer import STATS, playing, window

pytestmark = pytest.mark.timeout(300)

LOSS, SETTLE_S, MEASURE_S = 0.05, 15.0, 30.0


async def test_a_voice_through_a_link_that_loses_5_percent(tmp_path: Path) -> None:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    with Namespace(seed=23) as namespace:
        async with served(namespace, tmp_path) as server, async_playwright() as playwright:
            # The server's address on the link is not localhost: let the page use devices.
            secure = f"--unsafely-treat-insecure-origin-as-secure={server.url}"
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_FLAGS, secure]
            )
            try:
                publisher = await (await browser.new_context()).new_page()
                await publisher.goto(server.url + "/healthz")
                token = server.mint("trainer", "Ana", sub="ana")
                await publisher.evaluate(JOIN, {"token": token, "codecs": None, "publish": True})
                async with viewers(namespace, server, tmp_path) as chromium:
                    page = await chromium.open()
                    await playing(page, "audio", 1, within_s=60)
                    namespace.impair(down=Impairment(loss=LOSS))
                    await asyncio.sleep(SETTLE_S)  # the encoder hears of the loss, or not
                    before: list[dict[str, Any]] = await page.evaluate(STATS)
                    relayed = namespace.relayed()["down"]
                    await asyncio.sleep(MEASURE_S)  # the window measured
                    streams = window(before, await page.evaluate(STATS))
                    dropped = {k: v - relayed[k] for k, v in namespace.relayed()["down"].items()}
            finally:
                await browser.close()
    voice = next(s for s in streams if s.kind == "audio")
    print(
        f"concealed {100 * voice.concealed_ratio:.2f}% of {voice.samples} samples; "
        f"audio packets lost after retransmission {voice.lost} of {voice.packets + voice.lost}; "
        f"relay dropped {dropped['lost']} of {dropped['arrived']} packets"
    )
    assert voice.samples > 0
