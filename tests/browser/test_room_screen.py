"""A conference room's big screen in real Chromium against ``classroom serve`` run as users
run it, as people in the room see it: a trainer and a trainee on laptops (1366x768), the
room device (1920x1080, and 4K) and a trainee's phone. What is asserted is what shows:
boxes inside the viewport, computed font sizes, the share of the screen video takes,
frames decoding. Screenshots of each step are kept in test-artifacts/room-screen/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.browser.conftest import LaunchBrowser
from tests.browser.participants import join
from tests.browser.test_classroom_media import WAIT_MS, decoding
from tests.server import ServerProcess

pytestmark = pytest.mark.timeout(420)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "room-screen"
FULL_HD = {"width": 1920, "height": 1080}
LAPTOP = {"width": 1366, "height": 768}


class Served:
    """The server process as the browser helpers reach it."""

    def __init__(self, process: ServerProcess) -> None:
        self.process = process
        self.url = process.url

    def join_url(self, token: str, **query: str) -> str:
        extra = "".join(f"&{k}={v}" for k, v in query.items())
        return f"{self.url}/join?token={token}{extra}"

    def mint(self, role: str, name: str, **claims: str) -> str:
        return self.process.mint(role, name, **claims)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    process = ServerProcess.as_users_run_it(tmp_path / "classroom")
    await process.start()
    try:
        yield Served(process)
    finally:
        await process.stop()


async def enter(browser: Browser, served: Served, token: str, **context: Any) -> Page:
    return await join(browser, served, token, **context)  # type: ignore[arg-type]


async def room_device(browser: Browser, served: Served, **context: Any) -> Page:
    token = served.mint("room", "Room 3", sub="room3")
    return await join(browser, served, token, autojoin=True, **context)  # type: ignore[arg-type]


async def box(locator: Locator) -> dict[str, float]:
    found = await locator.bounding_box()
    assert found is not None, f"{locator} is not shown"
    return found


async def inside_viewport(page: Page, locator: Locator) -> dict[str, float]:
    """The element's box, asserted whole inside the window (not below the fold)."""
    await expect(locator).to_be_visible()
    found = await box(locator)
    size = page.viewport_size
    assert size is not None
    assert found["x"] >= -0.5 and found["y"] >= -0.5, (locator, found)
    assert found["x"] + found["width"] <= size["width"] + 0.5, (locator, found, size)
    assert found["y"] + found["height"] <= size["height"] + 0.5, (locator, found, size)
    return found


async def font_px(locator: Locator) -> float:
    size: str = await locator.evaluate("(e) => getComputedStyle(e).fontSize")
    return float(size.removesuffix("px"))


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


async def no_sideways_scroll(page: Page) -> None:
    wide = await page.evaluate("document.documentElement.scrollWidth - innerWidth")
    assert wide <= 0, f"the page scrolls sideways by {wide}px"


CROWD = """() => {
  for (let i = 1; i <= 9; i++) {
    window.classroom.participants.set(`crowd${i}`, {id: `crowd${i}`, name: `Trainee ${i}`,
      role: "trainee", connected: true, hand_raised: false, audio_muted: false,
      screen_sharing: false});
  }
  window.classroom.render();
}"""
CROWD_LEAVES = """() => {
  for (let i = 1; i <= 9; i++) window.classroom.participants.delete(`crowd${i}`);
  window.classroom.render();
}"""


async def shot(page: Page, tmp_path: Path, name: str) -> None:
    """A screenshot kept after the run: test-artifacts/room-screen/ (git-ignored)."""
    folder = ARTIFACTS / tmp_path.name
    folder.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(folder / f"{name}.png"))


def tile(page: Page, participant: str) -> Locator:
    return page.locator(f'.tile[data-participant="{participant}"][data-source="camera"]')


