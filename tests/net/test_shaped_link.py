"""The harness shapes a real link: a Chromium viewer in its own network namespace gets
less when its token bucket says so, and loses packets when its relay drops them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import Page

from tests.net.conftest import View
from tests.net.link import Impairment
from tests.net.netns import Namespace
from tests.net.room import Publishers
from tests.net.viewer import STATS, Stream, playing, total_bits_per_s, window

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]


async def measure(page: Page, seconds: float) -> list[Stream]:
    before: list[dict[str, Any]] = await page.evaluate(STATS)
    await asyncio.sleep(seconds)  # the window measured, not a wait for a condition
    return window(before, await page.evaluate(STATS))


async def test_a_token_bucket_and_a_lossy_relay_reach_the_viewers_statistics(
    namespace: Namespace, publish: Publishers, view: View
) -> None:
    await publish.add(1, bitrate=800_000, size=(320, 240))
    page = await view()
    await playing(page, "video")
    free = await measure(page, 4)

    namespace.impair(down=Impairment(loss=0.05))
    await measure(page, 1)
    relayed = namespace.relayed()["down"]
    lossy = await measure(page, 4)
    dropped = {k: v - relayed[k] for k, v in namespace.relayed()["down"].items()}

    namespace.impair(down=Impairment())
    namespace.shape(250_000)
    await measure(page, 2)  # the bucket's queue fills and settles
    limited = await measure(page, 4)

    def lost(streams: list[Stream]) -> tuple[int, int]:
        return sum(s.lost for s in streams), sum(s.packets + s.lost for s in streams)

    rates = total_bits_per_s(free), total_bits_per_s(limited)
    print(f"free {rates[0]:.0f} bit/s, 250 kbit/s bucket {rates[1]:.0f} bit/s; lost: ", end="")
    print(f"free {lost(free)}, 5% loss {lost(lossy)}; relay dropped {dropped}")
    assert rates[0] > 500_000
    assert rates[1] < 250_000 < rates[0]  # payload only: the bucket counts headers too
    assert lost(free)[0] == 0
    assert 0.02 * dropped["arrived"] <= dropped["lost"] <= 0.08 * dropped["arrived"]
    # What the viewer did not get back by asking again (NACK) shows in its statistics.
    assert 0 < lost(lossy)[0] <= dropped["lost"]
