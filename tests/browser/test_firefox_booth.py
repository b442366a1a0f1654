"""The interpreter's booth in Firefox ESR, beside Chromium, against ``classroom serve`` as users
run it: relay from another booth's channel, and handover between a Chromium and a Firefox
interpreter in both directions, each heard by a Chromium listener on the channel.

What is heard is measured per source: in Chromium the loudness of each received track,
in Firefox the audio energy its WebRTC statistics count on decoding (Firefox plays
nothing without a sound device); the mixer's gains say what reaches the ear at full
level and what is turned down under it. The floor alone at -14 dB is not enough: the
listener must hear the interpreter on air, and only that one.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.browser.conftest import LaunchBrowser
from tests.browser.firefox import FirefoxPage, LaunchFirefox
from tests.browser.mixed import (
    ENERGY_PER_S,
    WAIT_S,
    AnyPage,
    firefox_join,
    hears,
    received,
    until_gains,
)
from tests.browser.test_firefox import chromium_join, no_script_errors
from tests.server import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

#: The floor under an interpretation: -14 dB is a gain of 0.2; at full level it is 1.
LOWERED = (0.1, 0.3)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess.as_users_run_it(tmp_path / "site")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def link(server: ServerProcess, role: str, name: str, lang: str) -> str:
    token = server.mint(role, name, sub=name.lower(), lang=lang)
    return f"{server.url}/join?token={token}"


async def no_longer_receives(page: AnyPage, participant: str, source: str, what: str) -> None:
    """Wait until the page gets no more packets of the source (two looks a second apart)."""
    key = f"{participant}:{source}"
    deadline = time.monotonic() + WAIT_S
    before: float | None = None
    last: dict[str, dict[str, float]] = {}
    while time.monotonic() < deadline:
        last = await received(page)
        now = last.get(key, {}).get("packets")
        if now is None or now == before:
            return
        before = now
        await asyncio.sleep(1.0)
    raise AssertionError(f"{what}: {key} still arrives; the page receives {json.dumps(last)}")


async def energy_per_s(page: FirefoxPage, key: str) -> float:
    """The audio energy a Firefox page decodes from one source in the next second."""
    before = (await received(page)).get(key, {}).get("energy", 0.0)
    await asyncio.sleep(1.0)
    return (await received(page)).get(key, {}).get("energy", 0.0) - before


async def pick_relay(page: FirefoxPage, source: str) -> None:
    """Choose the relay source in the console's list, as a person does with the keyboard."""
    await page.wait_for(
        f"!!document.querySelector('#interpretation-relay option[value=\"{source}\"]')"
    )
    await page.evaluate(
        "(() => { const s = document.querySelector('#interpretation-relay');"
        f" s.focus(); s.value = {json.dumps(source)};"
        " s.dispatchEvent(new Event('change', {bubbles: true})); })()"
    )


#: The console's button to talk to the booth partner instead of the channel.
TALK = ".interpreter-console button[aria-pressed]"


def on_air_text(lang: str) -> str:
    return f"document.querySelector('.on-air li[data-channel=\"{lang}\"]')?.textContent ?? ''"


async def test_a_firefox_interpreter_relays_from_the_english_channel(
    served: ServerProcess, launch_browser: LaunchBrowser, launch_firefox: LaunchFirefox
) -> None:
    """Tea speaks Albanian on the floor; Edin (Chromium) interprets into English; Ivana
    (Firefox) interprets into Serbian from Edin's English (relay); Ana listens in Serbian."""
    tea = await chromium_join(
        await launch_browser(), link(served, "trainer", "Tea", "sq"), camera=False
    )
    await tea.locator("#interpretation-floor-language").select_option("sq")
    await chromium_join(
        await launch_browser(), link(served, "interpreter", "Edin", "en"),
        camera=False, microphone=False,
    )  # fmt: skip
    ivana = await firefox_join(
        await launch_firefox(), link(served, "interpreter", "Ivana", "sr"), camera=False
    )
    ana = await chromium_join(
        await launch_browser(), link(served, "trainee", "Ana", "sr"),
        camera=False, microphone=False,
    )  # fmt: skip
    await ana.locator("#interpretation-channel-sr").check(timeout=WAIT_S * 1000)
    await ivana.wait_for(f"{on_air_text('en')}.includes('Edin')")

    # Ivana hears the floor at full level, and not the English channel: it is not sent her.
    await hears(ivana, "tea", "microphone", "Ivana hears the floor")
    await until_gains(ivana, lambda g: g.get("tea:microphone") == 1, "the floor at full level")
    assert "edin:interpretation" not in await received(ivana)

    # She takes relay from English: Edin at full level, the floor lowered under him.
    await pick_relay(ivana, "en")
    relayed = await hears(ivana, "edin", "interpretation", "Ivana hears Edin's English")
    gains = await until_gains(
        ivana,
        lambda g: (
            g.get("edin:interpretation") == 1
            and LOWERED[0] < g.get("tea:microphone", 1) < LOWERED[1]
        ),
        "Edin at full level, the floor lowered",
    )
    assert await ivana.evaluate("document.querySelector('#interpretation-relay').value") == "en"

    # Her Serbian reaches Ana, who hears Ivana and not Edin's English.
    loud = await hears(ana, "ivana", "interpretation", "Ana hears Ivana's Serbian")
    await until_gains(
        ana,
        lambda g: (
            g.get("ivana:interpretation") == 1
            and g.get("edin:interpretation", 0) == 0
            and LOWERED[0] < g.get("tea:microphone", 1) < LOWERED[1]
        ),
        "Ivana at full level over the lowered floor, Edin silent",
    )
    assert "edin:interpretation" not in await received(ana)

    # Back to the floor: Edin's English is no longer sent to Ivana.
    await pick_relay(ivana, "floor")
    await no_longer_receives(ivana, "edin", "interpretation", "relay back to the floor")
    await until_gains(ivana, lambda g: g.get("tea:microphone") == 1, "the floor at full level")
    print(
        f"relay: Ivana heard Edin with energy {relayed:.4f}/s at gain "
        f"{gains['edin:interpretation']}, floor {gains['tea:microphone']:.2f}; "
        f"Ana heard Ivana at RMS {loud:.3f}"
    )
    no_script_errors(ivana)


