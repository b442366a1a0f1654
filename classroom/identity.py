"""Join tokens: who a participant is, minted and checked as JWTs against a given time."""

from __future__ import annotations

import dataclasses
import re
import uuid
from typing import Any

import jwt

from classroom.companion import COMPANION_TOKEN_TTL_S, CompanionPaired
from classroom.errors import TokenError
from classroom.permissions import TOKEN_ROLES, Role

# Matched whole (fullmatch): "$" would also accept a trailing newline.
_LANG = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_ROOM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_REQUIRED = ("sub", "name", "room", "role", "exp", "iat", "aud", "iss")


@dataclasses.dataclass(frozen=True)
class Identity:
    """What a verified join token says about its bearer."""

    sub: str
    name: str
    room: str
    role: Role
    lang: str | None
    exp: int
    iat: int
    device: str | None = None  # companions only: the room device they paired with
    jti: str | None = None  # the token's id, to revoke it (not shown to clients)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "sub": self.sub,
            "name": self.name,
            "room": self.room,
            "role": self.role.value,
            "lang": self.lang,
            "exp": self.exp,
            "iat": self.iat,
        }
        if self.device is not None:
            data["device"] = self.device
        return data


@dataclasses.dataclass(frozen=True)
class TokenPolicy:
    """What a token must satisfy: the pinned algorithm, its key, audience, issuer, leeway."""

    algorithm: str
    verify_key: Any  # HS256: the shared secret; RS256/EdDSA: a public key (PEM or object)
    audience: str
    issuer: str
    leeway_s: int = 30


def valid_room_name(room: str) -> bool:
    return bool(_ROOM.fullmatch(room))


def valid_language(lang: str) -> bool:
    return bool(_LANG.fullmatch(lang))


def claimed_language(token: str) -> str | None:
    """The ``lang`` a token claims, read without verifying it: only to say in the person's
    language why their link is refused (an expired link still names its language)."""
    try:
        lang = jwt.decode(token, options={"verify_signature": False}).get("lang")
    except jwt.PyJWTError:
        return None
    return lang if isinstance(lang, str) and valid_language(lang) else None


def mint_token(
    *,
    room: str,
    role: Role | str,
    name: str,
    now: int,
    ttl_s: int,
    signing_key: Any,
    algorithm: str,
    audience: str,
    issuer: str,
    lang: str | None = None,
    sub: str | None = None,
) -> str:
    """A signed join token for one person in one room, valid from now for ttl_s seconds."""
    if not valid_room_name(room):
        raise TokenError(f"invalid room name {room!r}")
    if role not in {r.value for r in TOKEN_ROLES}:
        raise TokenError(f"unknown role {role!r}; one of {', '.join(sorted(TOKEN_ROLES))}")
    if not name.strip() or len(name) > 100:
        raise TokenError("name must be 1 to 100 characters")
    if lang is not None and not valid_language(lang):
        raise TokenError(f"invalid language code {lang!r}")
    if ttl_s <= 0:
        raise TokenError("ttl must be positive")
    claims: dict[str, Any] = {
        "sub": sub or uuid.uuid4().hex,
        "name": name.strip(),
        "room": room,
        "role": str(role),
        "iat": now,
        "exp": now + ttl_s,
        "aud": audience,
        "iss": issuer,
        "jti": uuid.uuid4().hex,
    }
    if lang:
        claims["lang"] = lang
    return jwt.encode(claims, signing_key, algorithm=algorithm)


