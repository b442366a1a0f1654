"""A person filling forms in a Firefox ESR page over WebDriver BiDi: real pointer clicks and
real key presses (tests/browser/firefox.py drives the browser), things found as a person
finds them, by the text of a button or a label, and text read as it is shown."""

from __future__ import annotations

import itertools
import json
from typing import Any

from tests.browser.firefox import FirefoxPage

_marks = itertools.count(1)

#: WebDriver's key for Enter (a new line in a text area).
ENTER = "\ue007"


async def type_into(page: FirefoxPage, selector: str, text: str) -> None:
    """Click into the field and type the text key by key ("\\n" presses Enter)."""
    await page.click(selector)  # (the tab comes to the front: see FirefoxPage.activate)
    actions: list[dict[str, Any]] = []
    for char in text:
        key = ENTER if char == "\n" else char
        actions += [{"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]
    await page.browser.send(
        "input.performActions",
        {
            "context": page.context,
            "actions": [{"type": "key", "id": "keyboard", "actions": actions}],
        },
    )


async def _mark(page: FirefoxPage, finder: str, what: str, within: float) -> str:
    """Wait until ``finder`` (a function body returning an element) finds one shown and
    enabled, mark it, and return a selector for the mark."""
    mark = f"t{next(_marks)}"
    try:
        await page.wait_for(
            f"(() => {{ const e = (() => {{ {finder} }})();"
            " if (!e || e.disabled || !e.getClientRects().length) return false;"
            f" e.setAttribute('data-test-mark', {json.dumps(mark)}); return true; }})()",
            within=within,
        )
    except TimeoutError:
        raise AssertionError(f"no {what} shown and enabled within {within} s") from None
    return f'[data-test-mark="{mark}"]'


async def click_button(
    page: FirefoxPage, text: str, within: str = "body", wait: float = 30
) -> None:
    """Click the button whose text is ``text`` inside the element ``within`` finds."""
    finder = (
        f"const scope = document.querySelector({json.dumps(within)});"
        " return scope && [...scope.querySelectorAll('button')]"
        f".find((b) => b.textContent.trim() === {json.dumps(text)});"
    )
    await page.click(await _mark(page, finder, f"button {text!r}", wait))


async def choose(page: FirefoxPage, label: str, within: str = "body", wait: float = 30) -> None:
    """Click the radio button or check box whose label reads ``label``."""
    finder = (
        f"const scope = document.querySelector({json.dumps(within)});"
        " const l = scope && [...scope.querySelectorAll('label')]"
        f".find((l) => l.textContent.trim() === {json.dumps(label)});"
        " return l && document.getElementById(l.htmlFor);"
    )
    await page.click(await _mark(page, finder, f"choice {label!r}", wait))


async def shown_text(page: FirefoxPage, selector: str) -> str:
    """The text of what the selector finds (all of them, one per line), as shown."""
    value = await page.evaluate(
        f"[...document.querySelectorAll({json.dumps(selector)})]"
        ".filter((e) => e.getClientRects().length).map((e) => e.innerText).join('\\n')"
    )
    return str(value or "")


async def until_text(page: FirefoxPage, selector: str, expected: str, within: float = 30) -> str:
    """Wait until what the selector finds shows ``expected``; the text shown."""
    found = json.dumps(selector)
    await page.wait_for(
        f"[...document.querySelectorAll({found})].filter((e) => e.getClientRects().length)"
        f".some((e) => e.innerText.includes({json.dumps(expected)}))",
        within=within,
    )
    return await shown_text(page, selector)


async def until_label(page: FirefoxPage, selector: str, expected: str, within: float = 30) -> str:
    """Wait until an element the selector finds is labelled (aria-label) with ``expected``
    in it, as a chart's text alternative is; that label."""
    found = json.dumps(selector)
    label: str = await page.wait_for(
        f"[...document.querySelectorAll({found})].map((e) => e.getAttribute('aria-label') || '')"
        f".find((l) => l.includes({json.dumps(expected)}))",
        within=within,
    )
    return label
