"""Companion pairing: codes from room devices, redeeming them, and companion tokens."""

from __future__ import annotations

import copy

import jwt
import pytest

from classroom import companion as c
from classroom.errors import Forbidden, InvalidCommand, InvalidValue, NotFound, TokenError
from classroom.identity import TokenPolicy, mint_companion_token, mint_token, verify_token
from classroom.permissions import Role

KEY = "k" * 40
POLICY = TokenPolicy("HS256", KEY, "classroom", "classroom")


def issued(code: str = "ABC234", at: float = 0) -> c.Pairing:
    pairing = c.Pairing()
    pairing.handle(c.IssueCode("room3", Role.ROOM, "Room 3", "demo", code), at)
    return pairing


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("ABC234", "ABC234"),
        ("abc 234", "ABC234"),
        ("abc-234", "ABC234"),
        (" a b c 2 3 4 ", "ABC234"),
        # A code never holds 0, 1, I, L or O: typed, each is read as its look-alike.
        ("Q7J 234", "Q7J234"),
        ("o1i 234", "Q7J234"),
        ("0LI-234", "QJJ234"),
        ("ABC10O", "ABC7QQ"),
    ],
)
def test_codes_are_read_the_way_people_type_them(typed: str, normal: str) -> None:
    assert c.normalize_code(typed) == normal


def test_every_look_alike_stands_for_a_character_of_the_alphabet() -> None:
    assert set("01ILO") == set(c.LOOK_ALIKES)
    assert all(typed not in c.CODE_ALPHABET for typed in c.LOOK_ALIKES)
    assert all(target in c.CODE_ALPHABET for target in c.LOOK_ALIKES.values())


def test_a_retired_code_says_it_has_expired() -> None:
    pairing = issued("ABC234", at=0)
    retired = pairing.codes["ABC234"].retired(100)
    assert retired.expires_at == 100 and retired.issued_at == 0
    pairing.codes["ABC234"] = retired
    with pytest.raises(c.CodeExpired, match="expired") as refused:
        pairing.handle(c.RedeemCode("ABC234", "Besa", "p1"), 100)
    assert refused.value.reason == "code_expired" and refused.value.code == "invalid_state"


def test_a_code_typed_with_look_alikes_pairs() -> None:
    pairing = issued("Q7J234")
    (paired,) = pairing.handle(c.RedeemCode("o1l 234", "Besa", "p1"), 10)
    assert isinstance(paired, c.CompanionPaired) and paired.device == "room3"


@pytest.mark.parametrize(
    ("source", "received"),
    [("microphone", True), ("interpretation", True), ("screen", True), ("camera", False),
     ("booth", False)],
)  # fmt: skip
def test_a_phone_receives_voices_and_screens_never_cameras(source: str, received: bool) -> None:
    assert c.phone_receives(source) is received


@pytest.mark.parametrize("typed", ["", "ABC23", "ABC2345", "ÄBC234", "ABC 2U*", "ABC-2_4"])
def test_malformed_codes_are_refused(typed: str) -> None:
    with pytest.raises(InvalidValue, match="6 letters and digits"):
        c.normalize_code(typed)


def test_a_room_device_issues_a_code_that_replaces_its_last() -> None:
    pairing = issued("ABC234")
    (event,) = pairing.handle(c.IssueCode("room3", Role.ROOM, "Room 3", "demo", "XYZ789"), 5)
    assert isinstance(event, c.PairingCodeIssued) and event.to == ("room3",)
    assert event.expires_at == 5 + c.CODE_TTL_S and list(pairing.codes) == ["XYZ789"]
    with pytest.raises(NotFound, match="wrong"):
        pairing.handle(c.RedeemCode("ABC234", "Besa", "p1"), 6)


@pytest.mark.parametrize(
    ("command", "at", "error", "message"),
    [
        (c.RedeemCode("ZZZ999", "Besa", "p1"), 10, NotFound, "wrong"),
        (c.RedeemCode("ABC234", "Besa", "p1"), c.CODE_TTL_S, InvalidCommand, "expired"),
        (c.RedeemCode("ABC234", "  ", "p1"), 10, InvalidValue, "name"),
        (c.RedeemCode("ABC234", "x" * 101, "p1"), 10, InvalidValue, "name"),
        (c.RedeemCode("AB", "Besa", "p1"), 10, InvalidValue, "6 letters"),
        (c.IssueCode("ana", Role.TRAINEE, "Ana", "demo", "QWE234"), 10, Forbidden, "pair"),
        (c.IssueCode("room4", Role.ROOM, "Room 4", "demo", "ABC234"), 10, InvalidCommand, "in use"),
    ],
)
def test_refusals_change_nothing(command: c.Command, at: float, error: type, message: str) -> None:
    pairing = issued()
    before = copy.deepcopy(pairing.codes)
    with pytest.raises(error, match=message):
        pairing.handle(command, at)
    assert pairing.codes == before


def test_a_redeemed_code_makes_a_companion_token_tied_to_the_device() -> None:
    pairing = issued()
    (paired,) = pairing.handle(c.RedeemCode("abc 234", " Besa ", "companion-1"), 30)
    assert isinstance(paired, c.CompanionPaired) and paired.to == ("room3",)
    assert (paired.name, paired.room, paired.device) == ("Besa", "demo", "room3")
    token = mint_companion_token(
        paired, now=30, signing_key=KEY, algorithm="HS256", audience="classroom", issuer="classroom"
    )
    identity = verify_token(token, POLICY, 31, room="demo")
    assert (identity.role, identity.device, identity.sub) == (
        Role.COMPANION,
        "room3",
        "companion-1",
    )
    assert identity.exp - identity.iat == c.COMPANION_TOKEN_TTL_S
    assert identity.to_json()["device"] == "room3"
    with pytest.raises(TokenError, match="expired"):
        verify_token(token, POLICY, 30 + c.COMPANION_TOKEN_TTL_S + 60)


def test_companion_tokens_come_only_from_pairing() -> None:
    with pytest.raises(TokenError, match="unknown role"):
        mint_token(
            room="demo",
            role="companion",
            name="Besa",
            now=0,
            ttl_s=60,
            signing_key=KEY,
            algorithm="HS256",
            audience="classroom",
            issuer="classroom",
        )
    claims = {
        "sub": "p",
        "name": "Besa",
        "room": "demo",
        "role": "companion",
        "device": "room3",
        "iat": 0,
        "exp": c.COMPANION_TOKEN_TTL_S + 1,  # lives longer than pairing gives
        "aud": "classroom",
        "iss": "classroom",
    }
    with pytest.raises(TokenError, match="at most a training day"):
        verify_token(jwt.encode(claims, KEY, algorithm="HS256"), POLICY, 10)
