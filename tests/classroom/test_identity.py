"""Join tokens: what is accepted, and every refusal with the reason it gives."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from classroom.errors import TokenError
from classroom.identity import TokenPolicy, mint_token, parse_duration, verify_token
from classroom.permissions import Role

SECRET = "s" * 40
NOW = 1_800_000_000
POLICY = TokenPolicy("HS256", SECRET, audience="classroom", issuer="classroom", leeway_s=30)


def claims(**changes: Any) -> dict[str, Any]:
    base = {
        "sub": "u1",
        "name": "Ana",
        "room": "demo",
        "role": "trainee",
        "lang": "sr",
        "iat": NOW,
        "exp": NOW + 3600,
        "aud": "classroom",
        "iss": "classroom",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: Any = SECRET, alg: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=alg)


def test_a_minted_token_verifies_to_its_identity() -> None:
    token = mint_token(
        room="demo",
        role="interpreter",
        name=" Amir ",
        lang="ar",
        now=NOW,
        ttl_s=60,
        signing_key=SECRET,
        algorithm="HS256",
        audience="classroom",
        issuer="classroom",
        sub="i-1",
    )
    identity = verify_token(token, POLICY, NOW + 10, room="demo")
    assert (identity.sub, identity.name, identity.role, identity.lang) == (
        "i-1",
        "Amir",
        Role.INTERPRETER,
        "ar",
    )
    assert identity.exp == NOW + 60


def forge(header: dict[str, Any], payload: dict[str, Any], hmac_key: bytes | None) -> str:
    """A token built by hand, as an attacker would (pyjwt refuses to make these)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signing_input = part(header) + "." + part(payload)
    signature = (
        b""
        if hmac_key is None
        else hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    )
    return signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


UNSIGNED = forge({"alg": "none", "typ": "JWT"}, claims(), None)


@pytest.mark.parametrize(
    ("token", "now", "room", "reason"),
    [
        (sign(claims()), NOW + 3600 + 31, None, "expired"),
        (sign(claims(aud="other")), NOW, None, "audience"),
        (sign(claims(iss="evil")), NOW, None, "issuer"),
        (sign(claims()), NOW, "other-room", "another room"),
        (sign(claims(role="admin")), NOW, None, "unknown role"),
        (sign(claims(role="companion")), NOW, None, "must name its room device"),
        (sign(claims(role="trainee", device="d")), NOW, None, "only companion tokens"),
        (UNSIGNED, NOW, None, "algorithm 'none' is not accepted"),
        (sign(claims(), key="wrong" * 10), NOW, None, "signature"),
        (sign(claims(exp=None)), NOW, None, "'exp'"),
        (sign(claims(iat=NOW + 3600)), NOW, None, "future"),
        (sign(claims(lang="not a language")), NOW, None, "lang"),
        (sign(claims(room="../etc")), NOW, None, "room"),
        ("garbage", NOW, None, "well-formed"),
        ("", NOW, None, "missing"),
    ],
)
def test_refused_tokens_say_why(token: str, now: int, room: str | None, reason: str) -> None:
    with pytest.raises(TokenError, match=reason):
        verify_token(token, POLICY, now, room=room)


def test_the_algorithm_is_pinned() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = sign(claims(), key=private, alg="RS256")
    with pytest.raises(TokenError, match="'RS256' is not accepted"):
        verify_token(token, POLICY, NOW)


@pytest.mark.parametrize("algorithm", ["RS256", "EdDSA"])
def test_institutions_can_sign_with_a_key_pair(algorithm: str) -> None:
    private: Any = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if algorithm == "RS256"
        else ed25519.Ed25519PrivateKey.generate()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    policy = TokenPolicy(algorithm, public_pem, "classroom", "classroom")
    identity = verify_token(sign(claims(), key=private, alg=algorithm), policy, NOW)
    assert identity.role is Role.TRAINEE
    # The classic key-confusion attack: HS256 "signed" with the public key.
    confused = forge({"alg": "HS256", "typ": "JWT"}, claims(), public_pem)
    with pytest.raises(TokenError, match="'HS256' is not accepted"):
        verify_token(confused, policy, NOW)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"role": "admin"}, "unknown role"),
        ({"room": "a b"}, "invalid room"),
        ({"name": "  "}, "name"),
        ({"lang": "english!"}, "language"),
        ({"ttl_s": 0}, "ttl"),
    ],
)
def test_minting_checks_its_input(kwargs: dict[str, Any], reason: str) -> None:
    args: dict[str, Any] = {
        "room": "demo",
        "role": "trainee",
        "name": "Ana",
        "now": NOW,
        "ttl_s": 60,
        "signing_key": SECRET,
        "algorithm": "HS256",
        "audience": "classroom",
        "issuer": "classroom",
    }
    with pytest.raises(TokenError, match=reason):
        mint_token(**{**args, **kwargs})


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("45m", 2700), ("2h", 7200), ("7d", 604800)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("2 weeks")
