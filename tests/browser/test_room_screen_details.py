"""The room screen read from the back of the room, in real Chromium against ``classroom
serve``: a crowd's names, the top bar while recording, who is speaking and whose screen is
shared, the phones of this room device (not of every device in the room), and no buttons a
kiosk does not need. Sizes follow the screen: 1920x1080, 4K (3840x2160 at device scale 2)
and a 1366x768 laptop. Screenshots are kept in test-artifacts/room-screen/."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Locator, Page, expect

from tests.browser.conftest import LaunchBrowser
from tests.browser.test_classroom_media import WAIT_MS, decoding
from tests.browser.test_companion_phone import next_message, strings
from tests.browser.test_interpretation_audio import tone
from tests.browser.test_room_screen import (
    FULL_HD,
    LAPTOP,
    Served,
    box,
    enter,
    font_px,
    inside_viewport,
    room_device,
    shot,
    tile,
)
from tests.server import ServerProcess

pytestmark = pytest.mark.timeout(420)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    process = ServerProcess.as_users_run_it(tmp_path / "classroom")
    await process.start()
    try:
        yield Served(process)
    finally:
        await process.stop()


SIZES = [(FULL_HD, 1), (FULL_HD, 2), (LAPTOP, 1)]
SIZE_IDS = ["1920x1080", "3840x2160-at-dpr2", "1366x768"]
NAMES = [
    "Aleksandra Jović", "Besa Krasniqi", "Dragan Stojanović", "Elira Hoxha",
    "Filip Trajkovski", "Gordana Ilić", "Hana Berisha", "Ivana Marković",
    "Jovan Petrovski", "Kaltrina Gashi", "Luka Nikolić",
]  # fmt: skip
CROWD = """(names) => {
  names.forEach((name, i) => window.classroom.participants.set(`crowd${i}`, {id: `crowd${i}`,
    name, role: "trainee", connected: true, hand_raised: i % 4 === 0, audio_muted: i % 3 === 0,
    screen_sharing: false}));
  window.classroom.render();
}"""
#: The longest the room's own state gets: muted by the trainer, recording, a channel.
LOUDEST_STATE = """() => {
  const room = window.classroom;
  room.participants.get(room.you).audio_muted = true;
  room.screen.setChannel("sr");
  room.render();
}"""
NOT_CUT = "(e) => e.scrollWidth <= e.clientWidth + 1 && e.scrollHeight <= e.clientHeight + 1"


async def whole(locator: Locator) -> None:
    """The element's text shows whole: not cut by an ellipsis, a clip or its box."""
    assert await locator.evaluate(NOT_CUT), f"{await locator.inner_text()!r} is cut"


async def recording(served: Served, trainer: str, action: str) -> None:
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{served.url}/api/rooms/demo/recording",
            json={"action": action},
            headers={"Authorization": f"Bearer {trainer}"},
        )
        assert response.status < 300, await response.text()


@pytest.mark.parametrize(("viewport", "scale"), SIZES, ids=SIZE_IDS)
async def test_a_crowds_names_and_the_top_bar_while_recording_read_from_the_back(
    served: Served,
    launch_browser: LaunchBrowser,
    tmp_path: Path,
    viewport: dict[str, int],
    scale: int,
) -> None:
    browser = await launch_browser()
    trainer = served.mint("trainer", "Tea", sub="tea")
    tea = await enter(browser, served, trainer, viewport=LAPTOP)
    room = await room_device(browser, served, viewport=viewport, device_scale_factor=scale)
    size = f"{viewport['width']}-dpr{scale}"
    await tea.locator("#start-session").click()
    await expect(room.locator("#session-state")).to_have_attribute("data-state", "live")
    await expect(room.locator("#stage .tile")).to_have_attribute("data-participant", "tea")

    # Nine, then twelve tiles beside the stage: every name whole, in large type.
    for crowd in (8, 11):  # and the room's own tile
        await room.evaluate(CROWD, NAMES[:crowd])
        names = room.locator("#gallery .tile-name")
        await expect(names).to_have_count(crowd + 1)
        for name in await names.all():
            await inside_viewport(room, name)
            await whole(name)
            assert await font_px(name) >= 20, await name.inner_text()
        await shot(room, tmp_path, f"room-{size}-names-{crowd + 1}")

    # Recording, muted by the trainer, listening to a channel: the top bar stays one line.
    await recording(served, trainer, "start")
    pill = room.locator(".room-recording")
    await expect(pill).to_be_visible(timeout=WAIT_MS)
    await room.evaluate(LOUDEST_STATE)
    await expect(room.locator(".room-microphone")).to_have_text("Muted by the trainer")
    bar = room.locator(".room-bar")
    in_bar = "(e) => getComputedStyle(e).position !== 'fixed'"  # (not the panel's button)
    items = await bar.locator("> *").all()
    shown = [i for i in items if await i.is_visible() and await i.evaluate(in_bar)]
    heading = await box(room.locator("#room-heading"))
    for item in shown:
        found = await inside_viewport(room, item)
        middle = found["y"] + found["height"] / 2
        assert abs(middle - (heading["y"] + heading["height"] / 2)) < 0.5 * heading["height"], (
            await item.get_attribute("class"),
            found,
            heading,
        )
    for part in ("#room-heading", "#session-state", ".room-microphone", pill, ".room-channel"):
        part = room.locator(part) if isinstance(part, str) else part
        await whole(part)
        assert await font_px(part) >= 20, part
    assert (await box(bar))["height"] < 2.6 * await font_px(room.locator("#session-state"))
    await shot(room, tmp_path, f"room-{size}-recording")
    await recording(served, trainer, "stop")
    await expect(pill).to_be_hidden(timeout=WAIT_MS)


