"""Companion pairing: a conference-room device's short code that trainees' phones redeem.

A room device asks for a code (shown as text and as a QR code); each trainee in the
room redeems it from their phone under their own name and becomes a *companion*: a
light participant tied to that device, who answers polls, chats, raises a hand and
receives (never sends) the room's voices, its interpretation channels and shared screens
on their own earphones and screen: no camera, so never a video tile. Codes are
short-lived and a new code replaces the device's previous one.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from classroom.errors import InvalidCommand, InvalidValue, NotFound
from classroom.permissions import Action, Role, require
from classroom.room import Event


class CodeExpired(InvalidCommand):
    """The pairing code was right but its time ran out: the room screen shows a new one."""

    reason = "code_expired"


class DeviceFull(InvalidCommand):
    """The room device (or its code) has as many phones as it may pair."""

    reason = "device_full"


#: No 0/O, 1/I/L: a code is read off a screen across a room and typed on a phone.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
#: What a person types when they misread a character of the code: each character the
#: alphabet leaves out stands for the one of the alphabet it is taken for on a screen
#: (a Q whose tail is lost across the room, a J or a 7 read as I or 1). Codes are drawn
#: from CODE_ALPHABET only, so no code can be read two ways.
LOOK_ALIKES = {"O": "Q", "0": "Q", "I": "J", "L": "J", "1": "7"}
CODE_LENGTH = 6
CODE_TTL_S = 600
#: A code that expired, or that a new one replaced, is remembered this long: a phone that
#: types it is told it has expired and to use the new one, rather than that it is wrong.
RETIRED_CODE_KEPT_S = 3600
#: A companion token lives for one training day at most; then the phone pairs again.
COMPANION_TOKEN_TTL_S = 8 * 3600
NAME_MAX_CHARS = 100


def phone_receives(source: str) -> bool:
    """Whether a phone is forwarded a published ``source``: the voices (the floor and
    interpretation, mixed by the phone) and shared screens, never a camera."""
    return source in {"microphone", "interpretation", "screen"}


def normalize_code(text: str) -> str:
    """The code as issued ('ab2 c-3d' -> 'AB2C3D', 'aoi 2l1' -> 'AQJ2J7'), or
    InvalidValue if it cannot be one. Spaces, dashes and case do not matter, and the
    characters a code never holds are read as their look-alikes (LOOK_ALIKES)."""
    code = "".join(text.split()).replace("-", "").upper()
    code = "".join(LOOK_ALIKES.get(c, c) for c in code)
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        raise InvalidValue(f"a pairing code is {CODE_LENGTH} letters and digits")
    return code


@dataclasses.dataclass(frozen=True)
class PairingCode:
    code: str
    room: str
    device: str  # the room device's participant id (its token's sub)
    device_name: str
    issued_at: float
    expires_at: float

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def retired(self, now: float) -> PairingCode:
        """This code as it is remembered once a new one replaced it at ``now``: expired."""
        return dataclasses.replace(self, expires_at=min(self.expires_at, now))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PairingCode:
        return cls(**data)


@dataclasses.dataclass(frozen=True)
class IssueCode:
    actor: str
    role: Role
    name: str
    room: str
    code: str  # fresh and random, drawn by the caller


@dataclasses.dataclass(frozen=True)
class RedeemCode:
    code: str  # as typed or scanned
    name: str  # the trainee's own name
    companion: str  # the new companion's participant id


Command = IssueCode | RedeemCode


@dataclasses.dataclass(frozen=True)
class PairingCodeIssued(Event):
    code: str
    expires_at: float


@dataclasses.dataclass(frozen=True)
class CompanionPaired(Event):
    companion: str
    name: str
    room: str
    device: str


class Pairing:
    """The pairing codes known here, by code; mutate through ``handle``."""

    def __init__(self) -> None:
        self.codes: dict[str, PairingCode] = {}

    def code_of(self, device: str) -> PairingCode | None:
        return next((c for c in self.codes.values() if c.device == device), None)

    def handle(self, command: Command, now: float) -> list[Event]:
        """Apply one command at ``now``; a refused one raises ClassroomError, changing nothing."""
        if isinstance(command, IssueCode):
            return self._issue(command, now)
        return self._redeem(command, now)

    def _issue(self, cmd: IssueCode, now: float) -> list[Event]:
        require(cmd.role, Action.PAIR_COMPANION)
        code = normalize_code(cmd.code)
        if code in self.codes:
            raise InvalidCommand("that code is in use; draw another")
        previous = self.code_of(cmd.actor)
        if previous is not None:
            del self.codes[previous.code]
        issued = PairingCode(code, cmd.room, cmd.actor, cmd.name, now, now + CODE_TTL_S)
        self.codes[code] = issued
        return [PairingCodeIssued((cmd.actor,), code, issued.expires_at)]

    def _redeem(self, cmd: RedeemCode, now: float) -> list[Event]:
        code = normalize_code(cmd.code)
        issued = self.codes.get(code)
        if issued is None:
            raise NotFound("this pairing code is wrong; check the code on the room screen")
        if now >= issued.expires_at:
            raise CodeExpired("this pairing code has expired; use the new one on the screen")
        name = cmd.name.strip()
        if not name or len(name) > NAME_MAX_CHARS:
            raise InvalidValue(f"your name must be 1 to {NAME_MAX_CHARS} characters")
        return [CompanionPaired((issued.device,), cmd.companion, name, issued.room, issued.device)]
