"""Every string of the polls, quiz, pairing, companion and report pages exists in every
shipped language, with the same placeholders as in English."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
STATIC = ROOT / "web" / "static"
MODULES = ["polls.js", "quiz_panel.js", "pairing.js", "companion.js", "polls_page.js", "report.js"]
TEMPLATES = ["companion.html", "polls.html", "report.html"]
LANGUAGES = ["en", "sr-Latn", "mk", "sq", "ar"]
NAMESPACES = r"(?:polls|quiz|pairing|companion|report|pollspage)"
# Keys the panels build at run time.
BUILT = (
    [f"polls.kind.{k}" for k in ("single", "multiple", "rating", "text")]
    + [f"polls.state.{s}" for s in ("draft", "open", "closed")]
    + [f"quiz.state.{s}" for s in ("draft", "running", "ended")]
    + [f"quiz.column.{c}" for c in ("rank", "name", "score", "correct", "answered")]
    + [f"role.{r}" for r in ("trainer", "trainee", "interpreter", "room", "observer", "companion")]
)


def used_keys() -> set[str]:
    keys = set(BUILT)
    for name in MODULES:
        keys |= set(re.findall(rf'"({NAMESPACES}\.[\w.]*\w)"', (STATIC / name).read_text()))
    for name in TEMPLATES:
        text = (ROOT / "web" / "templates" / name).read_text()
        keys |= set(re.findall(r'translate\(lang, ["\']([\w.]*\w)["\']', text))
    return keys


def catalogue(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((STATIC / "locales" / f"{lang}.json").read_text("utf-8"))
    return data


def test_the_panels_use_many_strings() -> None:
    keys = used_keys()
    assert len(keys) > 100 and {"polls.send", "quiz.next", "pairing.show"} <= keys


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_string_is_translated_with_its_placeholders(lang: str) -> None:
    strings, english = catalogue(lang), catalogue("en")
    missing = sorted(key for key in used_keys() if not strings.get(key, "").strip())
    assert missing == []
    for key in used_keys():
        wanted = set(re.findall(r"\{(\w+)\}", english[key]))
        assert set(re.findall(r"\{(\w+)\}", strings[key])) == wanted, key