async def pair_phone(browser: Browser, served: Served, room: Page, name: str) -> Page:
    """A trainee's phone scans the room's code: the companion page, paired."""
    code = (await room.locator("#room-pairing .room-code").inner_text()).replace(" ", "")
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = await context.new_page()
    await phone.goto(f"{served.url}/companion?code={code}", wait_until="domcontentloaded")
    await expect(phone.locator("#pair-name")).to_be_editable(timeout=WAIT_MS)
    await phone.locator("#pair-name").fill(name)
    await phone.locator("#pair-form").get_by_role("button").first.click()
    # (The page's wording is the phone's own; it names the trainee once paired.)
    live = phone.get_by_text(f"You are in the room as {name}").first
    await expect(live).to_be_visible(timeout=WAIT_MS)
    return phone


async def open_poll(trainer: Page, question: str, options: str) -> None:
    polls = trainer.locator("#polls")
    await polls.get_by_label("Question", exact=True).fill(question)
    await polls.get_by_label("Kind of poll").select_option("single")
    await polls.get_by_label("Options, one per line").fill(options)
    await polls.get_by_role("button", name="Create and open").click()


async def test_the_room_screen_at_1080p_with_a_trainer_a_laptop_and_a_phone(
    served: Served, launch_browser: LaunchBrowser, tmp_path: Path
) -> None:
    browser = await launch_browser()
    tea = await enter(browser, served, served.mint("trainer", "Tea", sub="tea"), viewport=LAPTOP)
    room = await room_device(browser, served, viewport=FULL_HD)
    besa = await enter(browser, served, served.mint("trainee", "Besa", sub="besa"), viewport=LAPTOP)

    # Before the session: the phones' code shows by itself, large, with its QR code.
    corner = room.locator("#room-pairing")
    await expect(corner.locator(".room-code")).to_have_text(
        re.compile(r"^[2-9A-Z]{3} [2-9A-Z]{3}$")
    )
    await inside_viewport(room, corner)
    qr_before = await inside_viewport(room, corner.locator(".room-qr svg"))
    assert qr_before["width"] >= 300, qr_before
    assert await font_px(corner.locator(".room-code")) >= 48
    await expect(corner.locator(".room-phones")).to_have_text("No phones paired yet")
    await shot(room, tmp_path, "room-1080p-before-session")

    # A phone pairs: the room screen counts it.
    phone = await pair_phone(browser, served, room, "Besa")
    await expect(corner.locator(".room-phones")).to_have_text("Phones: 1 paired, 1 connected")
    await shot(phone, tmp_path, "phone-paired")

    # The session starts: the code moves to a corner beside the video, never over it.
    await tea.locator("#start-session").click()
    await expect(room.locator("#session-state")).to_have_attribute("data-state", "live")
    await expect(room.locator("#classroom")).not_to_have_class(re.compile("session-waiting"))
    await decoding(room, "tea")
    await decoding(room, "besa")
    qr_during = await inside_viewport(room, corner.locator(".room-qr svg"))
    assert 100 <= qr_during["width"] < qr_before["width"], qr_during
    stage = await inside_viewport(room, room.locator("#stage .tile"))
    assert not overlap(stage, await box(corner))
    for participant in ("besa", "room3"):
        assert not overlap(await box(tile(room, participant)), await box(corner))

    # Video fills the screen: the trainer large, the others beside, names readable.
    assert stage["width"] * stage["height"] >= 0.5 * 1920 * 1080, stage
    side = await inside_viewport(room, tile(room, "besa"))
    assert side["width"] >= 300, side
    await expect(room.locator("#stage .tile")).to_have_attribute("data-participant", "tea")
    for name in ("#stage .tile-name", '.tile[data-participant="besa"] .tile-name'):
        assert await font_px(room.locator(name)) >= 20
    # The top bar and the room's own state, readable from the back of the room.
    for part in ("#room-heading", "#session-state", ".room-microphone", ".room-channel"):
        await inside_viewport(room, room.locator(part))
        assert await font_px(room.locator(part)) >= 20, part
    await expect(room.locator(".room-microphone")).to_have_text("Microphone on")
    await expect(room.locator(".room-channel")).to_have_text("Sound: original")
    await expect(room.locator(".room-recording")).to_be_hidden()
    # The trainer records: the room says so in large type, and stops saying it after.
    await tea.get_by_role("button", name="Start recording").click()
    recording = room.locator(".room-recording")
    await expect(recording).to_have_text("Recording", timeout=WAIT_MS)
    await inside_viewport(room, recording)
    assert await font_px(recording) >= 20
    await tea.get_by_role("button", name="Stop recording").click()
    await expect(recording).to_be_hidden(timeout=WAIT_MS)
    # The trainer mutes the room, then lets it speak: the screen says which, from afar.
    room_row = tea.locator('#participant-list li[data-id="room3"]')
    await room_row.get_by_role("button", name="Mute Room 3").click()
    await expect(room.locator(".room-microphone")).to_have_text("Muted by the trainer")
    await room_row.get_by_role("button", name="Unmute Room 3").click()
    await expect(room.locator(".room-microphone")).to_have_text("Microphone on")
    # An interpreter opens a Serbian channel; the room listens to it, and shows it.
    interpreter = served.mint("interpreter", "Ivana", sub="ivana", lang="sr")
    ivana = await enter(browser, served, interpreter, viewport=LAPTOP)
    await room.locator("#toggle-panel").click()
    await room.locator('input[name="interpretation-channel"][value="sr"]').check(timeout=WAIT_MS)
    await room.locator("#toggle-panel").click()
    await expect(room.locator(".room-channel")).to_have_text("Sound: Serbian interpretation")
    await inside_viewport(room, room.locator(".room-channel"))
    await ivana.context.close()
    await shot(room, tmp_path, "room-1080p-video")

    # The laptop trainee's page holds at 1366x768: the stage, the panel, the toolbar.
    await inside_viewport(besa, besa.locator("#stage .tile"))
    await inside_viewport(besa, besa.locator(".toolbar"))
    await no_sideways_scroll(besa)
    await shot(besa, tmp_path, "laptop-1366x768")

    # Toggles say what they do now.
    hand = besa.locator("#toggle-hand")
    await expect(hand).to_have_text("Raise hand")
    await hand.click()
    await expect(hand).to_have_text("Lower hand")
    await expect(hand).to_have_attribute("aria-pressed", "true")
    await hand.click()
    await expect(hand).to_have_text("Raise hand")
    await expect(hand).to_have_attribute("aria-pressed", "false")
    microphone = besa.locator("#toggle-microphone")
    await microphone.click()
    await expect(microphone).to_have_text("Unmute")
    await expect(microphone).to_have_attribute("aria-pressed", "true")
    lock = tea.locator("#lock-room")
    await lock.click()
    await expect(lock).to_have_text("Unlock")
    await expect(lock).to_have_attribute("aria-pressed", "true")
    await lock.click()
    await expect(lock).to_have_text("Lock room")

    # A poll opened by the trainer takes the room screen at once, large, with the QR code.
    await open_poll(tea, "Is the asylum procedure clear?", "Yes\nNot yet")
    takeover = room.locator("#takeover")
    await expect(takeover).to_be_visible()
    question = takeover.locator(".takeover-question")
    await expect(question).to_have_text("Is the asylum procedure clear?")
    await inside_viewport(room, question)
    assert await font_px(question) >= 32
    for option in ("Yes", "Not yet"):
        item = takeover.locator(".takeover-options li", has_text=option)
        await inside_viewport(room, item)
        assert await font_px(item) >= 28
    answer = await inside_viewport(room, takeover.locator(".takeover-answer"))
    for item in await takeover.locator(".takeover-options li").all():
        assert not overlap(await box(item), answer)
    await inside_viewport(room, takeover.locator(".takeover-qr svg"))
    await expect(takeover.locator(".takeover-code")).to_have_text(
        await corner.locator(".room-code").inner_text()
    )
    await shot(room, tmp_path, "room-1080p-poll")

    # The phone answers; closing the poll gives the screen back to the video.
    await phone.get_by_label("Yes", exact=True).check()
    await phone.get_by_role("button", name="Send answer").click()
    await expect(phone.get_by_text("Your answer is recorded.")).to_be_visible(timeout=WAIT_MS)
    await tea.locator("#polls").get_by_role("button", name="Close").click()
    await expect(takeover).to_be_hidden()
    await expect(room.locator("#stage .tile")).to_be_visible()
    await decoding(room, "tea")

    # Published results take the screen as a large chart.
    await tea.locator("#polls").get_by_role("button", name="Publish results").click()
    chart = takeover.get_by_role("img", name=re.compile("Yes: 1; Not yet: 0"))
    await inside_viewport(room, chart)
    assert (await box(chart))["width"] >= 0.6 * 1920
    for label in await takeover.locator(".takeover-label").all():
        await inside_viewport(room, label)
        assert await font_px(label) >= 28
    await shot(room, tmp_path, "room-1080p-results")

    # A quiz question: its countdown, then it gives way when the trainer ends the quiz.
    quizzes = tea.locator("#polls .quizzes")
    await quizzes.get_by_label("Title").fill("Borders")
    await quizzes.get_by_label("Questions, one per line").fill(
        "Which agency guards EU borders? | *Frontex | Europol"
    )
    await quizzes.get_by_role("button", name="Create quiz").click()
    await quizzes.get_by_role("button", name="Start").click()
    await expect(question).to_have_text("Which agency guards EU borders?")
    countdown = takeover.locator(".takeover-countdown")
    await expect(countdown).to_have_text(re.compile(r"^\d+ s left$"))
    await inside_viewport(room, countdown)
    assert await font_px(countdown) >= 28
    await shot(room, tmp_path, "room-1080p-quiz")
    await besa.get_by_label("Frontex").check()
    await besa.locator(".quiz-answer").get_by_role("button", name="Send answer").click()
    await expect(besa.get_by_text("Your answer is recorded.")).to_be_visible(timeout=WAIT_MS)
    await quizzes.get_by_role("button", name="End quiz").click()
    await expect(takeover).to_be_hidden()
    # The trainer's results table fits the side panel.
    table = tea.get_by_role("table", name="Everyone's results")
    await expect(table).to_be_visible()
    card = await box(tea.locator("#panel .quiz").first)
    panel = await box(tea.locator("#panel"))
    table_box = await box(table)
    for inner, outer in ((table_box, card), (card, panel)):
        assert inner["x"] >= outer["x"] - 0.5, (inner, outer)
        assert inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 0.5, (inner, outer)
    # Whole, not scrolled: every column shows.
    scrolls = "(e) => e.scrollWidth > e.clientWidth"
    assert not await tea.locator(".quiz-table-box").last.evaluate(scrolls)
    await shot(tea, tmp_path, "trainer-quiz-results")


