"""A trainee's phone against a real ``classroom serve``, as a phone shows it (390x844):
one state at a time in the phone's language (pairing, code expired, lobby, room,
removed, its place expired), a code typed with its look-alikes pairs,
the phone hears the interpretation channel it chose on its own earphones and sees the
trainer's shared screen, and it is never a video tile on the trainer's page.

The floor is the trainer's fake microphone (a 440 Hz tone), the Serbian interpreter's
voice a 1000 Hz tone; what the phone hears is measured at its mixer's output. Each
step's screenshot is kept under the test's tmp directory (``screenshots/``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import LaunchBrowser
from tests.browser.test_classroom_media import decoding
from tests.browser.test_interpretation_audio import tone
from tests.server import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
LOCALES = Path(__file__).resolve().parents[2] / "web" / "static" / "locales"
WAIT_MS = 60_000  # a correctness bound on a loaded 2-core machine, not a speed one
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
FLOOR_HZ, IVANA_HZ = 440, 1000
#: Each character a code never holds, typed for the one it stands for.
TYPED_FOR = {"Q": "o", "J": "l", "7": "1"}


def strings(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((LOCALES / f"{lang}.json").read_text("utf-8"))
    return data


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess.as_users_run_it(tmp_path / "site")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def snap(page: Page, tmp_path: Path, name: str) -> None:
    folder = tmp_path / "screenshots"
    folder.mkdir(exist_ok=True)
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


async def next_message(ws: aiohttp.ClientWebSocketResponse, type_: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.TEXT, msg
            data: dict[str, Any] = json.loads(msg.data)
            if data["type"] == type_:
                return data


async def room_device(
    http: aiohttp.ClientSession, server: ServerProcess
) -> aiohttp.ClientWebSocketResponse:
    """The conference room's device, in the room over the websocket."""
    token = server.mint("room", "Room 3", sub="room3")
    ws = await http.ws_connect(f"{server.ws_url}?token={token}")
    await next_message(ws, "welcome")
    return ws


async def code_with_look_alikes(ws: aiohttp.ClientWebSocketResponse) -> str:
    """A code of the room device that holds a character people misread (Q, J or 7):
    codes are random, so new ones are drawn until one does (a third of them do)."""
    for _ in range(100):
        await ws.send_json({"type": "pair_companion"})
        code: str = (await next_message(ws, "pairing_code_issued"))["code"]
        if any(c in TYPED_FOR for c in code):
            return code
    raise AssertionError("no code with Q, J or 7 in 100 draws")


def misread(code: str) -> str:
    """The code as someone types it off a screen: lower case, a space, look-alikes."""
    typed = "".join(TYPED_FOR.get(c, c) for c in code).lower()
    return f"{typed[:3]} {typed[3:]}"


async def person(browser: Browser, server: ServerProcess, token: str, camera: bool) -> Page:
    """Someone in the room; an interpreter (no camera) is heard through the channel voice
    her panel publishes, so her page's own microphone stays off."""
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{server.url}/join?token={token}")
    if not camera:
        await page.locator("#prejoin-camera").uncheck()
        await page.locator("#prejoin-microphone").uncheck()
    await page.locator("#join-button").click()
    await expect(page.locator("#classroom")).to_have_attribute(
        "data-phase", "room", timeout=WAIT_MS
    )
    return page


async def phone_page(browser: Browser, server: ServerProcess, locale: str, path: str) -> Page:
    context = await browser.new_context(locale=locale, **PHONE)  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(f"{server.url}{path}")
    return page


async def pair(page: Page, lang: str, typed: str, name: str) -> None:
    text = strings(lang)
    await page.get_by_label(text["companion.code"], exact=True).fill(typed)
    await page.get_by_label(text["companion.name"], exact=True).fill(name)
    await page.get_by_role("button", name=text["companion.join"]).click()


