"""People in a mixed room: the same questions asked of a Chromium page (Playwright) and of a
Firefox ESR page (WebDriver BiDi), answered from what each page decodes and hears."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from playwright.async_api import Page

from tests.browser.firefox import Firefox, FirefoxPage

AnyPage = Page | FirefoxPage
WAIT_S = 60.0  # generous for a loaded 2-core machine: a correctness bound, not a speed one

# What the page receives from each participant's source so far, from its subscribe
# connection's statistics: packets, decoded frames (video) and audio energy (audio).
# Audio energy is measured on decoding, so it is there even where no sound device plays
# (Firefox here). Keys are "participant:source".
RECEIVED = """(async () => {
  const media = window.classroom && window.classroom.media;
  if (!media || !media.subscriber) return {};
  const name = (d) => `${d.participant}:${d.source}`;
  const byMid = new Map([...media.shown].map(([mid, d]) => [mid, name(d)]));
  const byTrack = new Map([...media.shown].map(([, d]) => [d.track.id, name(d)]));
  const out = {};
  (await media.subscriber.getStats()).forEach((r) => {
    if (r.type !== "inbound-rtp") return;
    const key = byMid.get(r.mid) || byTrack.get(r.trackIdentifier);
    if (!key) return;
    out[key] = {
      kind: r.kind,
      packets: r.packetsReceived || 0,
      frames: r.framesDecoded || 0,
      energy: r.totalAudioEnergy || 0,
      level: r.audioLevel || 0,
    };
  });
  return out;
})()"""

# What the page sends on its publish connection, by source.
SENT = """(async () => {
  const media = window.classroom && window.classroom.media;
  if (!media || !media.publisher) return {};
  const bySender = new Map();
  for (const [source, t] of media.sending) bySender.set(t.sender, source);
  const byMid = new Map([...media.sending].map(([source, t]) => [t.mid, source]));
  const out = {};
  (await media.publisher.getStats()).forEach((r) => {
    if (r.type !== "outbound-rtp") return;
    const source = byMid.get(r.mid);
    if (source) out[source] = { packets: r.packetsSent || 0, bytes: r.bytesSent || 0 };
  });
  return out;
})()"""


async def evaluate(page: AnyPage, expression: str) -> Any:
    if isinstance(page, FirefoxPage):
        return await page.evaluate(expression)
    return await page.evaluate(f"() => {expression}")


async def received(page: AnyPage) -> dict[str, dict[str, float]]:
    value: dict[str, dict[str, float]] = await evaluate(page, RECEIVED)
    return value


async def flowing(
    page: AnyPage, participant: str, source: str, measure: str, what: str, seconds: float = WAIT_S
) -> float:
    """Wait until ``measure`` (frames, energy, packets) of a participant's source grows
    between two looks a second apart; the growth. Fails with what the page receives."""
    key = f"{participant}:{source}"
    deadline = time.monotonic() + seconds
    before: float | None = None
    last: dict[str, dict[str, float]] = {}
    while time.monotonic() < deadline:
        last = await received(page)
        now = last.get(key, {}).get(measure)
        if now is not None and before is not None and now > before:
            return now - before
        before = now
        await asyncio.sleep(1.0)
    raise AssertionError(f"{what}: no {measure} from {key}; the page receives {json.dumps(last)}")


async def firefox_join(browser: Firefox, url: str, *, camera: bool = True) -> FirefoxPage:
    """Open a join link in a new Firefox tab, pass the pre-join screen, wait to be in."""
    page = await browser.new_page(url)
    await page.wait_for("!!document.querySelector('#join-button')")
    if not camera:
        await page.evaluate(
            "(() => { const c = document.querySelector('#prejoin-camera');"
            " if (c.checked) c.click(); })()"
        )
    await page.click("#join-button")
    await page.wait_for(
        "document.querySelector('#classroom')?.getAttribute('data-phase') === 'room'", within=WAIT_S
    )
    return page


# Chromium: the loudest RMS of each received audio track over about a second, from an
# AnalyserNode on the track itself (Chromium's totalAudioEnergy counts only what a sound
# device plays, and there is none here; its Web Audio runs all the same).
LOUDNESS = """(async () => {
  const media = window.classroom && window.classroom.media;
  if (!media) return {};
  const taps = (window.__taps = window.__taps || new Map());
  const context = (window.__tapContext = window.__tapContext || new AudioContext());
  await context.resume();
  for (const [, d] of media.shown) {
    if (d.kind !== "audio") continue;
    const key = `${d.participant}:${d.source}`;
    if (taps.get(key)?.track === d.track) continue;
    const analyser = context.createAnalyser();
    analyser.fftSize = 2048;
    context.createMediaStreamSource(new MediaStream([d.track])).connect(analyser);
    taps.set(key, { track: d.track, analyser });
  }
  const samples = new Float32Array(2048);
  const loudest = {};
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (const [key, tap] of taps) {
      if (tap.track.readyState !== "live") continue;
      tap.analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const v of samples) sum += v * v;
      loudest[key] = Math.max(loudest[key] || 0, Math.sqrt(sum / samples.length));
    }
  }
  return loudest;
})()"""

#: Firefox: audio energy (RTCInboundRtpStreamStats.totalAudioEnergy) a source must add in
#: a second to count as heard; a silent track adds about nothing. Chromium: RMS (-40 dBFS).
ENERGY_PER_S = 1e-4
LOUD_RMS = 0.01


async def hears(page: AnyPage, participant: str, source: str, what: str) -> float:
    """Wait until the page hears the participant's source; how loud (energy or RMS)."""
    if isinstance(page, FirefoxPage):
        deadline = time.monotonic() + WAIT_S
        while True:
            gained = await flowing(page, participant, source, "energy", what)
            if gained > ENERGY_PER_S:
                return gained
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: {participant}:{source} is silent ({gained})")
    key = f"{participant}:{source}"
    deadline = time.monotonic() + WAIT_S
    last: dict[str, float] = {}
    while time.monotonic() < deadline:
        last = await evaluate(page, LOUDNESS)
        if last.get(key, 0) > LOUD_RMS:
            return last[key]
    raise AssertionError(f"{what}: never heard {key}; loudness of each source {last}")


async def sees(page: AnyPage, participant: str, source: str, what: str) -> float:
    """Wait until the page decodes new frames of the participant's camera or screen."""
    return await flowing(page, participant, source, "frames", what)


# The interpretation panel's mixer: the gain of each source it mixes ("participant:source").
GAINS = """(() => {
  const panel = document.getElementById("interpretation")?.interpretation;
  if (!panel) return {};
  const out = {};
  for (const [key, input] of panel.mixer.inputs) out[key] = input.gain.gain.value;
  return out;
})()"""


async def gains(page: AnyPage) -> dict[str, float]:
    value: dict[str, float] = await evaluate(page, GAINS)
    return value


async def until_gains(page: AnyPage, check: Any, what: str) -> dict[str, float]:
    deadline = time.monotonic() + WAIT_S
    last: dict[str, float] = {}
    while time.monotonic() < deadline:
        last = await gains(page)
        if check(last):
            return last
        await asyncio.sleep(0.5)
    raise AssertionError(f"{what}: the mixer's gains are {last}")
