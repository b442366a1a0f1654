"""Every string the classroom page shows exists in every shipped language, placeholders intact."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
STATIC = ROOT / "web" / "static"
TEMPLATE = ROOT / "web" / "templates" / "classroom.html"
# The page's own modules (classroom.js and the classroom_*.js it is split into) and those it uses.
CLASSROOM_MODULES = sorted(path.name for path in STATIC.glob("classroom*.js"))
PAGE_MODULES = [*CLASSROOM_MODULES, "prejoin.js", "stage.js", "people.js", "chat.js"]
LANGUAGES = ["en", "sr-Latn", "mk", "sq", "ar"]

# Keys the page builds at run time rather than spelling out.
ENDINGS = ["left", "removed", "denied", "replaced", "refused", "no_token", "banned", "full"]
LEAVE_REASONS = ["left", "timeout", "removed", "denied"]  # participant_left reasons
ROLES = ["trainer", "trainee", "interpreter", "room", "observer", "companion"]


def error_codes() -> list[str]:
    """The error codes docs/protocol.md promises, each shown translated."""
    text = (ROOT / "docs" / "protocol.md").read_text()
    listed = re.search(r"Codes: (.*?)\.\n", text, flags=re.S)
    assert listed, "docs/protocol.md lists no error codes"
    return [code for code in re.findall(r"`([a-z_]+)`", listed.group(1)) if code != "replaced"]


def used_keys() -> set[str]:
    keys = set(re.findall(r'translate\(lang, ["\']([\w.]*\w)["\']', TEMPLATE.read_text()))
    for name in PAGE_MODULES:
        keys |= set(re.findall(r'\bt\(\s*"([\w.]+)"', (STATIC / name).read_text()))
    keys |= {f"ended.{end}.{part}" for end in ENDINGS for part in ("title", "text")}
    keys |= {f"room.someone_left_{reason}" for reason in LEAVE_REASONS}
    keys |= {f"role.{role}" for role in ROLES}
    keys |= {f"error.{code}" for code in error_codes()}
    return keys


def catalogue(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((STATIC / "locales" / f"{lang}.json").read_text("utf-8"))
    return data


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_the_page_uses_many_strings() -> None:
    assert {"classroom.js", "classroom_room.js", "classroom_controls.js"} <= set(CLASSROOM_MODULES)
    keys = used_keys()
    assert len(keys) > 100 and "prejoin.join" in keys and "error.forbidden" in keys


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_page_string_is_translated(lang: str) -> None:
    strings, english = catalogue(lang), catalogue("en")
    missing = sorted(key for key in used_keys() if not strings.get(key, "").strip())
    assert missing == []
    wrong = sorted(
        key for key in used_keys() if placeholders(strings[key]) != placeholders(english[key])
    )
    assert wrong == [], "placeholders differ from English"


@pytest.mark.parametrize("lang", ["sr-Latn", "mk", "sq", "ar"])
def test_translations_are_not_english_left_in_place(lang: str) -> None:
    strings, english = catalogue(lang), catalogue("en")
    # Short labels may coincide ("Chat", "Camera {n}"); whole sentences must not.
    same = sorted(
        key for key in used_keys() if strings[key] == english[key] and len(english[key].split()) > 2
    )
    assert same == []


def test_arabic_strings_are_arabic_script() -> None:
    strings = catalogue("ar")
    latin_only = sorted(
        key
        for key in used_keys()
        if not re.search(r"[\u0600-\u06ff]", re.sub(r"\{\w+\}", "", strings[key]))
    )
    assert latin_only == []
