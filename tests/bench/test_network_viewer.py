"""A Chromium viewer behind a constrained link, in a room of six 1 Mbit/s cameras.

The viewer runs in a network namespace of its own (``tests.net``): its downlink goes
through a token bucket (``tc tbf``) and a relay that drops, delays and jitters packets
by a seeded generator. Each case is set on the same viewer, left 8 s to settle, then
measured for 15 s from its WebRTC statistics. Today's forwarding sends every viewer
every camera as published (one layer), whatever its link.
"""

from __future__ import annotations

import asyncio
import os
import statistics
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from tests.bench import report
from tests.net.link import Impairment
from tests.net.netns import Namespace, unavailable
from tests.net.room import publishers, served, viewers
from tests.net.viewer import STATS, Stream, playing, total_bits_per_s, window

pytestmark = pytest.mark.timeout(900)

CAMERAS = 6
SETTLE_S, MEASURE_S = 8.0, 15.0
#: (name, downlink rate in bit/s or None, what the relay does toward the viewer)
CASES: tuple[tuple[str, int | None, Impairment], ...] = (
    ("no limit", None, Impairment()),
    ("5% loss", None, Impairment(loss=0.05)),
    ("100 ms jitter (delay 100 +- 100 ms)", None, Impairment(delay_s=0.1, jitter_s=0.1)),
    ("1 Mbit/s", 1_000_000, Impairment()),
    ("500 kbit/s", 500_000, Impairment()),
)
DROP_RATE, RECOVERY_WINDOW_S = 300_000, 20
LECTURE = "300 kbit/s, a lecture (the trainer's voice alone)"
#: The issue's targets: audio continuous, stage fluid at 1 Mbit/s, back within 10 s.
MAX_CONCEALED, MIN_STAGE_FPS, MAX_RECOVERY_S = 0.02, 15.0, 10.0


#: The stage 480 device pixels tall and the thumbnails 120, told as the classroom page
#: tells them (this bare page lays nothing out).
TILES = """
(ids) => window.media.connection.send("video_sizes", {
  heights: Object.fromEntries(ids.map((id, n) => [id, n === 0 ? 480 : 120])),
})
"""


async def measure(page: Page, seconds: float) -> list[Stream]:
    before: list[dict[str, Any]] = await page.evaluate(STATS)
    await asyncio.sleep(seconds)  # the window measured
    return window(before, await page.evaluate(STATS))


def row(name: str, streams: list[Stream], speaking: str | None = None) -> dict[str, Any]:
    """A case's figures; audio counts the voices of everyone, or only of ``speaking`` (a
    muted voice sends nothing, and Chromium counts its silence as concealed)."""
    voices = [s for s in streams if s.kind == "audio" and speaking in (None, s.participant)]
    videos = [s for s in streams if s.kind == "video"]
    stage = stage_of(streams)
    samples = sum(s.samples for s in voices)
    packets = sum(s.packets + s.lost for s in streams)
    return {
        "case": name,
        "kbit_s": total_bits_per_s(streams) / 1000,
        "concealed": sum(s.concealed for s in voices) / samples if samples else 1.0,
        "stage_fps": stage.fps if stage else 0.0,
        "stage_height": stage.height if stage else 0,
        "median_fps": statistics.median(s.fps for s in videos) if videos else 0.0,
        "freezes": sum(s.freezes for s in videos),
        "frozen": sum(s.frozen_s for s in videos) / (len(videos) * MEASURE_S) if videos else 1.0,
        "lost": sum(s.lost for s in streams) / packets if packets else 0.0,
        "videos": sum(1 for s in videos if s.fps > 0),
    }


def stage_of(streams: list[Stream]) -> Stream | None:
    return next((s for s in streams if s.participant == "camera-0" and s.kind == "video"), None)


async def recovery(
    page: Page, namespace: Namespace, full: dict[str, Any]
) -> tuple[float | None, list[str]]:
    """Seconds from the link's return until the viewer has its full picture again for 3 s:
    the stage at 90% of its unlimited frame rate and at least its unlimited height, and
    as many videos as unlimited; what it got, second by second."""
    namespace.shape(None)
    good: list[bool] = []
    seen: list[str] = []
    for _ in range(RECOVERY_WINDOW_S):
        streams = await measure(page, 1.0)
        stage = stage_of(streams)
        videos = sum(1 for s in streams if s.kind == "video" and s.fps > 0)
        fps, height = (stage.fps, stage.height) if stage else (0.0, 0)
        seen.append(f"{fps:.0f} fps {height}p {videos} videos")
        good.append(
            fps >= 0.9 * full["stage_fps"]
            and height >= full["stage_height"]
            and videos >= full["videos"]
        )
    for start in range(len(good) - 2):
        if all(good[start : start + 3]):
            return float(start), seen
    return None, seen


