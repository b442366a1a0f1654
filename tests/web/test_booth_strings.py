"""Every string the interpreter's booth and the interpretation panel show exists in every
shipped language, placeholders intact (the booth is in the interpreter's UI language)."""

from __future__ import annotations

import re

import pytest

from tests.web.test_classroom_strings import LANGUAGES, STATIC, catalogue, placeholders

MODULES = ["booth.js", "interpretation.js", "interpreter_console.js", "interpretation_dom.js"]
SIGNALS = ["slow_down", "use_microphone"]  # booth.{kind} and signal.{kind}, built at run time


def used_keys() -> set[str]:
    keys: set[str] = set()
    for name in MODULES:
        keys |= set(re.findall(r'\bt\(\s*"([\w.]+)"', (STATIC / name).read_text()))
    keys |= {f"{prefix}.{kind}" for prefix in ("booth", "signal") for kind in SIGNALS}
    return keys


def test_the_booth_uses_its_strings() -> None:
    keys = used_keys()
    assert {"booth.on_air", "booth.cough", "booth.relay_suggestion", "signal.slow_down"} <= keys


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_booth_string_is_translated(lang: str) -> None:
    english, translated = catalogue("en"), catalogue(lang)
    missing = sorted(key for key in used_keys() if key not in translated)
    assert missing == []
    for key in used_keys():
        assert placeholders(translated[key]) == placeholders(english[key]), key
        if lang != "en" and key.startswith(("booth.", "signal.")) and "{" not in english[key]:
            assert translated[key] != english[key] or key == "booth.keys", key