@pytest.mark.parametrize(
    ("viewport", "scale"),
    [(FULL_HD, 2), ({"width": 3840, "height": 2160}, 1), (LAPTOP, 1)],
    ids=["1080p-css-at-dpr2", "2160p-css", "laptop-1366x768"],
)
async def test_the_room_screen_at_4k_and_on_a_laptop(
    served: Served,
    launch_browser: LaunchBrowser,
    tmp_path: Path,
    viewport: dict[str, int],
    scale: int,
) -> None:
    browser = await launch_browser()
    tea = await enter(browser, served, served.mint("trainer", "Tea", sub="tea"), viewport=LAPTOP)
    room = await room_device(browser, served, viewport=viewport, device_scale_factor=scale)
    # Sizes follow the screen: at 3840 CSS px wide everything is twice the 1080p size;
    # a smaller screen keeps the 1080p minimums.
    grow = max(1.0, viewport["width"] / 1920)
    corner = room.locator("#room-pairing")
    await expect(corner.locator(".room-code")).to_have_text(re.compile(r"^\S{3} \S{3}$"))
    await inside_viewport(room, corner.locator(".room-qr svg"))
    await tea.locator("#start-session").click()
    await expect(room.locator("#session-state")).to_have_attribute("data-state", "live")
    await decoding(room, "tea")
    stage = await inside_viewport(room, room.locator("#stage .tile"))
    assert stage["width"] * stage["height"] >= 0.5 * viewport["width"] * viewport["height"]
    assert not overlap(stage, await box(corner))
    assert await font_px(room.locator("#stage .tile-name")) >= 20 * grow
    assert await font_px(room.locator("#session-state")) >= 20 * grow
    await shot(room, tmp_path, f"room-{viewport['width']}-dpr{scale}-video")

    # A crowded class (laid out from the room's state: nine more people, no cameras):
    # every tile stays on the screen, beside the stage, clear of the phones' code.
    await room.evaluate(CROWD)
    await expect(room.locator("#gallery .tile")).to_have_count(10)
    pairing = await box(corner)
    crowded = await inside_viewport(room, room.locator("#stage .tile"))  # the column widened
    for each in await room.locator("#gallery .tile").all():
        seen = await inside_viewport(room, each)
        assert not overlap(seen, pairing) and not overlap(seen, crowded)
        assert seen["height"] >= 60 * grow, seen
    assert await font_px(room.locator("#gallery .tile-name").last) >= 20 * grow
    await shot(room, tmp_path, f"room-{viewport['width']}-dpr{scale}-crowd")
    await room.evaluate(CROWD_LEAVES)
    await expect(room.locator("#gallery .tile")).to_have_count(1)

    await open_poll(tea, "Which document proves identity?", "Passport\nLibrary card\nNone")
    question = room.locator("#takeover .takeover-question")
    await inside_viewport(room, question)
    assert await font_px(question) >= 32 * grow
    await inside_viewport(room, room.locator("#takeover .takeover-qr svg"))
    await shot(room, tmp_path, f"room-{viewport['width']}-dpr{scale}-poll")
    await tea.locator("#polls").get_by_role("button", name="Close").click()
    await expect(room.locator("#takeover")).to_be_hidden()


