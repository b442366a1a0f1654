"""Simulcast through ``classroom serve`` run as users run it (default settings, from a
working directory of its own): the load tool publishes a camera in three layers (160x120
at 150 kbit/s, 320x240 at 500 kbit/s, 640x480 at 1 Mbit/s) and a viewer says how tall it
shows it (``video_sizes``); what arrives follows, without a new offer."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from loadtest.clip import encode_audio, encode_simulcast
from loadtest.media import MediaClient
from loadtest.participant import Participant
from tests.server import ServerProcess

pytestmark = pytest.mark.timeout(120)


async def video_kbit_s(viewer: MediaClient, seconds: float = 2.0) -> float:
    """The bit rate of the video the viewer gets, over ``seconds``."""
    before = {r: v for r, v in viewer.readings().items() if viewer.shown()[r][0] == "video"}
    await asyncio.sleep(seconds)
    after = viewer.readings()
    total = sum(after[r].bytes - b.bytes for r, b in before.items() if r in after)
    return total * 8 / seconds / 1000


async def settles_at(viewer: MediaClient, low: float, high: float, what: str) -> float:
    """Wait (at most 20 s) for the video's rate to be within [low, high] kbit/s."""
    deadline = time.monotonic() + 20
    rates = []
    while time.monotonic() < deadline:
        rates.append(await video_kbit_s(viewer))
        if low <= rates[-1] <= high:
            return rates[-1]
    raise AssertionError(f"never {what} ({low}-{high} kbit/s): {rates}")


async def test_a_viewer_gets_the_layer_that_fits_its_tile(tmp_path: Path) -> None:
    video = await asyncio.to_thread(encode_simulcast, bitrate=1_000_000, seconds=2.0)
    audio = encode_audio(seconds=1.0)
    server = ServerProcess.as_users_run_it(tmp_path / "work")
    await server.start()
    people: list[Participant] = []
    clients: list[MediaClient] = []
    try:
        for pid, role in (("tea", "trainer"), ("besa", "trainee")):
            person = Participant(server.url, server.mint(role, pid.title(), sub=pid), pid, role)
            await person.join()
            people.append(person)
        tea, besa = people
        publisher = MediaClient(tea, video, audio)
        viewer = MediaClient(besa)
        clients += [publisher, viewer]
        await publisher.start()
        await viewer.start()

        # Before the page says anything: the full layer.
        await settles_at(viewer, 700, 1400, "the full layer")
        # A gallery tile 100 pixels tall: the quarter layer, switched at its keyframe.
        await besa.send("video_sizes", heights={"tea/camera": 100})
        await settles_at(viewer, 80, 250, "the quarter layer")
        # 230 pixels: the half layer.
        await besa.send("video_sizes", heights={"tea/camera": 230})
        await settles_at(viewer, 330, 700, "the half layer")
        # The stage of a room screen: the full one again.
        await besa.send("video_sizes", heights={"tea/camera": 1080})
        await settles_at(viewer, 700, 1400, "the full layer again")
        # One stream all along: every switch went on in the same m-line, no new offer,
        # and its sequence numbers without a gap (no packet the viewer would miss).
        assert viewer.offers == 1
        videos = [c for kind, c in viewer.shown().values() if kind == "video"]
        assert len(videos) == 1
        reading = videos[0].reading()
        assert reading.expected - reading.packets <= 0, reading
        assert viewer.error is None and publisher.error is None
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        await asyncio.gather(*(p.close() for p in people), return_exceptions=True)
        await server.stop()
