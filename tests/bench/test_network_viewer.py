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
#: The issue's targets: audio continuous, stage fluid at 1 Mbit/s, back within 10 s.
MAX_CONCEALED, MIN_STAGE_FPS, MAX_RECOVERY_S = 0.02, 15.0, 10.0


async def measure(page: Page, seconds: float) -> list[Stream]:
    before: list[dict[str, Any]] = await page.evaluate(STATS)
    await asyncio.sleep(seconds)  # the window measured
    return window(before, await page.evaluate(STATS))


def row(name: str, streams: list[Stream]) -> dict[str, Any]:
    voices = [s for s in streams if s.kind == "audio"]
    videos = [s for s in streams if s.kind == "video"]
    stage = next((s for s in videos if s.participant == "camera-0"), None)
    samples = sum(s.samples for s in voices)
    packets = sum(s.packets + s.lost for s in streams)
    return {
        "case": name,
        "kbit_s": total_bits_per_s(streams) / 1000,
        "concealed": sum(s.concealed for s in voices) / samples if samples else 1.0,
        "stage_fps": stage.fps if stage else 0.0,
        "median_fps": statistics.median(s.fps for s in videos) if videos else 0.0,
        "freezes": sum(s.freezes for s in videos),
        "frozen": sum(s.frozen_s for s in videos) / (len(videos) * MEASURE_S) if videos else 1.0,
        "lost": sum(s.lost for s in streams) / packets if packets else 0.0,
        "videos": len(videos),
    }


async def recovery(page: Page, namespace: Namespace, full_fps: float) -> tuple[float | None, list]:
    """Seconds from the link's return until the stage keeps 90% of ``full_fps`` for 3 s."""
    namespace.shape(None)
    fps: list[float] = []
    for _ in range(RECOVERY_WINDOW_S):
        streams = await measure(page, 1.0)
        stage = next(
            (s for s in streams if s.participant == "camera-0" and s.kind == "video"), None
        )
        fps.append(stage.fps if stage else 0.0)
    for start in range(len(fps) - 2 if full_fps > 0 else 0):
        if all(f >= 0.9 * full_fps for f in fps[start : start + 3]):
            return float(start), fps
    return None, fps


async def test_a_viewer_behind_a_constrained_link(tmp_path: Path) -> None:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    # Chromium decodes six videos: it and the relay get both cores (nothing is pinned; the
    # figures are the link's, not the server's CPU).
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    rows = []
    with Namespace(seed=17) as namespace:
        async with served(namespace, tmp_path) as server, publishers(server) as cameras:
            await cameras.add(CAMERAS)
            async with viewers(namespace, server, tmp_path) as chromium:
                page = await chromium.open()
                await playing(page, "video", CAMERAS, within_s=60)
                await playing(page, "audio", CAMERAS, within_s=60)
                for name, rate, impairment in CASES:
                    namespace.shape(rate)
                    namespace.impair(down=impairment)
                    await measure(page, SETTLE_S)
                    rows.append(row(name, await measure(page, MEASURE_S)))
                    print(rows[-1])
                namespace.shape(None)
                namespace.impair(down=Impairment())
                await measure(page, SETTLE_S)
                namespace.shape(DROP_RATE)
                await measure(page, SETTLE_S)
                rows.append(row("300 kbit/s", await measure(page, MEASURE_S)))
                back, fps = await recovery(page, namespace, rows[0]["stage_fps"])
    print(rows, back, fps)
    write(rows, back, fps)


def write(rows: list[dict[str, Any]], back: float | None, fps: list[float]) -> None:
    one = next(r for r in rows if r["case"] == "1 Mbit/s")
    worst = max(r["concealed"] for r in rows)
    met = worst < MAX_CONCEALED and one["stage_fps"] >= MIN_STAGE_FPS
    met = met and back is not None and back <= MAX_RECOVERY_S
    table = report.table(
        ("link toward the viewer", "received kbit/s", "audio concealed", "stage fps",
         "median video fps", "freezes", "time frozen", "packets lost", "videos"),
        [(r["case"], r["kbit_s"], f"{100 * r['concealed']:.1f}%", r["stage_fps"],
          r["median_fps"], r["freezes"], f"{100 * r['frozen']:.0f}%",
          f"{100 * r['lost']:.1f}%", r["videos"]) for r in rows],
    )  # fmt: skip
    recovered = f"{back:.0f} s" if back is not None else f"not within {RECOVERY_WINDOW_S} s"
    body = (
        f"{CAMERAS} publishers (the load tool's pre-encoded 1 Mbit/s 640x480 VP8 clip at 30 "
        "frames a second and an Opus tone; the first is the trainer, whose camera is "
        "counted as the stage) on the host; one observer in Debian's Chromium inside a "
        "network namespace of its own (`tests/net/`): its downlink goes through a token "
        "bucket (`tc tbf`, queue of 300 ms) on a TUN device and a relay in user space that "
        "drops, delays and jitters packets by a seeded generator (the kernel has no netem; "
        "jitter lets packets overtake each other, as netem's does). Each case is set on the "
        f"same viewer, left {SETTLE_S:.0f} s to settle and measured for {MEASURE_S:.0f} s "
        "from the viewer's WebRTC statistics: audio concealed is the share of samples "
        "Chromium made up (`concealedSamples` / `totalSamplesReceived`, all voices), "
        "freezes are Chromium's `freezeCount` summed over the videos, time frozen their "
        "`totalFreezesDuration` as a share of the window, packets lost after "
        "retransmission (`packetsLost`). A video at 0 fps showed no frame at all, which "
        "Chromium does not count as a freeze.\n\n"
        "Nothing is pinned to a core: Chromium decodes six videos, and the figures are "
        "the link's, not the server's CPU. "
        "Forwarding is single-layer: every camera goes to every viewer as it was "
        "published, whatever the viewer's link (no simulcast or SVC, no bandwidth "
        "estimation).\n\n"
        + table
        + f"\nAfter {MEASURE_S:.0f} s at {DROP_RATE // 1000} kbit/s the limit is lifted: the "
        f"stage keeps 90% of its unlimited frame rate for 3 s after **{recovered}** "
        f"(frames per second, second by second: {', '.join(f'{f:.0f}' for f in fps)}).\n"
    )
    report.write(
        report.Section(
            name="network_viewer",
            title="A viewer behind a constrained link, 6 cameras, single-layer forwarding",
            target="concealed < 2%, stage >= 15 fps at 1 Mbit/s, back within 10 s (issue 17)",
            result=(
                f"1 Mbit/s: {100 * one['concealed']:.0f}% concealed, stage "
                f"{one['stage_fps']:.0f} fps; worst concealed {100 * worst:.0f}%; "
                f"back after the 300 kbit/s drop: {recovered}"
            ),
            met=met,
            body=body,
            command=(
                ".venv/bin/python -m pytest tests/bench/test_network_viewer.py "
                "-o addopts='' -p no:cacheprovider -s"
            ),
        )
    )