async def test_the_room_screen_holds_right_to_left(
    served: Served, launch_browser: LaunchBrowser, tmp_path: Path
) -> None:
    browser = await launch_browser()
    tea = await enter(browser, served, served.mint("trainer", "Tea", sub="tea"), viewport=LAPTOP)
    token = served.mint("room", "Room 3", sub="room3")
    context = await browser.new_context(viewport=FULL_HD)
    room = await context.new_page()
    await room.goto(served.join_url(token, autojoin="1", lang="ar"))
    await expect(room.locator("#classroom")).to_have_attribute(
        "data-phase", "room", timeout=WAIT_MS
    )
    assert await room.get_attribute("html", "dir") == "rtl"
    corner = room.locator("#room-pairing")
    await expect(corner.locator(".room-phones")).to_have_text("لا توجد هواتف مقترنة بعد")
    await tea.locator("#start-session").click()
    await decoding(room, "tea")
    stage = await inside_viewport(room, room.locator("#stage .tile"))
    pairing = await inside_viewport(room, corner)
    assert not overlap(stage, pairing)
    assert pairing["x"] < stage["x"], "the side column is on the left in Arabic"
    await open_poll(tea, "Is the asylum procedure clear?", "Yes\nNot yet")
    question = room.locator("#takeover .takeover-question")
    await inside_viewport(room, question)
    assert await font_px(question) >= 32
    answer = await inside_viewport(room, room.locator("#takeover .takeover-answer"))
    assert answer["x"] < (await box(question))["x"], "the way to answer is on the left"
    for option in await room.locator("#takeover .takeover-options li").all():
        assert not overlap(await inside_viewport(room, option), answer)
    await no_sideways_scroll(room)
    await shot(room, tmp_path, "room-1080p-rtl-poll")
