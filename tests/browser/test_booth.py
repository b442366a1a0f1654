"""The interpreter's booth in real Chromium against a real ``classroom serve`` (default
settings, from a working directory of its own).

Each voice is a browser whose fake microphone plays its own sine tone; what a listener
hears is measured with a Web Audio analyser on their mixer (as in
test_interpretation_audio.py). The booth is the interpreter's classroom page: their
join link opens it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import LaunchBrowser
from tests.browser.test_interpretation_audio import voice
from tests.server import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

FLOOR_HZ, EMMA_HZ, RANIA_HZ = 440, 1000, 1700
SILENT_DB = -90


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess.as_users_run_it(tmp_path / "site")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def person(
    browser: Browser,
    server: ServerProcess,
    role: str,
    name: str,
    lang: str,
    mic: bool = False,
    headset: bool = False,
) -> Page:
    """Someone in the room through their join link, camera off (and microphone off unless
    asked: an interpreter's channel voice is published by the booth itself), saying they
    wear a headset if asked (the microphone's processing: web/static/prejoin.js)."""
    token = server.mint(role, name, sub=name.lower(), lang=lang)
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{server.url}/join?token={token}")
    await page.locator("#prejoin-camera").uncheck()
    if not mic:
        await page.locator("#prejoin-microphone").uncheck()
    if headset:
        await page.locator("#prejoin-headset").check()
    await page.locator("#join-button").click()
    await expect(page.locator("#classroom")).to_have_attribute("data-phase", "room")
    await expect(page.locator("#interpretation h2")).to_have_count(1, timeout=30_000)  # mounted
    return page


async def speaker(
    launch: LaunchBrowser, tmp: Path, server: ServerProcess, name: str, lang: str, hz: int
) -> Page:
    """An interpreter in a browser of their own, whose microphone plays ``hz``."""
    return await person(await voice(launch, tmp, hz), server, "interpreter", name, lang)


# What one page hears of some frequencies (dB), from its mixer's output.
LEVELS = """
async (frequencies) => {
  const mixer = document.getElementById("interpretation").interpretation.mixer;
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
  for (let frame = 0; frame < 4; frame++) {
    await new Promise((resolve) => setTimeout(resolve, 60));
    analyser.getFloatFrequencyData(bins);
    frequencies.forEach((f, i) => {
      const centre = Math.round(f / hz);
      let best = -Infinity;
      for (let b = centre - 3; b <= centre + 3; b++) best = Math.max(best, bins[b]);
      sums[i] += Math.max(best, -160);
    });
  }
  return sums.map((sum) => sum / 4);
}
"""


Levels = dict[int, float]


async def hears(page: Page, condition: Callable[[Levels], bool], what: str) -> Levels:
    """Measure until ``condition({hz: dB})`` holds (media takes a moment to flow)."""
    frequencies = [FLOOR_HZ, EMMA_HZ, RANIA_HZ]
    measured: Levels = {}
    for _ in range(150):
        values = await page.evaluate(LEVELS, frequencies)
        measured = dict(zip(frequencies, values, strict=True))
        if condition(measured):
            return measured
    raise AssertionError(f"{what}: last levels {measured}")


# Times the cough in the interpreter's page: from the key's event to the first block of
# silence in what the booth sends into the channel (the gate feeding its interpretation
# track, where the encoder takes it).
COUGH_CLOCK = """
async () => {
  const booth = document.getElementById("interpretation").interpretation.boothView;
  const gate = booth.console.gate;
  const analyser = gate.context.createAnalyser();
  analyser.fftSize = 256;
  gate.connect(analyser);
  const block = new Float32Array(analyser.fftSize);
  const peak = () => {
    analyser.getFloatTimeDomainData(block);
    return block.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  };
  for (let i = 0; i < 500 && peak() < 0.01; i++) await new Promise((r) => setTimeout(r, 10));
  if (peak() < 0.01) throw new Error("the booth sends nothing before the cough");
  window.__cough = new Promise((resolve) => {
    let pressed = null;
    document.addEventListener("keydown", (event) => {
      if (event.key === "c" && pressed === null) pressed = event.timeStamp;
    }, { capture: true });
    const look = () => {
      if (pressed !== null && peak() < 1e-4) resolve(performance.now() - pressed);
      else setTimeout(look, 1);
    };
    look();
  });
}
"""


async def test_an_interpreter_switches_a_and_b_and_sees_the_audience(
    served: ServerProcess, launch_browser: LaunchBrowser, tmp_path: Path
) -> None:
    quiet = await launch_browser()
    tea = await person(quiet, served, "trainer", "Tea", "en")
    emma = await speaker(launch_browser, tmp_path, served, "Emma", "en", EMMA_HZ)
    ana = await person(quiet, served, "trainee", "Ana", "en")
    besa = await person(quiet, served, "trainee", "Besa", "en")

    # The booth is Emma's page: on air in English, nobody listening yet.
    await expect(emma.locator("#booth")).to_be_visible()
    await expect(emma.locator(".on-air-light")).to_have_text("ON AIR")
    await expect(emma.locator(".booth-audience")).to_have_attribute("data-count", "0")
    await tea.locator("#interpretation-open-language").select_option("sr")
    await tea.locator("#interpretation-open").click()
    await expect(emma.locator("#booth-output-b")).to_have_text("B: Serbian")

    await ana.get_by_role("radio", name="English").check()
    await expect(emma.locator(".booth-audience")).to_have_attribute("data-count", "1")
    await hears(ana, lambda m: m[EMMA_HZ] > -60, "Ana hears Emma in English")

    # B: her voice goes to the Serbian channel, at once and for its listeners alone.
    await emma.locator("body").press("b")
    await expect(emma.locator("#booth-output-b")).to_have_attribute("aria-pressed", "true")
    await expect(emma.locator(".on-air-light")).to_have_text("ON AIR")
    await besa.get_by_role("radio", name="Serbian").check()
    await hears(besa, lambda m: m[EMMA_HZ] > -60, "Besa hears Emma in Serbian")
    await hears(ana, lambda m: m[EMMA_HZ] < SILENT_DB, "Ana no longer hears Emma")
    await expect(emma.locator(".booth-audience")).to_have_attribute("data-count", "1")
    await expect(emma.locator(".booth-audience")).to_contain_text("Serbian")

    # Back to A.
    await emma.locator("body").press("a")
    await hears(ana, lambda m: m[EMMA_HZ] > -60, "Ana hears Emma again")
    await hears(besa, lambda m: m[EMMA_HZ] < SILENT_DB, "Besa no longer hears Emma")

    # The microphone switch (M) silences her too, and her partner-facing state says so.
    await emma.locator("body").press("m")
    await expect(emma.locator(".on-air-light")).to_have_attribute("data-state", "muted")
    await hears(ana, lambda m: m[EMMA_HZ] < SILENT_DB, "Ana hears the microphone off")


async def test_the_cough_button_silences_the_channel_within_50_ms(
    served: ServerProcess, launch_browser: LaunchBrowser, tmp_path: Path
) -> None:
    emma = await speaker(launch_browser, tmp_path, served, "Emma", "en", EMMA_HZ)
    ana = await person(await launch_browser(), served, "trainee", "Ana", "en")
    await ana.get_by_role("radio", name="English").check()
    await hears(ana, lambda m: m[EMMA_HZ] > -60, "Ana hears Emma")

    # Held C: what goes into the channel is silent within 50 ms of the key. Five coughs,
    # the median judged (a busy machine may delay one key event's handling).
    latencies = []
    for _ in range(5):
        await emma.evaluate(COUGH_CLOCK)
        await emma.keyboard.down("c")
        latencies.append(await emma.evaluate("window.__cough"))
        await expect(emma.locator(".on-air-light")).to_have_attribute("data-state", "cough")
        await emma.keyboard.up("c")
        await expect(emma.locator(".on-air-light")).to_have_text("ON AIR")
    latencies.sort()
    assert latencies[2] < 50, f"the cough silenced the channel after {latencies} ms"

    # Held long enough, the listener hears the silence, and the voice after it.
    await emma.keyboard.down("c")
    await hears(ana, lambda m: m[EMMA_HZ] < SILENT_DB, "Ana hears the cough's silence")
    await emma.keyboard.up("c")
    await hears(ana, lambda m: m[EMMA_HZ] > -60, "Ana hears Emma after the cough")

    # The cough button by mouse: pressed is silent, released speaks again.
    cough = emma.locator("#booth-cough")
    await cough.hover()
    await emma.mouse.down()
    await expect(emma.locator(".on-air-light")).to_have_attribute("data-state", "cough")
    await hears(ana, lambda m: m[EMMA_HZ] < SILENT_DB, "Ana hears the held button's silence")
    await emma.mouse.up()
    await expect(emma.locator(".on-air-light")).to_have_text("ON AIR")


async def test_relay_is_suggested_and_picks_the_pivot_and_the_trainer_sees_a_signal(
    served: ServerProcess, launch_browser: LaunchBrowser, tmp_path: Path
) -> None:
    floor = await voice(launch_browser, tmp_path, FLOOR_HZ)
    tea = await person(floor, served, "trainer", "Tea", "en", mic=True)
    await speaker(launch_browser, tmp_path, served, "Emma", "en", EMMA_HZ)
    rania = await speaker(launch_browser, tmp_path, served, "Rania", "ar", RANIA_HZ)

    # Rania hears the floor; Emma's English is not forwarded to her.
    await expect(rania.locator(".booth-incoming")).to_have_attribute("data-source", "floor")
    await hears(rania, lambda m: m[FLOOR_HZ] > -60 and m[EMMA_HZ] < SILENT_DB, "the floor")

    # The floor speaks Serbian, none of the Arabic booth's languages: relay is suggested,
    # from the English channel, and picking it brings Emma's voice, named.
    await tea.get_by_label("Floor language").select_option("sr")
    use = rania.locator("#booth-use-relay")
    await expect(use).to_contain_text("الإنجليزية")
    await use.click()
    await expect(rania.locator(".booth-incoming")).to_have_attribute("data-source", "en")
    await expect(rania.locator(".booth-incoming")).to_contain_text("Emma")
    await hears(
        rania, lambda m: m[EMMA_HZ] > -60 and m[EMMA_HZ] > m[FLOOR_HZ] + 8, "Emma as the pivot"
    )

    # "Slow down": the trainer sees it at once, over the page, in her language.
    await rania.locator("#booth-signal-slow_down").click()
    alert = tea.locator(".booth-signal-alerts li")
    await expect(alert).to_have_text("Rania (Arabic booth): please slow down. Dismiss")
    await expect(alert).to_be_in_viewport()
    await tea.get_by_role("button", name="Dismiss").click()
    await expect(alert).to_have_count(0)


# Feeds the booth's mixer a 1 kHz tone at -30 dBFS, then 20 dB louder, and returns the
# peaks (dBFS) of what reaches the ears before and during the burst, every sample seen.
BURST = """
async () => {
  const mixer = document.getElementById("interpretation").interpretation.mixer;
  const context = mixer.context;
  await context.resume();
  const tone = context.createOscillator();
  tone.frequency.value = 1000;
  const level = context.createGain();
  level.gain.value = 10 ** (-30 / 20);
  tone.connect(level).connect(mixer.output);
  const tap = context.createScriptProcessor(1024, 1, 1);
  let peak = 0;
  tap.onaudioprocess = (event) => {
    for (const x of event.inputBuffer.getChannelData(0)) peak = Math.max(peak, Math.abs(x));
  };
  mixer.ears.connect(tap);
  tap.connect(context.destination);
  const wait = (ms) => new Promise((r) => setTimeout(r, ms));
  const db = (x) => 20 * Math.log10(x);
  tone.start();
  await wait(400);
  peak = 0;
  await wait(400);
  const quiet = db(peak);
  peak = 0;
  level.gain.setValueAtTime(10 ** (-10 / 20), context.currentTime);
  await wait(600);
  const burst = db(peak);
  tone.stop();
  tap.disconnect();
  return { quiet, burst };
}
"""


async def test_the_limiter_caps_a_20_db_burst_before_the_ears(
    served: ServerProcess, launch_browser: LaunchBrowser
) -> None:
    ivana = await person(await launch_browser(), served, "interpreter", "Ivana", "sr")
    await expect(ivana.locator("#booth")).to_be_visible()
    await ivana.get_by_label("Zaštita sluha: vrhovi ograničeni na").select_option("-18")
    levels = await ivana.evaluate(BURST)
    print(f"limiter at -18 dBFS: {levels}")
    # Under the limit the sound passes unchanged; the burst (+20 dB, to -10 dBFS) is held
    # at the limit, its onset included.
    assert abs(levels["quiet"] + 30) < 1.5, levels
    assert levels["burst"] < -18 + 2, levels


# The size of the sign-language video a page shows (0 x 0 before any frame).
SIGN_SIZE = """
() => {
  const video = document.querySelector(".sign-language video");
  return video ? [video.videoWidth, video.videoHeight] : [0, 0];
}
"""


# How many tiles of a page show Sanja's signing video (it belongs in the window alone).
SIGNING_IN_TILES = """
() => {
  const panel = document.getElementById("interpretation").interpretation;
  const signing = panel.videos.get("sanja:signing");
  const videos = [...document.querySelectorAll("#stage video, #gallery video")];
  return videos.filter((v) => v.srcObject?.getVideoTracks().includes(signing?.track)).length;
}
"""


async def test_a_sign_language_interpreter_is_seen_by_who_chose_the_channel(
    served: ServerProcess, launch_browser: LaunchBrowser
) -> None:
    browser = await launch_browser()
    sanja = await person(browser, served, "interpreter", "Sanja", "ysl")
    await expect(sanja.locator("#booth")).to_be_visible()
    ana = await person(browser, served, "trainee", "Ana", "en")
    besa = await person(browser, served, "trainee", "Besa", "en")

    # Before choosing, Sanja is in Ana's gallery like everyone (a tile with her initials).
    sanja_tile = '#stage [data-participant="sanja"], #gallery [data-participant="sanja"]'
    await expect(ana.locator(sanja_tile)).to_have_count(1)

    # Ana picks Serbian Sign Language: Sanja's video is pinned beside the speaker, named.
    await ana.get_by_role("radio", name="Serbian Sign Language").check()
    window = ana.locator(".sign-language")
    await expect(window).to_be_visible()
    await expect(window).to_have_attribute("data-participant", "sanja")
    await expect(window).to_contain_text("Serbian Sign Language, interpreted by Sanja")
    for _ in range(300):  # frames arrive once the video is forwarded and decoded
        width, height = await ana.evaluate(SIGN_SIZE)
        if width > 0:
            break
        await ana.wait_for_timeout(100)
    assert width > 0 and height > 0, "no frame of Sanja's video reached Ana"
    # Pinned, she is no tile of Ana's as well (nor on the stage); Besa, on the original,
    # keeps her tile: the room's interpreter, present like everyone (her signing video is
    # not sent to Besa, see below).
    await expect(ana.locator(sanja_tile)).to_have_count(0)
    assert await ana.evaluate(SIGNING_IN_TILES) == 0
    await expect(besa.locator(sanja_tile)).to_have_count(1)
    # Besa, on the original, is sent nothing of it.
    await expect(besa.locator(".sign-language")).to_be_hidden()
    received = await besa.evaluate(
        "[...document.getElementById('interpretation').interpretation.videos.keys()]"
    )
    assert "sanja:signing" not in received

    # Sanja leaves the air: Ana's window closes.
    await sanja.get_by_role("button", name="Stop interpreting").click()
    await expect(window).to_be_hidden()
    await expect(ana.locator(sanja_tile)).to_have_count(1)  # her tile is back


async def test_partners_see_each_other_hand_over_with_a_countdown_in_an_arabic_booth(
    served: ServerProcess, launch_browser: LaunchBrowser
) -> None:
    browser = await launch_browser()
    rania = await person(browser, served, "interpreter", "Rania", "ar")
    samir = await person(browser, served, "interpreter", "Samir", "ar")
    assert await rania.evaluate("getComputedStyle(document.getElementById('booth')).direction") == (
        "rtl"
    )
    await expect(rania.get_by_role("heading", name="مقصورة المترجم")).to_be_visible()
    await expect(rania.locator(".booth-clock")).to_have_text(re.compile(r"\d\d:\d\d:\d\d"))
    await expect(rania.locator(".booth-timer")).to_contain_text("Rania على الهواء منذ")

    # The partner, present with the microphone on; Samir switches his off (M): Rania sees it.
    partner = rania.locator('.booth-partners li[data-partner="samir"]')
    await expect(partner).to_have_attribute("data-connected", "true")
    await expect(partner).to_have_attribute("data-microphone", "true")
    await samir.locator("body").press("m")
    await expect(samir.locator(".on-air-light")).to_have_text("الميكروفون مغلق")
    await expect(partner).to_have_attribute("data-microphone", "false")
    await expect(partner).to_contain_text("الميكروفون مغلق")
    await samir.get_by_role("button", name="الميكروفون مغلق").click()
    await expect(partner).to_have_attribute("data-microphone", "true")

    # Samir asks to take over (the booth alone hears of it); Rania offers the handover,
    # counted down on both sides, and Samir takes it.
    await expect(rania.locator("#booth-request-handover")).to_be_hidden()  # she is on air
    await samir.get_by_role("button", name="اطلب تسلّم الدور").click()
    await expect(rania.locator(".booth-log")).to_contain_text("Samir: [اطلب تسلّم الدور]")
    await rania.get_by_role("button", name="اعرض التسليم").click()
    for page in (rania, samir):
        await expect(page.locator(".booth-countdown")).to_contain_text("التسليم:")
    await samir.get_by_role("button", name="تسلّم").click()
    await expect(samir.locator(".on-air-light")).to_have_text("على الهواء")
    await expect(rania.locator(".on-air-light")).to_have_text("خارج الهواء")
    await expect(rania.locator(".booth-countdown")).to_have_text("")
    await expect(rania.locator(".booth-timer")).to_contain_text("Samir على الهواء منذ")

    # Booth chat from the booth's keyboard.
    box = samir.get_by_label("رسالة إلى المقصورة")
    await box.fill("شكراً")
    await box.press("Enter")
    await expect(rania.locator(".booth-log")).to_contain_text("Samir: شكراً")