PIXELS = """async ([data, points]) => {
  const picture = new Image();
  picture.src = `data:image/png;base64,${data}`;
  await picture.decode();
  const canvas = document.createElement("canvas");
  canvas.width = picture.width;
  canvas.height = picture.height;
  const context = canvas.getContext("2d");
  context.drawImage(picture, 0, 0);
  return points.map(([x, y]) => Array.from(context.getImageData(x, y, 1, 1).data.slice(0, 3)));
}"""


async def edge_colours(page: Page, locator: Locator) -> list[list[int]]:
    """What the screen shows just inside the tile's edges (top, bottom, both sides): a
    screenshot of the tile, read back pixel by pixel."""
    found = await box(locator)
    png = await page.screenshot(clip=found, scale="css")
    w, h = int(found["width"]), int(found["height"])
    points = [(w // 2, 2), (w // 2, h - 3), (2, h // 3), (w - 3, h // 3)]
    colours: list[list[int]] = await page.evaluate(PIXELS, [base64.b64encode(png).decode(), points])
    return colours


RING = (76, 175, 80)  # #4caf50 (the fake camera's greens are far from it)


def ringed(colour: list[int]) -> bool:
    return all(abs(a - b) <= 24 for a, b in zip(colour, RING, strict=True))


@pytest.mark.parametrize(("viewport", "scale"), SIZES, ids=SIZE_IDS)
async def test_the_speaker_is_highlighted_and_the_shared_screen_says_whose(
    served: Served,
    launch_browser: LaunchBrowser,
    tmp_path: Path,
    viewport: dict[str, int],
    scale: int,
) -> None:
    # Tea and the room are silent; Besa's microphone plays a tone: she is the speaker.
    quiet = await launch_browser(f"--use-file-for-fake-audio-capture={tone(tmp_path / 'q.wav', 0)}")
    voice = await launch_browser(
        f"--use-file-for-fake-audio-capture={tone(tmp_path / 'v.wav', 440)}"
    )
    tea = await enter(quiet, served, served.mint("trainer", "Tea", sub="tea"), viewport=LAPTOP)
    room = await room_device(quiet, served, viewport=viewport, device_scale_factor=scale)
    besa = await enter(voice, served, served.mint("trainee", "Besa", sub="besa"), viewport=LAPTOP)
    await tea.locator("#start-session").click()
    await expect(room.locator("#session-state")).to_have_attribute("data-state", "live")
    await decoding(room, "besa")
    grow = max(1.0, viewport["width"] / 1920)

    # Tea shares her screen: it takes the stage, labelled with her name in large type.
    await tea.locator("#toggle-screen").click()
    await expect(tea.locator("#toggle-screen")).to_have_attribute("aria-pressed", "true")
    screen = room.locator('#stage .tile[data-source="screen"]')
    await expect(screen).to_have_attribute("data-participant", "tea", timeout=WAIT_MS)
    label = screen.locator(".tile-name")
    await expect(label).to_have_text("Screen of Tea")
    await inside_viewport(room, label)
    await whole(label)
    assert await font_px(label) >= 20 * grow

    # Besa speaks: her tile beside the screen is ringed in green, over her video.
    speaker = tile(room, "besa")
    await expect(speaker).to_have_class(re.compile(r"\bspeaking\b"), timeout=WAIT_MS)
    await expect(speaker).to_have_class(re.compile(r"\bhas-video\b"))
    ring: dict[str, Any] = await speaker.evaluate(
        """(e) => { const s = getComputedStyle(e, "::after");
                    return {width: parseFloat(s.borderTopWidth), colour: s.borderTopColor}; }"""
    )
    assert ring["width"] >= 4 * grow and ring["colour"] == "rgb(76, 175, 80)", ring
    assert all(ringed(c) for c in await edge_colours(room, speaker))
    quiet_tile = tile(room, "tea")
    await expect(quiet_tile).not_to_have_class(re.compile(r"\bspeaking\b"))
    assert not any(ringed(c) for c in await edge_colours(room, quiet_tile))
    await shot(room, tmp_path, f"room-{viewport['width']}-dpr{scale}-speaker-and-screen")
    await besa.context.close()


async def test_the_room_screen_counts_its_own_phones_and_shows_no_code_button(
    served: Served, launch_browser: LaunchBrowser, tmp_path: Path
) -> None:
    """Two room devices in one room: each screen counts the phones paired with it; the
    trainer sees every phone. The kiosk's side panel has no button for a code it always
    shows; a room device on a laptop (no big screen) keeps it."""
    browser = await launch_browser()
    tea = await enter(browser, served, served.mint("trainer", "Tea", sub="tea"), viewport=LAPTOP)
    room = await room_device(browser, served, viewport=FULL_HD)
    phones = room.locator("#room-pairing .room-phones")
    await expect(phones).to_have_text("No phones paired yet")
    async with aiohttp.ClientSession() as http:
        other = await http.ws_connect(
            f"{served.process.ws_url}?token={served.mint('room', 'Room 5', sub='room5')}"
        )
        await next_message(other, "welcome")
        await other.send_json({"type": "pair_companion"})
        code = (await next_message(other, "pairing_code_issued"))["code"]
        ours = (await room.locator("#room-pairing .room-code").inner_text()).replace(" ", "")
        sockets = []
        for name, with_code in (("Dea", code), ("Ema", code), ("Besa", ours)):
            response = await http.post(
                f"{served.url}/api/companion/pair", json={"code": with_code, "name": name}
            )
            assert response.status == 201, await response.text()
            token = (await response.json())["token"]
            phone = await http.ws_connect(f"{served.process.ws_url}?token={token}")
            await next_message(phone, "welcome")
            sockets.append(phone)
        # Room 3's screen counts Besa's phone, not Room 5's two; the trainer sees all three.
        await expect(tea.locator("#participant-list li")).to_have_count(3 + 3)
        await expect(phones).to_have_text("Phones: 1 paired, 1 connected")
        await inside_viewport(room, phones)
        for phone in sockets:
            await phone.close()
        await other.close()

    # The kiosk's panel opened: no button to show a code the screen shows anyway.
    await room.locator("#toggle-panel").click()
    await expect(room.locator("#panel #polls")).to_be_visible()
    await expect(room.get_by_role("button", name="Show the code for phones")).to_have_count(0)
    await expect(room.locator("#panel .pairing")).to_be_hidden()
    await inside_viewport(room, room.locator("#room-pairing .room-code"))
    await shot(room, tmp_path, "room-1080p-panel")
    # A room device on a laptop, joined by hand: the code comes at the press of a button.
    laptop = await enter(
        browser, served, served.mint("room", "Room 7", sub="room7"), viewport=LAPTOP
    )
    show = laptop.locator("#panel .pairing").get_by_role("button", name="Show the code for phones")
    await inside_viewport(laptop, show)
    await show.click()
    await expect(laptop.locator("#panel .pairing-code")).to_have_text(re.compile(r"^\S{3} \S{3}$"))


async def test_the_top_bar_stays_one_line_in_a_longer_language_on_a_laptop(
    served: Served, launch_browser: LaunchBrowser, tmp_path: Path
) -> None:
    """Albanian says the room's state at greater length: at 1366x768 the bar still holds
    one line inside the screen, the room's state whole; the session's title gives way."""
    sq = strings("sq")
    browser = await launch_browser()
    trainer = served.mint("trainer", "Tea", sub="tea")
    tea = await enter(browser, served, trainer, viewport=LAPTOP)
    room = await (await browser.new_context(viewport=LAPTOP)).new_page()
    token = served.mint("room", "Room 3", sub="room3")
    await room.goto(served.join_url(token, autojoin="1", lang="sq"))
    await expect(room.locator("#classroom")).to_have_attribute(
        "data-phase", "room", timeout=WAIT_MS
    )
    await tea.locator("#start-session").click()
    await expect(room.locator("#session-state")).to_have_attribute("data-state", "live")
    await recording(served, trainer, "start")
    await expect(room.locator(".room-recording")).to_have_text(sq["recording.on"])
    await room.evaluate(LOUDEST_STATE)
    await expect(room.locator(".room-microphone")).to_have_text(sq["screen.muted_by_trainer"])
    wide = await room.evaluate("document.documentElement.scrollWidth - innerWidth")
    assert wide <= 0, f"the page scrolls sideways by {wide}px"
    heading = await box(room.locator("#room-heading"))
    for part in (".room-microphone", ".room-recording", ".room-channel", "#room-heading"):
        found = await inside_viewport(room, room.locator(part))
        await whole(room.locator(part))
        assert abs(found["y"] - heading["y"]) < heading["height"], (part, found, heading)
    live_word = sq["session.live"].split(":")[0]
    state = await inside_viewport(room, room.locator("#session-state"))
    assert state["width"] >= 4 * await font_px(room.locator("#session-state"))
    assert (await room.locator("#session-state").inner_text()).startswith(live_word)
    await shot(room, tmp_path, "room-1366-sq-recording")
    await recording(served, trainer, "stop")
