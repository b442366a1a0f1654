"""Every string of the trainer's camera panel (cameras.js) exists in every shipped language."""

from __future__ import annotations

import json
import re

import pytest

from tests.web.test_classroom_strings import LANGUAGES, STATIC

STATES = ["connecting", "live", "reconnecting", "stopped"]
FIELDS = ["name", "url", "username", "password"]


def used_keys() -> set[str]:
    source = (STATIC / "cameras.js").read_text()
    keys = set(re.findall(r'\bt\(\s*"([\w.]+)"', source))
    errors = re.search(r"const ERRORS = \[(.*?)\];", source)
    assert errors, "cameras.js lists no error codes"
    keys |= {f"cameras.error.{code}" for code in re.findall(r'"(\w+)"', errors.group(1))}
    keys |= {f"cameras.state.{state}" for state in STATES}
    return keys | {f"cameras.{field}" for field in FIELDS}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_camera_string_is_translated(lang: str) -> None:
    catalogue = json.loads((STATIC / "locales" / f"{lang}.json").read_text())
    english = json.loads((STATIC / "locales" / "en.json").read_text())
    keys = used_keys()
    assert len(keys) > 20
    assert sorted(keys - set(catalogue)) == []
    for key in keys:
        assert set(re.findall(r"{\w+}", catalogue[key])) == set(re.findall(r"{\w+}", english[key]))
        if lang != "en" and key != "cameras.url":
            assert catalogue[key] != english[key], f"{lang}: {key} is English"