@pytest.mark.parametrize("layered", [False, True], ids=["single-layer", "simulcast"])
async def test_a_viewer_behind_a_constrained_link(tmp_path: Path, layered: bool) -> None:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    # Chromium decodes six videos: it and the relay get both cores (nothing is pinned; the
    # figures are the link's, not the server's CPU).
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    rows = []
    with Namespace(seed=17) as namespace:
        async with served(namespace, tmp_path) as server, publishers(server) as cameras:
            await cameras.add(CAMERAS, layered=layered)
            async with viewers(namespace, server, tmp_path) as chromium:
                page = await chromium.open()
                await playing(page, "video", CAMERAS, within_s=60)
                await playing(page, "audio", CAMERAS, within_s=60)
                if layered:  # what the classroom page of a laptop says (video_sizes)
                    await page.evaluate(TILES, [f"camera-{n}/camera" for n in range(CAMERAS)])
                for name, rate, impairment in CASES:
                    namespace.shape(rate)
                    namespace.impair(down=impairment)
                    await measure(page, SETTLE_S)
                    rows.append(row(name, await measure(page, MEASURE_S)))
                    print(rows[-1])
                namespace.shape(None)
                namespace.impair(down=Impairment())
                await measure(page, SETTLE_S)
                # Six voices need more than 300 kbit/s (their packets and headers): the
                # drop is a lecture, the trainer's voice alone (the others muted).
                for n in range(1, CAMERAS):
                    await cameras.people[0].send("mute", target=f"camera-{n}", muted=True)
                namespace.shape(DROP_RATE)
                await measure(page, SETTLE_S)
                rows.append(row(LECTURE, await measure(page, MEASURE_S), "camera-0"))
                back, seen = await recovery(page, namespace, rows[0])
    print(rows, back, seen)
    write(rows, back, seen, layered)


def write(rows: list[dict[str, Any]], back: float | None, seen: list[str], layered: bool) -> None:
    one = next(r for r in rows if r["case"] == "1 Mbit/s")
    worst = max(r["concealed"] for r in rows)
    met = worst < MAX_CONCEALED and one["stage_fps"] >= MIN_STAGE_FPS
    met = met and back is not None and back <= MAX_RECOVERY_S
    table = report.table(
        ("link toward the viewer", "received kbit/s", "audio concealed", "stage fps",
         "stage lines", "median video fps", "freezes", "time frozen", "packets lost",
         "videos"),
        [(r["case"], r["kbit_s"], f"{100 * r['concealed']:.1f}%", r["stage_fps"],
          r["stage_height"], r["median_fps"], r["freezes"], f"{100 * r['frozen']:.0f}%",
          f"{100 * r['lost']:.1f}%", r["videos"]) for r in rows],
    )  # fmt: skip
    recovered = f"{back:.0f} s" if back is not None else f"not within {RECOVERY_WINDOW_S} s"
    camera = (
        "the load tool's pre-encoded 640x480 VP8 camera in three simulcast layers (160x120 at "
        "150 kbit/s, 320x240 at 500 kbit/s, 640x480 at 1 Mbit/s), 30 frames a second"
        if layered
        else "the load tool's pre-encoded 1 Mbit/s 640x480 VP8 clip at 30 frames a second"
    )
    how = (
        "Each viewer gets each camera in the layer that fits its tile (the viewer says, as "
        "the classroom page of a laptop would, that it shows the stage 480 pixels tall "
        "and the five others 120), and its video budget steps down a ladder of layers "
        "and videos on loss (thumbnails to their smallest layer, the stage one layer down, "
        "the thumbnails left out, the stage down), never a voice."
        if layered
        else "Forwarding is single-layer: every camera goes to every viewer as it was "
        "published, whatever the viewer's link (no simulcast or SVC, no bandwidth "
        "estimation)."
    )
    body = (
        f"{CAMERAS} publishers ({camera} and an Opus tone; the first is the trainer, "
        "whose camera is counted as the stage) on the host; one observer in Debian's "
        "Chromium inside a network namespace of its own (`tests/net/`): its downlink "
        "goes through a token bucket (`tc tbf`, queue of 300 ms) on a TUN device and a "
        "relay in user space that drops, delays and jitters packets by a seeded "
        "generator (the kernel has no netem; jitter lets packets overtake each other, as "
        "netem's does). Each case is set on the "
        f"same viewer, left {SETTLE_S:.0f} s to settle and measured for {MEASURE_S:.0f} s "
        "from the viewer's WebRTC statistics: audio concealed is the share of samples "
        "Chromium made up (`concealedSamples` / `totalSamplesReceived`, all voices), "
        "freezes are Chromium's `freezeCount` summed over the videos, time frozen their "
        "`totalFreezesDuration` as a share of the window, packets lost after "
        "retransmission (`packetsLost`). A video at 0 fps showed no frame at all, which "
        "Chromium does not count as a freeze.\n\n"
        "Nothing is pinned to a core: Chromium decodes six videos, and the figures are "
        "the link's, not the server's CPU. "
        + how
        + "\n\n"
        + table
        + f"\nSix voices alone need more than {DROP_RATE // 1000} kbit/s (with their "
        "packets' headers), so the drop is a lecture: the trainer mutes the five others. "
        f"After {MEASURE_S:.0f} s at {DROP_RATE // 1000} kbit/s the limit is lifted: the "
        "viewer has its full picture again (the stage at 90% of its unlimited frame rate "
        "and its unlimited height, as many videos as unlimited) for 3 s after "
        f"**{recovered}** (second by second: {'; '.join(seen)}).\n"
    )
    report.write(
        report.Section(
            name="network_viewer_layers" if layered else "network_viewer",
            title=(
                "A viewer behind a constrained link, 6 cameras in simulcast layers"
                if layered
                else "A viewer behind a constrained link, 6 cameras, single-layer forwarding"
            ),
            target="concealed < 2%, stage >= 15 fps at 1 Mbit/s, back within 10 s (issue 17)",
            result=(
                f"1 Mbit/s: {100 * one['concealed']:.0f}% concealed, stage "
                f"{one['stage_fps']:.0f} fps; worst concealed {100 * worst:.0f}%; "
                f"full picture back after the 300 kbit/s drop: {recovered}"
            ),
            met=met,
            body=body,
            command=(
                ".venv/bin/python -m pytest tests/bench/test_network_viewer.py "
                f"-k {'simulcast' if layered else 'single-layer'} "
                "-o addopts='' -p no:cacheprovider -s"
            ),
        )
    )
