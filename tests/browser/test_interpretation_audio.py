"""What a listener hears, by its spectrum: real Chromium voices through the real media server.

Each browser's fake microphone plays its own sine tone (the trainer 440 Hz, the Serbian
interpreter 1000 Hz, her booth partner 1700 Hz). A listener who picks the Serbian
channel must hear the interpreter at full level and the floor about 14 dB lower (at
full level while the floor speaks Serbian), and after the handover the partner as
loud as the interpreter was, with the first interpreter gone.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import LaunchBrowser, LiveServer
from tests.conftest import Mint

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"
# Lands with the media server; until then there is nothing to carry the voices.
pytestmark = pytest.mark.skipif(
    not (STATIC / "media.js").exists(), reason="the media server's browser side is not there yet"
)

RATE = 48_000
FLOOR_HZ, IVANA_HZ, IGOR_HZ = 440, 1000, 1700


def tone(path: Path, frequency: float, seconds: float = 5.0) -> Path:
    """A mono 16-bit WAV of one sine tone (Chromium loops it as the fake microphone)."""
    t = np.arange(int(RATE * seconds)) / RATE
    samples = (0.4 * 32767 * np.sin(2 * np.pi * frequency * t)).astype("<i2")
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(RATE)
        file.writeframes(samples.tobytes())
    return path


async def voice(launch: LaunchBrowser, tmp: Path, frequency: float) -> Browser:
    """A browser whose fake microphone plays ``frequency`` (each voice needs its own)."""
    wav = tone(tmp / f"tone-{frequency}.wav", frequency)
    return await launch(f"--use-file-for-fake-audio-capture={wav}")


async def person(
    browser: Browser, server: LiveServer, token: str, *, microphone: bool = True
) -> Page:
    """Someone in the room (a context of their own), camera off to spare the machine."""
    page = await (await browser.new_context()).new_page()
    await page.goto(server.join_url(token))
    await page.locator("#prejoin-camera").uncheck()
    if not microphone:
        await page.locator("#prejoin-microphone").uncheck()
    await page.locator("#join-button").click()
    await expect(page.locator("#classroom")).to_have_attribute("data-phase", "room")
    await expect(page.locator("#interpretation")).to_be_visible()
    return page


# Taps the mixer's output (everything the listener hears) with an AnalyserNode and
# returns, for each frequency, the strongest level in dB near it, averaged over frames.
SPECTRUM = """
async (frequencies) => {
  const panel = document.getElementById("interpretation").interpretation;
  const mixer = panel.mixer;
  mixer.resume();
  if (!window.__analyser) {
    const analyser = mixer.context.createAnalyser();
    analyser.fftSize = 8192;
    analyser.smoothingTimeConstant = 0;
    mixer.output.connect(analyser);
    window.__analyser = analyser;
  }
  const analyser = window.__analyser;
  const bins = new Float32Array(analyser.frequencyBinCount);
  const hz = mixer.context.sampleRate / analyser.fftSize;
  const sums = frequencies.map(() => 0);
  const frames = 8;
  for (let frame = 0; frame < frames; frame++) {
    await new Promise((resolve) => setTimeout(resolve, 60));
    analyser.getFloatFrequencyData(bins);
    frequencies.forEach((f, i) => {
      const centre = Math.round(f / hz);
      let best = -Infinity;
      for (let b = centre - 3; b <= centre + 3; b++) best = Math.max(best, bins[b]);
      sums[i] += Math.max(best, -160);
    });
  }
  return sums.map((sum) => sum / frames);
}
"""


async def levels(page: Page) -> dict[int, float]:
    values: list[float] = await page.evaluate(SPECTRUM, [FLOOR_HZ, IVANA_HZ, IGOR_HZ])
    return dict(zip((FLOOR_HZ, IVANA_HZ, IGOR_HZ), values, strict=True))


async def until(page: Page, condition: Any, what: str, attempts: int = 120) -> dict[int, float]:
    """Measure until ``condition(levels)`` holds (media takes a moment to flow)."""
    measured: dict[int, float] = {}
    for _ in range(attempts):
        measured = await levels(page)
        if condition(measured):
            return measured
    raise AssertionError(f"{what}: never heard; last levels {measured}")


async def settled(page: Page, frequency: int) -> float:
    """The level of ``frequency`` once the sender's gain control has settled (within 1 dB)."""
    previous = (await levels(page))[frequency]
    for _ in range(60):
        current = (await levels(page))[frequency]
        if abs(current - previous) < 1 and current > -90:
            return current
        previous = current
    raise AssertionError(f"{frequency} Hz never settled (last {previous:.1f} dB)")


