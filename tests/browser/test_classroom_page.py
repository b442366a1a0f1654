"""The classroom page in real Chromium against the real server: pre-join, chat, hands,
moderation, the lobby, room devices, reconnection, keyboard, right-to-left and phones."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from aiohttp import WSCloseCode
from playwright.async_api import Route, expect

from config import Settings
from tests.browser.conftest import LaunchBrowser, LiveServer
from tests.browser.participants import join, join_lobby, open_join_page, participant_id, row
from tests.conftest import Mint
from web.context import HUB


async def test_prejoin_shows_devices_a_preview_and_joins(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint
) -> None:
    browser = await launch_browser()
    page = await open_join_page(browser, live_server, mint("trainee", "Ana Kovač"))
    await expect(page.locator("#prejoin")).to_be_visible()
    await expect(page.locator("#camera-select option")).not_to_have_count(0)
    await expect(page.locator("#microphone-select option")).not_to_have_count(0)
    assert await page.locator("#camera-select").is_enabled()
    await page.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
    # The fake microphone plays a beep: the meter moves.
    await page.wait_for_function("() => document.querySelector('#level').value > 0.01")
    # Join with the camera off: the toolbar says so, the microphone stays on.
    await page.get_by_label("Camera on").uncheck()
    await page.locator("#join-button").click()
    await expect(page.locator("#room")).to_be_visible()
    await expect(page.locator("#toggle-camera")).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#toggle-microphone")).to_have_attribute("aria-pressed", "false")
    me = row(page, await participant_id(page))
    await expect(me.locator(".person-name")).to_have_text("Ana Kovač (you)")
    await expect(me.locator(".person-role")).to_have_text("Trainee")
    assert await page.evaluate(
        "window.classroom.localStream.getVideoTracks().every(t => !t.enabled)"
    )


async def test_chat_and_raised_hands_reach_the_trainer(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint
) -> None:
    browser = await launch_browser()
    trainer = await join(browser, live_server, mint("trainer", "Tea"))
    trainee = await join(browser, live_server, mint("trainee", "Besa"))
    trainee_id = await participant_id(trainee)
    await expect(row(trainer, trainee_id)).to_be_visible()

    await trainee.locator("#chat-input").fill("Dobar dan, <b>svima</b>")
    await trainee.locator("#chat-input").press("Enter")
    message = trainer.locator("#chat-log li").last
    await expect(message.locator(".chat-name")).to_have_text("Besa")
    await expect(message.locator(".chat-text")).to_have_text("Dobar dan, <b>svima</b>")
    await expect(trainee.locator("#chat-log li .chat-name")).to_have_text("You")
    await expect(trainee.locator("#chat-input")).to_have_value("")

    # The shortcut raises the hand (focus is on the page, not in a text field).
    await trainee.locator("#toggle-hand").focus()
    await trainee.keyboard.press("h")
    await expect(trainee.locator("#toggle-hand")).to_have_attribute("aria-pressed", "true")
    await expect(row(trainer, trainee_id)).to_have_class(re.compile(r"\bhand\b"))
    await expect(
        trainer.locator(f'.tile[data-participant="{trainee_id}"] .badge-hand')
    ).to_be_visible()
    await expect(trainer.locator("#announcer")).to_have_text("Besa raised their hand")
    await trainer.get_by_role("button", name="Lower the hand of Besa").click()
    await expect(trainee.locator("#toggle-hand")).to_have_attribute("aria-pressed", "false")
    await expect(row(trainer, trainee_id)).not_to_have_class(re.compile(r"\bhand\b"))


async def test_typing_in_the_chat_does_not_trigger_shortcuts(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint
) -> None:
    browser = await launch_browser()
    page = await join(browser, live_server, mint("trainee", "Ana"))
    await page.locator("#chat-input").type("hmv")
    await expect(page.locator("#chat-input")).to_have_value("hmv")
    await expect(page.locator("#toggle-hand")).to_have_attribute("aria-pressed", "false")
    await expect(page.locator("#toggle-microphone")).to_have_attribute("aria-pressed", "false")
    await page.locator("#toggle-microphone").focus()
    await page.keyboard.press("m")
    await expect(page.locator("#toggle-microphone")).to_have_attribute("aria-pressed", "true")
    assert await page.evaluate(
        "window.classroom.localStream.getAudioTracks().every(t => !t.enabled)"
    )
    await page.keyboard.press("v")
    await expect(page.locator("#toggle-camera")).to_have_attribute("aria-pressed", "true")


async def test_the_trainer_admits_and_denies_from_the_lobby(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint
) -> None:
    browser = await launch_browser()
    trainer = await join(browser, live_server, mint("trainer", "Tea"))
    await trainer.locator("#lock-room").click()
    await expect(trainer.locator("#lock-room")).to_have_attribute("aria-pressed", "true")

    first = await join_lobby(browser, live_server, mint("trainee", "Dren"))
    second = await join_lobby(browser, live_server, mint("trainee", "Mila"))
    await expect(trainer.locator("#lobby-list li")).to_have_count(2)
    await expect(trainer.locator("#announcer")).to_contain_text("is waiting in the lobby")

    await trainer.get_by_role("button", name="Admit Dren").click()
    await expect(first.locator("#room")).to_be_visible()
    await expect(first.locator("#participant-list li")).to_have_count(2)
    await expect(trainer.locator("#participant-list li")).to_have_count(2)

    await trainer.get_by_role("button", name="Deny Mila").click()
    await expect(second.locator("#ended")).to_be_visible()
    await expect(second.locator("#ended-heading")).to_have_text("You were not admitted")
    await expect(trainer.locator("#lobby")).to_be_hidden()


async def test_the_trainer_mutes_pins_runs_the_session_and_removes(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint
) -> None:
    browser = await launch_browser()
    trainer = await join(browser, live_server, mint("trainer", "Tea"))
    trainee = await join(browser, live_server, mint("trainee", "Besa"))
    other = await join(browser, live_server, mint("trainee", "Goran"))
    trainee_id, other_id = await participant_id(trainee), await participant_id(other)
    await expect(trainer.locator("#participant-list li")).to_have_count(3)

    # Mute one: the trainee's microphone goes off and they cannot turn it back on.
    await trainer.get_by_role("button", name="Mute Besa").click()
    await expect(trainee.locator("#toggle-microphone")).to_have_attribute("aria-pressed", "true")
    await expect(trainee.locator("#announcer")).to_have_text("The trainer muted your microphone")
    await trainee.locator("#toggle-microphone").click()
    await expect(trainee.locator("#alerts")).to_contain_text("Raise your hand to ask to speak")
    await expect(trainee.locator("#toggle-microphone")).to_have_attribute("aria-pressed", "true")
    assert await trainee.evaluate(
        "window.classroom.localStream.getAudioTracks().every(t => !t.enabled)"
    )
    await expect(row(other, trainee_id).locator(".person-state")).to_contain_text("Muted")
    # The trainer asks to unmute a person (privacy): the lock is lifted and Besa decides;
    # she may also turn it on herself now.
    await trainer.get_by_role("button", name="Ask Besa to unmute").click()
    await expect(trainee.locator("#announcer")).to_contain_text("let you speak again")
    await expect(trainee.locator("#unmute-request")).to_be_visible()
    await expect(trainee.locator("#toggle-microphone")).to_have_attribute("aria-pressed", "true")
    await trainee.locator("#toggle-microphone").click()
    await expect(trainee.locator("#toggle-microphone")).to_have_attribute("aria-pressed", "false")
    await expect(trainee.locator("#unmute-request")).to_be_hidden()
    # Mute everyone.
    await trainer.locator("#mute-all").click()
    for page in (trainee, other):
        await expect(page.locator("#toggle-microphone")).to_have_attribute("aria-pressed", "true")
    await expect(trainer.locator("#toggle-microphone")).to_have_attribute("aria-pressed", "false")

    # Pin Goran for everyone: he is on everyone's stage (and on his own).
    await trainer.get_by_role("button", name="Pin Goran for everyone").click()
    for page in (trainer, trainee, other):
        await expect(page.locator("#stage .tile")).to_have_attribute("data-participant", other_id)
    await trainer.locator("#unpin").click()
    await expect(trainee.locator("#announcer")).to_have_text("Nobody is pinned")

    # The session starts and ends for everyone.
    await trainer.locator("#session-title").fill("Asylum procedures, day 2")
    await trainer.locator("#start-session").click()
    await expect(trainee.locator("#session-state")).to_contain_text(
        "Live: Asylum procedures, day 2"
    )
    await trainer.locator("#end-session").click()
    await trainer.get_by_role("button", name="Confirm").click()
    await expect(other.locator("#session-state")).to_have_text("Ended: Asylum procedures, day 2")

    # Remove, after confirming.
    await trainer.get_by_role("button", name="Remove Besa").click()
    await trainer.get_by_role("button", name="Cancel").click()
    await expect(row(trainer, trainee_id)).to_be_visible()
    await trainer.get_by_role("button", name="Remove Besa").click()
    await trainer.get_by_role("button", name="Confirm").click()
    await expect(trainee.locator("#ended-heading")).to_have_text("You were removed")
    await expect(row(trainer, trainee_id)).to_have_count(0)
    await expect(row(other, trainee_id)).to_have_count(0)
    # A trainee sees none of the trainer's controls.
    await expect(other.locator("#moderation")).to_be_hidden()
    await expect(other.get_by_role("button", name="Remove Tea")).to_have_count(0)


async def test_a_room_device_joins_at_once_and_comes_back_after_a_drop(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint
) -> None:
    browser = await launch_browser()
    trainer = await join(browser, live_server, mint("trainer", "Tea"))
    device = await join(browser, live_server, mint("room", "Skopje room 2"), autojoin=True)
    assert await device.locator("#prejoin").is_hidden()
    await expect(device.locator("#classroom")).to_have_class(re.compile(r"\bbig-screen\b"))
    device_id = await participant_id(device)
    # A big screen: the side panel starts closed and chat shows over the video.
    await expect(device.locator("#toggle-panel")).to_have_attribute("aria-expanded", "false")
    await expect(device.locator("#panel")).to_be_hidden()
    await trainer.locator("#chat-input").fill("Welcome, Skopje")
    await trainer.locator("#chat-input").press("Enter")
    await expect(device.locator("#chat-toasts")).to_have_text("Tea: Welcome, Skopje")
    await expect(trainer.locator("#chat-toasts")).to_be_empty()
    await device.locator("#toggle-hand").click()
    await expect(row(trainer, device_id)).to_have_class(re.compile(r"\bhand\b"))

    # The reconnecting notice may come and go faster than a poll from here: record it.
    await device.evaluate(RECORD_STATUS)
    for attempt in range(1, 3):  # and again: a device reconnects as often as it must
        live = live_server.app[HUB].rooms["demo"]
        await live.connections[device_id].ws.close(code=WSCloseCode.GOING_AWAY)
        await device.wait_for_function(f"() => window.statusSeen.length >= {attempt}")
        await expect(device.locator("#connection-state")).to_be_hidden()
        await expect(device.locator("#toggle-hand")).to_have_attribute("aria-pressed", "true")
        await expect(row(trainer, device_id)).not_to_have_class(re.compile(r"\baway\b"))
        await expect(row(trainer, device_id)).to_have_class(re.compile(r"\bhand\b"))
    assert await device.locator("#classroom").get_attribute("data-phase") == "room"
    assert await device.evaluate("window.statusSeen") == ["Connection lost. Reconnecting…"] * 2


async def test_leaving_and_joining_again(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint
) -> None:
    browser = await launch_browser()
    trainer = await join(browser, live_server, mint("trainer", "Tea"))
    trainee = await join(browser, live_server, mint("trainee", "Besa"))
    trainee_id = await participant_id(trainee)
    await trainee.locator("#toggle-camera").click()
    await trainee.locator("#room .leave-button").click()
    await expect(trainee.locator("#ended-heading")).to_have_text("You left the room")
    await expect(row(trainer, trainee_id)).to_have_count(0)
    await expect(trainer.locator("#announcer")).to_have_text("Besa left")
    # Joining again starts at the pre-join screen, with the camera choice kept, same identity.
    await trainee.locator("#join-again").click()
    await expect(trainee.locator("#prejoin")).to_be_visible()
    await expect(trainee.get_by_label("Camera on")).not_to_be_checked()
    assert "token=" not in trainee.url
    await trainee.locator("#join-button").click()
    await expect(row(trainer, trainee_id)).to_be_visible()
    await expect(trainee.locator("#toggle-camera")).to_have_attribute("aria-pressed", "true")


async def test_an_arabic_page_reads_right_to_left(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint, tmp_path: Path
) -> None:
    browser = await launch_browser()
    page = await open_join_page(
        browser,
        live_server,
        mint("trainer", "أمل", lang="ar"),
        viewport={"width": 1280, "height": 800},
    )
    assert await page.get_attribute("html", "dir") == "rtl"
    await expect(page.locator("#join-button")).to_have_text("انضمام")
    await page.locator("#join-button").click()
    await expect(page.locator("#room")).to_be_visible()
    await join(browser, live_server, mint("trainee", "Sara", lang="en"))
    await expect(page.locator("#participant-list li")).to_have_count(2)
    await page.locator("#chat-input").fill("مرحبا بالجميع")
    await page.locator("#chat-input").press("Enter")
    await expect(page.locator("#chat-log li")).to_have_count(1)
    await page.screenshot(path=str(tmp_path / "arabic.png"))
    # Mirrored: the side panel on the left, the stage on the right, the gallery from the right.
    panel = await page.locator("#panel").bounding_box()
    media = await page.locator(".media-area").bounding_box()
    assert panel and media and panel["x"] + panel["width"] <= media["x"] + 1
    stage = await page.locator("#stage").bounding_box()
    first_tile = await page.locator("#gallery .tile").first.bounding_box()
    assert stage and first_tile
    assert first_tile["x"] + first_tile["width"] > stage["x"] + stage["width"] - 20
    await expect(page.locator("#toggle-hand")).to_have_text("رفع اليد")
    await expect(page.locator("#session-state")).to_have_text("لم تبدأ الجلسة")
    assert await page.evaluate("document.documentElement.scrollWidth <= innerWidth")


async def test_a_phone_gets_one_column_with_nothing_cut_off(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint
) -> None:
    browser = await launch_browser()
    phone = {"viewport": {"width": 360, "height": 740}, "has_touch": True, "is_mobile": True}
    await join(browser, live_server, mint("trainer", "Tea"))
    for present, lang in enumerate(("en", "ar"), start=2):
        page = await join(browser, live_server, mint("trainee", "Vesna", lang=lang), **phone)
        await expect(page.locator("#participant-list li")).to_have_count(present)
        assert await page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        stage = await page.locator("#stage").bounding_box()
        assert stage and stage["width"] >= 300 and stage["height"] >= 200
        for button in await page.locator(".toolbar button:visible").all():
            box = await button.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360, box
        # The panel sits under the stage, not beside it.
        panel = await page.locator("#panel").bounding_box()
        assert panel and panel["y"] >= stage["y"] + stage["height"]


async def test_every_control_is_labelled_and_reachable_by_keyboard(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint
) -> None:
    browser = await launch_browser()
    trainer = await join(browser, live_server, mint("trainer", "Tea"))
    await join(browser, live_server, mint("trainee", "Besa"))
    await expect(trainer.locator("#participant-list li")).to_have_count(2)
    unlabelled = await trainer.evaluate(UNLABELLED_CONTROLS)
    assert unlabelled == []
    # Tab through the page: every visible control gets focus in turn.
    wanted = await trainer.evaluate(VISIBLE_CONTROLS)
    reached: set[str] = set()
    for _ in range(len(wanted) + 10):
        await trainer.keyboard.press("Tab")
        reached.add(await trainer.evaluate(DESCRIBE_FOCUS))
    assert set(wanted) - reached == set()
    # Focus is visible: the focused control draws an outline.
    await trainer.locator("#toggle-hand").focus()
    await trainer.keyboard.press("Shift+Tab")
    await trainer.keyboard.press("Tab")
    outline = await trainer.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    shortcuts = await trainer.locator("#shortcuts").inner_text()
    assert "M" in shortcuts and "V" in shortcuts and "H" in shortcuts
    assert await trainer.get_attribute("#toggle-microphone", "aria-keyshortcuts") == "m"


async def test_a_room_device_waits_for_an_unreachable_server(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint
) -> None:
    browser = await launch_browser()
    context = await browser.new_context()
    page = await context.new_page()
    failures = 2  # the server cannot be reached twice (a room PC up before the server)

    async def unreachable(route: Route) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            await route.abort("connectionrefused")
        else:
            await route.continue_()

    await page.route("**/api/me", unreachable)
    await page.goto(live_server.join_url(mint("room", "Room 7"), autojoin="1"))
    await expect(page.locator("#page-status")).to_have_text("Waiting for the server…")
    await expect(page.locator("#classroom")).to_have_attribute("data-phase", "room", timeout=20_000)
    await expect(page.locator("#page-status")).to_be_hidden()
    assert failures == 0


async def test_an_observer_watches_without_devices_or_controls(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint
) -> None:
    browser = await launch_browser()
    await join(browser, live_server, mint("trainer", "Tea"))
    page = await open_join_page(browser, live_server, mint("observer", "Inspector"))
    await expect(page.locator("#join-button")).to_be_visible()
    await expect(page.locator("#camera-select")).to_be_hidden()
    await expect(page.locator("#preview")).to_be_hidden()
    await page.locator("#join-button").click()
    await expect(page.locator("#participant-list li")).to_have_count(2)
    for control in ("#toggle-microphone", "#toggle-camera", "#toggle-hand", "#chat-form"):
        await expect(page.locator(control)).to_be_hidden()
    assert await page.evaluate("window.classroom.localStream.getTracks().length") == 0
    await page.keyboard.press("h")  # no hand to raise: the shortcut does nothing
    await expect(page.locator("#alerts p")).to_have_count(0)


async def test_a_link_that_expires_before_joining_says_why(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint, settings: Settings
) -> None:
    browser = await launch_browser()
    # Valid for ten more seconds (past the leeway the server allows for clock skew):
    # time enough for the page to load even on a busy machine.
    now = int(time.time())
    token = mint("trainee", "Ana", now=now - 60, ttl_s=60 - settings.token_leeway_s + 10)
    refused_from = now + 10 + 1  # the server compares whole seconds
    page = await open_join_page(browser, live_server, token)
    await expect(page.locator("#prejoin")).to_be_visible()
    # Someone waits on the pre-join screen until the link has expired.
    await asyncio.sleep(max(0.0, refused_from - time.time()))
    await page.locator("#join-button").click()
    await expect(page.locator("#ended-heading")).to_have_text("This link cannot be used")
    await expect(page.locator("#ended-text")).to_contain_text("expired")
    await expect(page.locator("#room")).to_be_hidden()
    await expect(page.locator("#connection-state")).to_be_hidden()


RECORD_STATUS = """() => {
  window.statusSeen = [];
  const status = document.querySelector("#connection-state");
  new MutationObserver(() => {
    if (status.textContent) window.statusSeen.push(status.textContent);
  }).observe(status, { childList: true, characterData: true, subtree: true });
}"""

UNLABELLED_CONTROLS = """() => {
  const named = (el) => el.getAttribute('aria-label')
    || [...(el.labels || [])].map((label) => label.textContent).join('')
    || document.getElementById(el.getAttribute('aria-labelledby'))?.textContent
    || (el.tagName === 'BUTTON' && el.textContent);
  return [...document.querySelectorAll('button, input, select, textarea')]
    .filter((el) => el.checkVisibility() && !(named(el) || '').trim())
    .map((el) => el.outerHTML.slice(0, 80));
}"""

VISIBLE_CONTROLS = """() => [...document.querySelectorAll(
    '#room button, #room input, #room select, #room textarea')]
  .filter((el) => el.checkVisibility())
  .map((el) => el.id || el.getAttribute('aria-label') || el.textContent.trim())"""

DESCRIBE_FOCUS = """() => { const el = document.activeElement;
  return el ? (el.id || el.getAttribute('aria-label') || el.textContent.trim()) : ''; }"""