# What the phone hears: the mixer's output through an AnalyserNode, the strongest level
# in dB near each frequency, averaged over frames (as tests/browser/test_interpretation_audio).
SPECTRUM = """
async (frequencies) => {
  const mixer = document.getElementById("companion-listen").interpretation.mixer;
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


async def heard(page: Page, condition: Any, what: str) -> dict[int, float]:
    """Measure what the phone hears until ``condition(levels)`` holds."""
    levels: dict[int, float] = {}
    for _ in range(150):
        values = await page.evaluate(SPECTRUM, [FLOOR_HZ, IVANA_HZ])
        levels = dict(zip((FLOOR_HZ, IVANA_HZ), values, strict=True))
        if condition(levels):
            return levels
    raise AssertionError(f"{what}: never heard; last levels {levels}")


# True once the phone's screen video shows frames and more keep coming.
SCREEN_DECODING = """
() => {
  const video = document.getElementById("companion-screen-video");
  if (!video || video.hidden || video.videoWidth === 0) return false;
  const frames = video.getVideoPlaybackQuality().totalVideoFrames;
  const before = window.__screenFrames;
  window.__screenFrames = frames;
  return before !== undefined && frames > before;
}
"""
# The sources the phone's media session receives (what the server forwards to it).
RECEIVED = """
() => {
  const media = document.getElementById("companion-listen").interpretation.media;
  return [...media.shown.values()].map((d) => `${d.participant}:${d.source}:${d.kind}`);
}
"""


async def test_a_phone_pairs_with_look_alikes_listens_to_its_channel_and_sees_the_screen(
    served: ServerProcess, launch_browser: LaunchBrowser, tmp_path: Path
) -> None:
    sr = strings("sr-Latn")
    floor = await launch_browser(
        f"--use-file-for-fake-audio-capture={tone(tmp_path / 'f.wav', FLOOR_HZ)}"
    )
    tea = await person(floor, served, served.mint("trainer", "Tea", sub="tea", lang="en"), True)
    voice = await launch_browser(
        f"--use-file-for-fake-audio-capture={tone(tmp_path / 'i.wav', IVANA_HZ)}"
    )
    token = served.mint("interpreter", "Ivana", sub="ivana", lang="sr")
    ivana = await person(voice, served, token, False)

    async with aiohttp.ClientSession() as http:
        device = await room_device(http, served)
        code = await code_with_look_alikes(device)

        # A phone set to Serbian opens the companion page: it says where it stands, and
        # what a code is made of, in Serbian, on a phone's screen.
        phone = await phone_page(await launch_browser(), served, "sr-RS", "/companion")
        assert await phone.get_attribute("html", "lang") == "sr-Latn"
        state = phone.locator("#companion-state")
        await expect(state).to_have_text(sr["companion.state.pairing"])
        await expect(state).to_be_in_viewport()
        await expect(phone.locator("#pair-code-help")).to_have_text(sr["companion.alphabet"])
        await expect(phone.locator("#pair-code-help")).to_be_in_viewport()
        assert await phone.locator("#companion").get_attribute("data-state") == "pairing"
        await snap(phone, tmp_path, "phone-1-pairing-sr")

        # The code typed as misread off the screen (0/O, 1, I/L for Q, 7, J) pairs.
        await pair(phone, "sr-Latn", misread(code), "Besa")
        await expect(state).to_have_text(
            sr["companion.you_are"].format(name="Besa"), timeout=WAIT_MS
        )
        assert (await next_message(device, "companion_paired"))["name"] == "Besa"
        await expect(phone.locator("#pair-form")).to_be_hidden()
        await snap(phone, tmp_path, "phone-2-in-the-room-sr")
        await device.close()

    # The trainer sees the phone in the people list, and nowhere as a video tile.
    await expect(tea.locator("#participant-list li", has_text="Besa")).to_have_count(1)
    await expect(tea.locator(".tile", has_text="Ivana")).to_have_count(1)
    await expect(tea.locator(".tile", has_text="Besa")).to_have_count(0)

    # The phone is silent until asked (the room's loudspeakers play the floor), then
    # plays the floor; it picks the Serbian channel: Ivana over a lowered floor.
    sound = phone.get_by_role("button", name=sr["companion.sound_start"])
    await expect(sound).to_have_attribute("aria-pressed", "false", timeout=WAIT_MS)
    await heard(phone, lambda m: m[FLOOR_HZ] < -120 and m[IVANA_HZ] < -120, "silence")
    await sound.click()
    await expect(phone.locator("#companion-sound")).to_have_text(sr["companion.sound_stop"])
    await expect(phone.locator("#companion-sound")).to_have_attribute("aria-pressed", "true")
    alone = await heard(
        phone, lambda m: m[FLOOR_HZ] > -90 and m[IVANA_HZ] < -100, "the floor alone"
    )
    serbian = phone.locator("#interpretation-channel-sr")
    await expect(serbian).to_be_enabled(timeout=WAIT_MS)
    await serbian.check()
    channel = await heard(
        phone, lambda m: m[IVANA_HZ] > -70 and m[IVANA_HZ] > m[FLOOR_HZ] + 8, "Ivana's channel"
    )
    print(f"phone hears (dB): floor alone {alone}, Serbian channel {channel}")
    await snap(phone, tmp_path, "phone-3-listening-sr")

    # The trainer shares her screen: the phone shows it, decoded, and never a camera.
    no_screen = phone.locator("#companion-no-screen")
    await expect(no_screen).to_have_text(sr["companion.no_screen"])
    await tea.locator("#toggle-screen").click()
    await phone.wait_for_function(SCREEN_DECODING, timeout=WAIT_MS, polling=300)
    await expect(no_screen).to_be_hidden()
    width = await phone.evaluate("document.getElementById('companion-screen-video').videoWidth")
    assert width > 0
    received = await phone.evaluate(RECEIVED)
    assert "tea:screen:video" in received and "tea:microphone:audio" in received
    assert not [r for r in received if ":camera:" in r], received
    # The trainer's camera is published all along (Ivana decodes it): the phone is not sent it.
    await decoding(ivana, "tea", "camera")
    assert not [r for r in await phone.evaluate(RECEIVED) if ":camera:" in r]
    await snap(phone, tmp_path, "phone-4-screen-sr")


async def test_a_phone_waits_in_the_lobby_then_is_removed_then_finds_its_place_expired(
    served: ServerProcess, launch_browser: LaunchBrowser, tmp_path: Path
) -> None:
    ar = strings("ar")
    async with aiohttp.ClientSession() as http:
        device = await room_device(http, served)
        trainer = await http.ws_connect(
            f"{served.ws_url}?token={served.mint('trainer', 'Tea', sub='tea')}"
        )
        await next_message(trainer, "welcome")
        await trainer.send_json({"type": "lock", "value": True})
        await next_message(trainer, "room_locked")
        await device.send_json({"type": "pair_companion"})
        old = (await next_message(device, "pairing_code_issued"))["code"]

        # An Arabic phone, right to left, every state in Arabic, scans the room's code
        # just as the room screen puts a new one up: the old one has expired, it says.
        phone = await phone_page(await launch_browser(), served, "ar", f"/companion?code={old}")
        assert await phone.get_attribute("html", "dir") == "rtl"
        await device.send_json({"type": "pair_companion"})
        code = (await next_message(device, "pairing_code_issued"))["code"]
        await expect(phone.get_by_label(ar["companion.code"], exact=True)).to_have_value(old)
        await phone.get_by_label(ar["companion.name"], exact=True).fill("Amir")
        await phone.get_by_role("button", name=ar["companion.join"]).click()
        state = phone.locator("#companion-state")
        await expect(state).to_have_text(ar["companion.expired_code"])
        assert await phone.locator("#companion").get_attribute("data-state") == "expired"
        await expect(phone.get_by_label(ar["companion.code"], exact=True)).to_be_visible()
        await snap(phone, tmp_path, "phone-0-code-expired-ar")
        await phone.get_by_label(ar["companion.code"], exact=True).fill(code)
        await phone.get_by_role("button", name=ar["companion.join"]).click()
        await expect(state).to_have_text(ar["companion.waiting"], timeout=WAIT_MS)
        await expect(state).to_be_in_viewport()
        assert await phone.locator("#companion").get_attribute("data-state") == "lobby"
        await expect(phone.locator("#companion-live")).to_be_hidden()
        await snap(phone, tmp_path, "phone-1-lobby-ar")

        knock = await next_message(trainer, "lobby_entered")
        amir = knock["participant"]["id"]
        await trainer.send_json({"type": "admit", "target": amir})
        await expect(state).to_have_text(ar["companion.you_are"].format(name="Amir"))
        await expect(phone.locator("#companion-live")).to_be_visible()
        await snap(phone, tmp_path, "phone-2-room-ar")

        await trainer.send_json({"type": "unpair_companion", "target": amir})
        await next_message(trainer, "companions_unpaired")
        await expect(state).to_have_text(ar["companion.state.removed"])
        await expect(phone.get_by_role("button", name=ar["companion.pair_again"])).to_be_visible()
        await expect(phone.locator("#pair-form")).to_be_hidden()
        await snap(phone, tmp_path, "phone-3-removed-ar")

        # Joining again with the code on the screen: through the lobby back into the room,
        # where its sound toggle says what it does (once per press, whatever came before).
        await phone.get_by_role("button", name=ar["companion.pair_again"]).click()
        await expect(state).to_have_text(ar["companion.state.pairing"])
        await phone.get_by_role("button", name=ar["companion.join"]).click()
        await expect(state).to_have_text(ar["companion.waiting"], timeout=WAIT_MS)
        again = (await next_message(trainer, "lobby_entered"))["participant"]["id"]
        await trainer.send_json({"type": "admit", "target": again})
        await expect(state).to_have_text(ar["companion.you_are"].format(name="Amir"))
        toggle = phone.locator("#companion-sound")
        await expect(toggle).to_have_text(ar["companion.sound_start"])
        await toggle.click()
        await expect(toggle).to_have_attribute("aria-pressed", "true")
        await expect(toggle).to_have_text(ar["companion.sound_stop"])
        await trainer.close()
        await device.close()

    # Next day: the place this phone kept has run out; it says so and asks for the code.
    await phone.evaluate(
        """(expires) => localStorage.setItem("classroom.companion",
             JSON.stringify({token: "x.y.z", name: "Amir", expires}))""",
        int(time.time()) - 3600,
    )
    await phone.goto(f"{served.url}/companion")
    await expect(state).to_have_text(ar["companion.state.expired"])
    assert await phone.locator("#companion").get_attribute("data-state") == "expired"
    await expect(phone.get_by_label(ar["companion.code"], exact=True)).to_be_visible()
    await snap(phone, tmp_path, "phone-4-expired-ar")
