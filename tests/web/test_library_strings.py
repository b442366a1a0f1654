"""Every string of the library, player and recording controls exists in every shipped language."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from recordings.timeline import plan

ROOT = Path(__file__).resolve().parent.parent.parent
STATIC = ROOT / "web" / "static"
TEMPLATES = [ROOT / "web" / "templates" / name for name in ("library.html", "player.html")]
MODULES = ["library.js", "player.js", "recording.js"]
LANGUAGES = ["en", "sr-Latn", "mk", "sq", "ar"]
# Keys the scripts build at run time.
BUILT = {f"library.status.{state}" for state in ("recording", "processing", "ready", "failed")}
BUILT |= {f"chapter.{kind}" for kind in ("start", "trainer_joined", "screen_share", "poll")}
BUILT |= {"chapter.quiz_question", "chapter.on_air"}


def used_keys() -> set[str]:
    keys = set(BUILT)
    for template in TEMPLATES:
        keys |= set(re.findall(r'translate\(lang, ["\']([\w.]*\w)["\']', template.read_text()))
    for name in MODULES:
        keys |= set(re.findall(r'\bt\(\s*"([\w.]+)"', (STATIC / name).read_text()))
        keys |= {
            f"recording.{k}" for k in re.findall(r'"recording\.(\w+)"', (STATIC / name).read_text())
        }
    return keys


def catalogue(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((STATIC / "locales" / f"{lang}.json").read_text("utf-8"))
    return data


def test_the_pages_use_many_strings() -> None:
    keys = used_keys()
    assert {"library.title", "player.audio", "recording.start", "chapter.poll"} <= keys
    assert len(keys) > 40


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_string_is_translated_with_the_same_placeholders(lang: str) -> None:
    strings, english = catalogue(lang), catalogue("en")
    assert sorted(k for k in used_keys() if not strings.get(k, "").strip()) == []

    def names(text: str) -> set[str]:
        return set(re.findall(r"\{(\w+)\}", text))

    assert [k for k in sorted(used_keys()) if names(strings[k]) != names(english[k])] == []


def test_chapter_strings_fill_in_what_chapters_carry() -> None:
    def event(type_: str, **data: object) -> dict[str, object]:
        return {"kind": "event", "t": 5.0, "type": type_, "data": data}

    journal = [
        {"kind": "started", "t": 0.0, "title": "T"},
        event("participant_joined", participant={"id": "t", "name": "Tea", "role": "trainer"}),
        event("screen_share_changed", id="t", sharing=True),
        event("poll_opened", poll={"question": "Q"}),
        event("question_opened", index=0, question={"text": "Q"}),
        event("on_air_changed", channel="en", id="i", name="Ivo", previous=None),
    ]
    english = catalogue("en")
    chapters = [c for c in plan(journal).chapters if c.kind != "start"]
    assert len(chapters) == 5
    for chapter in chapters:
        wanted = set(re.findall(r"\{(\w+)\}", english[f"chapter.{chapter.kind}"]))
        assert set(chapter.params) == wanted, chapter.kind


@pytest.mark.parametrize("lang", ["sr-Latn", "mk", "sq", "ar"])
def test_sentences_are_not_english_left_in_place(lang: str) -> None:
    strings, english = catalogue(lang), catalogue("en")
    same = [
        k for k in sorted(used_keys()) if strings[k] == english[k] and len(english[k].split()) > 2
    ]
    assert same == []
