"""The interpretation panel in real Chromium: live channels, keyboard picking, handover buttons."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import LaunchBrowser, LiveServer
from tests.conftest import Mint


async def enter(browser: Browser, server: LiveServer, token: str) -> Page:
    """A person of their own (a new browser context) passes the pre-join screen."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(server.join_url(token))
    await page.locator("#join-button").click()
    await expect(page.locator("#classroom")).to_have_attribute("data-phase", "room")
    await expect(page.locator("#interpretation")).to_be_visible()
    return page


async def test_a_listener_picks_a_live_channel_with_the_keyboard_and_keeps_it(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint
) -> None:
    browser = await launch_browser()
    await enter(browser, live_server, mint("trainer", "Tea", sub="t"))
    ivana = await enter(browser, live_server, mint("interpreter", "Ivana", sub="i1", lang="sr"))
    listener_token = mint("trainee", "Ana", sub="a", lang="en")
    ana = await enter(browser, live_server, listener_token)

    on_air = ana.locator('#interpretation .on-air li[data-channel="sr"]')
    await expect(on_air).to_contain_text("Serbian")
    await expect(on_air).to_contain_text("Ivana on air")
    original = ana.get_by_role("radio", name="Original (floor)")
    await expect(original).to_be_checked()
    await original.focus()
    await ana.keyboard.press("ArrowDown")  # a radio group: the arrow picks the next channel
    serbian = ana.get_by_role("radio", name="Serbian")
    await expect(serbian).to_be_checked()
    await expect(serbian).to_be_focused()
    slider = ana.get_by_label("Floor level under the interpretation")
    await slider.focus()
    await ana.keyboard.press("ArrowLeft")  # -14 dB -> -15 dB
    await slider.blur()
    await expect(ana.locator("#interpretation output")).to_have_text("-15 dB")

    # The choice is the server's: it comes back when Ana closes the page and opens her link
    # again in a new one.
    await ana.context.close()
    ana = await enter(browser, live_server, listener_token)
    await expect(ana.get_by_role("radio", name="Serbian")).to_be_checked()
    await expect(ana.get_by_label("Floor level under the interpretation")).to_have_value("-15")

    # The interpreter's console, in the token's language: on air, nobody to hand over to yet.
    console = ivana.locator(".interpreter-console")
    await expect(console).to_contain_text("Prevodite na: srpski.")
    await expect(console).to_contain_text("Vi ste u eteru.")
    await expect(ivana.get_by_role("button", name="Ponudi predaju")).to_be_disabled()


async def test_handover_and_booth_chat_between_partners_in_arabic(
    live_server: LiveServer, launch_browser: LaunchBrowser, mint: Mint
) -> None:
    browser = await launch_browser()
    trainer = await enter(browser, live_server, mint("trainer", "Tea", sub="t"))
    rania = await enter(browser, live_server, mint("interpreter", "Rania", sub="r1", lang="ar"))
    samir = await enter(browser, live_server, mint("interpreter", "Samir", sub="r2", lang="ar"))
    assert await rania.evaluate("document.documentElement.dir") == "rtl"
    await expect(rania.locator(".interpreter-console")).to_contain_text("أنت على الهواء.")

    await rania.get_by_role("button", name="اعرض التسليم").press("Enter")
    take = samir.get_by_role("button", name="تسلّم")
    await expect(take).to_be_visible()
    await take.press("Enter")
    await expect(samir.locator(".interpreter-console")).to_contain_text("أنت على الهواء.")
    await expect(trainer.locator('.on-air li[data-channel="ar"]')).to_contain_text("Samir on air")
    label = trainer.locator('.on-air li[data-channel="ar"] span[lang="ar"]')
    await expect(label).to_have_attribute("dir", "rtl")

    box = samir.get_by_label("رسالة إلى المقصورة")
    await box.fill("شكراً")
    await box.press("Enter")
    await expect(rania.locator(".booth-log")).to_contain_text("Samir: شكراً")
    await expect(trainer.locator(".booth-log")).to_have_count(1)
    await expect(trainer.locator(".booth-log li")).to_have_count(0)