async def take_over(giver: AnyPage, taker: AnyPage) -> None:
    """The one on air offers the handover (to anyone), the partner takes it."""
    for page, button in ((giver, "#interpretation-offer"), (taker, "#interpretation-take")):
        if isinstance(page, FirefoxPage):
            await page.click(button)
        else:
            await page.locator(button).click(timeout=WAIT_S * 1000)


async def test_handover_and_booth_talk_between_a_chromium_and_a_firefox_interpreter(
    served: ServerProcess, launch_browser: LaunchBrowser, launch_firefox: LaunchFirefox
) -> None:
    """Ivana (Firefox) is on air into Serbian, Igor (Chromium) her booth partner; Ana
    (Chromium) listens in Serbian through two handovers: to Igor, and back to Ivana.
    Then the partners talk to each other in the booth, which Ana does not get."""
    await chromium_join(await launch_browser(), link(served, "trainer", "Tea", "en"), camera=False)
    ivana = await firefox_join(
        await launch_firefox(), link(served, "interpreter", "Ivana", "sr"), camera=False
    )
    await ivana.wait_for("!!document.querySelector('#interpretation-offer')")
    igor = await chromium_join(
        await launch_browser(), link(served, "interpreter", "Igor", "sr"),
        camera=False, microphone=False,
    )  # fmt: skip
    ana = await chromium_join(
        await launch_browser(), link(served, "trainee", "Ana", "sr"),
        camera=False, microphone=False,
    )  # fmt: skip
    await ana.locator("#interpretation-channel-sr").check(timeout=WAIT_S * 1000)

    async def on_air(name: str, other: str) -> float:
        """Ana hears ``name`` at full level over the lowered floor, ``other`` not at all."""
        key, silent = f"{name.lower()}:interpretation", f"{other.lower()}:interpretation"
        await until_gains(
            ana,
            lambda g: (
                g.get(key) == 1
                and g.get(silent, 0) == 0
                and LOWERED[0] < g.get("tea:microphone", 1) < LOWERED[1]
            ),
            f"{name} at full level, {other} silent, the floor lowered",
        )
        await ana.wait_for_function(
            f"() => ({on_air_text('sr')}).includes({json.dumps(name)})", timeout=WAIT_S * 1000
        )
        loud = await hears(ana, name.lower(), "interpretation", f"Ana hears {name}")
        await no_longer_receives(ana, other.lower(), "interpretation", f"{other} is off air")
        return loud

    first = await on_air("Ivana", "Igor")
    await take_over(ivana, igor)  # Firefox to Chromium
    second = await on_air("Igor", "Ivana")
    await ivana.wait_for(f"{on_air_text('sr')}.includes('Igor')")
    await take_over(igor, ivana)  # Chromium to Firefox
    third = await on_air("Ivana", "Igor")
    assert await ivana.evaluate(
        "document.querySelector('.console-status').classList.contains('on-air-self')"
    )
    print(
        f"Ana's loudness (RMS): Ivana {first:.3f}, then Igor {second:.3f}, then Ivana {third:.3f}"
    )

    # The partners talk in the booth, each way: only the partner hears it, not Ana.
    assert await energy_per_s(ivana, "igor:booth") < ENERGY_PER_S, "the booth talks unasked"
    await igor.locator(TALK).click()
    in_firefox = await hears(ivana, "igor", "booth", "Ivana hears Igor in the booth")
    await igor.locator(TALK).click()
    await ivana.click(TALK)
    in_chromium = await hears(igor, "ivana", "booth", "Igor hears Ivana in the booth")
    assert not {"igor:booth", "ivana:booth"} & set(await received(ana))
    print(
        f"booth talk: Ivana hears Igor ({in_firefox:.4f}/s), Igor hears Ivana ({in_chromium:.3f})"
    )
    no_script_errors(ivana)