def verify_token(token: str, policy: TokenPolicy, now: int, room: str | None = None) -> Identity:
    """The identity in a token, or TokenError saying why it is refused.

    Only the policy's algorithm is accepted (never ``none``); the expiry is checked
    against ``now`` so callers (and tests) own the clock.
    """
    if not token or len(token) > 8192:
        raise TokenError("missing or oversized token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise TokenError("token is not a well-formed JWT") from None
    if header.get("alg") != policy.algorithm:
        raise TokenError(
            f"token algorithm {header.get('alg')!r} is not accepted (expected {policy.algorithm})"
        )
    try:
        claims = jwt.decode(
            token,
            policy.verify_key,
            algorithms=[policy.algorithm],
            audience=policy.audience,
            issuer=policy.issuer,
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.InvalidAudienceError:
        raise TokenError("token audience is wrong") from None
    except jwt.InvalidIssuerError:
        raise TokenError("token issuer is wrong") from None
    except jwt.MissingRequiredClaimError as error:
        raise TokenError(f"token lacks the {error.claim!r} claim") from None
    except jwt.InvalidSignatureError:
        raise TokenError("token signature is invalid") from None
    except jwt.PyJWTError as error:
        raise TokenError(f"token is invalid: {error}") from None
    for claim in _REQUIRED:
        if claim not in claims:
            raise TokenError(f"token lacks the {claim!r} claim")
    exp, iat = claims["exp"], claims["iat"]
    if not isinstance(exp, int) or not isinstance(iat, int):
        raise TokenError("token exp and iat must be integers")
    if now > exp + policy.leeway_s:
        raise TokenError("token has expired", "expired")
    if iat > now + policy.leeway_s:
        raise TokenError("token is issued in the future", "not_yet_valid")
    nbf = claims.get("nbf")
    if nbf is not None and (not isinstance(nbf, int) or isinstance(nbf, bool)):
        raise TokenError("token nbf must be an integer")
    if nbf is not None and nbf > now + policy.leeway_s:
        raise TokenError("token is not valid yet", "not_yet_valid")
    jti = claims.get("jti")
    if jti is not None and (not isinstance(jti, str) or not jti or len(jti) > 200):
        raise TokenError("token jti is invalid")
    device = claims.get("device")
    if claims["role"] == Role.COMPANION.value:
        # Companion tokens come only from pairing: tied to a device, short-lived.
        if not isinstance(device, str) or not device or len(device) > 200:
            raise TokenError("a companion token must name its room device")
        if exp - iat > COMPANION_TOKEN_TTL_S:
            raise TokenError("a companion token may live at most a training day")
    elif claims["role"] not in {r.value for r in TOKEN_ROLES}:
        raise TokenError(f"unknown role {claims['role']!r}")
    elif device is not None:
        raise TokenError("only companion tokens name a room device")
    if not isinstance(claims["room"], str) or not valid_room_name(claims["room"]):
        raise TokenError("token room is invalid")
    if room is not None and claims["room"] != room:
        raise TokenError("token is for another room", "wrong_room")
    name, sub = claims["name"], claims["sub"]
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise TokenError("token name must be 1 to 100 characters")
    if not isinstance(sub, str) or not sub or len(sub) > 200:
        raise TokenError("token sub is invalid")
    lang = claims.get("lang")
    if lang is not None and (not isinstance(lang, str) or not valid_language(lang)):
        raise TokenError("token lang is not a language code")
    return Identity(
        sub=sub,
        name=name,
        room=claims["room"],
        role=Role(claims["role"]),
        lang=lang,
        exp=exp,
        iat=iat,
        device=device,
        jti=jti,
    )


def mint_companion_token(
    paired: CompanionPaired,
    *,
    now: int,
    signing_key: Any,
    algorithm: str,
    audience: str,
    issuer: str,
    lang: str | None = None,
) -> str:
    """The token of a trainee's phone that redeemed a room device's pairing code.

    The only way to a companion token: ``mint_token`` refuses the role.
    """
    claims: dict[str, Any] = {
        "sub": paired.companion,
        "name": paired.name,
        "room": paired.room,
        "role": Role.COMPANION.value,
        "device": paired.device,
        "iat": now,
        "exp": now + COMPANION_TOKEN_TTL_S,
        "aud": audience,
        "iss": issuer,
        "jti": paired.companion,  # one token per pairing: its id is the companion's
    }
    if lang:
        claims["lang"] = lang
    return jwt.encode(claims, signing_key, algorithm=algorithm)


def parse_duration(text: str) -> int:
    """Seconds in a duration such as '90', '45m', '2h' or '7d'."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (examples: 90s, 45m, 2h, 7d)")
    value, unit = int(match.group(1)), match.group(2) or "s"
    return value * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