async def listener(launch: LaunchBrowser, server: LiveServer, mint: Mint) -> Page:
    """Ana listens in a browser of her own (no voice): in another's, its echo canceller
    would take what she plays back for an echo and cancel it from that microphone."""
    token = mint("trainee", "Ana", sub="a", lang="en")
    return await person(await launch(), server, token, microphone=False)


async def interpreter(
    launch: LaunchBrowser, tmp: Path, server: LiveServer, mint: Mint, name: str, frequency: int
) -> Page:
    """An interpreter into Serbian, heard through their channel voice only (the panel
    publishes it): the page's own microphone would never be forwarded, so it stays off."""
    token = mint("interpreter", name, sub=name.lower(), lang="sr")
    return await person(await voice(launch, tmp, frequency), server, token, microphone=False)


# Three browsers a test: four voices at once are more than a busy two-core machine carries.


@pytest.mark.timeout(300)
async def test_the_listener_hears_the_interpreter_loud_and_the_floor_lowered(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint, tmp_path: Path
) -> None:
    floor_browser = await voice(launch_browser, tmp_path, FLOOR_HZ)
    tea = await person(floor_browser, live_server, mint("trainer", "Tea", sub="t", lang="en"))
    await interpreter(launch_browser, tmp_path, live_server, mint, "Ivana", IVANA_HZ)
    ana = await listener(launch_browser, live_server, mint)

    # On the original, only the floor is heard: no interpreter at all. The floor's level
    # is taken once the trainer's browser has settled its gain control on the tone.
    await until(ana, lambda m: m[FLOOR_HZ] > -90, "the floor")
    floor = await settled(ana, FLOOR_HZ)

    def lowered(m: dict[int, float]) -> bool:  # about 14 dB under its full level
        return 8 < floor - m[FLOOR_HZ] < 20

    await until(ana, lambda m: m[IVANA_HZ] < floor - 40, "the original alone")

    # The Serbian channel: Ivana at full level over the lowered floor. Each step is
    # measured until it holds (a loaded machine may drop packets for a moment).
    await ana.get_by_role("radio", name="Serbian").check()
    await until(
        ana, lambda m: lowered(m) and m[IVANA_HZ] > m[FLOOR_HZ] + 8, "Ivana over a lowered floor"
    )

    # The trainer says the floor now speaks Serbian: its listeners hear the floor in full.
    await tea.get_by_label("Floor language").select_option("sr")
    await until(
        ana,
        lambda m: abs(m[FLOOR_HZ] - floor) < 4 and m[IVANA_HZ] > -60,
        "the floor at full level",
    )
    await tea.get_by_label("Floor language").select_option("")
    await until(ana, lowered, "the floor lowered again")


@pytest.mark.timeout(300)
async def test_after_the_handover_the_listener_hears_the_partner_instead(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint, tmp_path: Path
) -> None:
    ivana = await interpreter(launch_browser, tmp_path, live_server, mint, "Ivana", IVANA_HZ)
    igor = await interpreter(launch_browser, tmp_path, live_server, mint, "Igor", IGOR_HZ)
    ana = await listener(launch_browser, live_server, mint)
    await ana.get_by_role("radio", name="Serbian").check()
    await until(ana, lambda m: m[IVANA_HZ] > -60, "Ivana")
    ivana_level = await settled(ana, IVANA_HZ)
    await until(ana, lambda m: m[IGOR_HZ] < ivana_level - 40, "Ivana alone")

    await ivana.get_by_role("button", name="Ponudi predaju").click()
    await igor.get_by_role("button", name="Preuzmi").click()
    await until(
        ana,
        lambda m: abs(m[IGOR_HZ] - ivana_level) < 6 and m[IVANA_HZ] < m[IGOR_HZ] - 40,
        "Igor instead of Ivana after the handover",
    )
