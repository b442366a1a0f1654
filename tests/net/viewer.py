"""What a Chromium viewer received, from its WebRTC statistics, over a window of time.

``STATS`` reads every inbound stream of the viewer's subscribe connection with the
participant it shows (``window.media.shown``); ``Window`` turns two readings into
figures: bit rate, frames per second, the height of the last frame, freezes
(Chromium's ``freezeCount``: a frame shown late by more than three times the usual gap,
or 150 ms), packets lost, and the share of audio samples the receiver made up to hide
missing packets (concealed).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from playwright.async_api import Page

STATS = """
async () => {
  const pc = window.media && window.media.subscriber;
  if (!pc) return [];
  const found = [];
  (await pc.getStats()).forEach((s) => {
    if (s.type !== "inbound-rtp") return;
    const shown = window.media.shown.get(s.mid);
    found.push({
      mid: s.mid, kind: s.kind, participant: shown ? shown.participant : null,
      t: s.timestamp / 1000, bytes: s.bytesReceived || 0,
      packets: s.packetsReceived || 0, lost: s.packetsLost || 0,
      frames: s.framesDecoded || 0, freezes: s.freezeCount || 0,
      frozen: s.totalFreezesDuration || 0,
      samples: s.totalSamplesReceived || 0, concealed: s.concealedSamples || 0,
      height: s.frameHeight || 0,
    });
  });
  return found;
}
"""


@dataclasses.dataclass(frozen=True)
class Stream:
    """One inbound stream's figures over a window."""

    mid: str
    kind: str
    participant: str | None
    seconds: float
    bits_per_s: float
    packets: int
    lost: int
    fps: float
    freezes: int
    frozen_s: float
    samples: int
    concealed: int
    height: int = 0  # of the last frame decoded (video)

    @property
    def concealed_ratio(self) -> float:
        return self.concealed / self.samples if self.samples else 0.0


def window(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[Stream]:
    """The streams in both readings, with what changed between them."""
    earlier = {s["mid"]: s for s in before}
    streams = []
    for now in after:
        then = earlier.get(now["mid"])
        if then is None or now["t"] <= then["t"]:
            continue
        seconds = now["t"] - then["t"]

        def grew(key: str, now: dict[str, Any] = now, then: dict[str, Any] = then) -> Any:
            return now[key] - then[key]

        streams.append(
            Stream(
                mid=now["mid"],
                kind=now["kind"],
                participant=now["participant"],
                seconds=seconds,
                bits_per_s=8 * grew("bytes") / seconds,
                packets=grew("packets"),
                lost=grew("lost"),
                fps=grew("frames") / seconds,
                freezes=grew("freezes"),
                frozen_s=grew("frozen"),
                samples=grew("samples"),
                concealed=grew("concealed"),
                height=now["height"],
            )
        )
    return streams


def total_bits_per_s(streams: list[Stream]) -> float:
    return sum(s.bits_per_s for s in streams)


async def playing(page: Page, kind: str, streams: int = 1, within_s: float = 30) -> None:
    """Wait until ``streams`` inbound streams of ``kind`` have decoded something."""
    async with asyncio.timeout(within_s):
        while True:
            found = await page.evaluate(STATS)
            done = [s for s in found if s["kind"] == kind and (s["frames"] or s["samples"])]
            if len(done) >= streams:
                return
            await asyncio.sleep(0.25)
