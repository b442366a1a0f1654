"""Join tokens (issue 14): not valid before nbf, names matched whole, an id to revoke them."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from classroom.errors import TokenError
from classroom.identity import (
    TokenPolicy,
    mint_token,
    valid_language,
    valid_room_name,
    verify_token,
)

SECRET = "s" * 40
NOW = 1_800_000_000
POLICY = TokenPolicy("HS256", SECRET, audience="classroom", issuer="classroom", leeway_s=30)
BASE = {
    "sub": "u1",
    "name": "Ana",
    "room": "demo",
    "role": "trainee",
    "iat": NOW,
    "exp": NOW + 3600,
    "aud": "classroom",
    "iss": "classroom",
}

CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("nbf in the past", {"nbf": NOW - 10}, None),
    ("nbf within the leeway", {"nbf": NOW + 30}, None),
    ("nbf in the future", {"nbf": NOW + 31}, "token is not valid yet"),
    ("nbf not a number", {"nbf": "soon"}, "token nbf must be an integer"),
    ("nbf a boolean", {"nbf": True}, "token nbf must be an integer"),
    ("room with a newline", {"room": "demo\n"}, "token room is invalid"),
    ("lang with a newline", {"lang": "sr\n"}, "token lang is not a language code"),
    ("jti empty", {"jti": ""}, "token jti is invalid"),
]


@pytest.mark.parametrize(("changes", "refusal"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_claims_accepted_and_refused(changes: dict[str, Any], refusal: str | None) -> None:
    token = jwt.encode({**BASE, **changes}, SECRET, algorithm="HS256")
    if refusal is None:
        assert verify_token(token, POLICY, NOW).sub == "u1"
    else:
        with pytest.raises(TokenError) as error:
            verify_token(token, POLICY, NOW)
        assert error.value.message == refusal


@pytest.mark.parametrize(
    ("text", "room", "lang"),
    [("demo", True, False), ("sr", True, True), ("sr\n", False, False), ("demo\n", False, False)],
)
def test_names_are_matched_whole(text: str, room: bool, lang: bool) -> None:
    assert (valid_room_name(text), valid_language(text)) == (room, lang)


def test_every_minted_token_has_its_own_id() -> None:
    def minted() -> str:
        return mint_token(
            room="demo", role="trainee", name="Ana", now=NOW, ttl_s=60, signing_key=SECRET,
            algorithm="HS256", audience="classroom", issuer="classroom",
        )  # fmt: skip

    first, second = (verify_token(minted(), POLICY, NOW) for _ in range(2))
    assert first.jti and second.jti and first.jti != second.jti
