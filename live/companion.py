"""The companion service: a room device's pairing codes, redeeming them, unpairing phones.

Codes live in the store (``pairing:{code}``, kept ``RETIRED_CODE_KEPT_S`` past their
expiry, so that a phone typing one late is told it expired) so any node, and a
restarted one, can redeem them; ``pairing-device:{room}:{device}`` names a device's
current code so that a new code retires the old one (kept, expired, for as long).

Each room device has at most ``companions_per_device`` phones at a time (and one code
pairs at most that many): ``companions:{room}`` holds every paired phone (its device,
name and token expiry). A trainer unpairs one phone, or every phone of a room device:
their tokens are revoked (``live.revocation``) and their pages close.

Wrong codes are limited per client address (``pairing_failures_per_minute``); the web
layer says which address a request comes from.

Codes are issued and redeemed on one clock, the app's (``create_app``'s ``clock``, the
hub's): a code's ten minutes are the classroom's ten minutes, in tests too. Companion
tokens are JWTs checked against the system clock, so their times (and the paired phones'
expiry, which is their token's) are the system clock's.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

from classroom import companion as core
from classroom.errors import Forbidden, InvalidCommand, InvalidValue, NotFound
from classroom.identity import Identity, mint_companion_token, valid_language
from classroom.permissions import Action, require
from classroom.room import Leave
from config import Settings
from live.hub import CLOSE_REMOVED, LiveRoom
from live.keys import TokenKeys
from live.revocation import Revocations, StoreRef
from live.store import RedisStore

#: The window of ``pairing_failures_per_minute``: guessing a live code among 31^6 takes
#: hundreds of millions of tries, and the limit keeps one address to a few dozen a minute.
FAILURE_WINDOW_S = 60
#: Count and give back in one step, the window's expiry set whenever the key has none.
_COUNT_SCRIPT = """
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n
"""


async def count_attempt(store: Any, key: str, by: int = 1) -> int:
    """Add ``by`` to a counter of the current window and return it, atomically: in Redis
    one script (the counter always expires); in this process's store, whose operations
    do not interleave with another request's between these two."""
    if isinstance(store, RedisStore):
        window_ms = FAILURE_WINDOW_S * 1000
        return int(await store.redis.eval(_COUNT_SCRIPT, 1, key, by, window_ms))
    await store.set_if_absent(key, "0", ttl_s=FAILURE_WINDOW_S)
    count: int = await store.incr(key, by)
    return count


def draw_code() -> str:
    return "".join(secrets.choice(core.CODE_ALPHABET) for _ in range(core.CODE_LENGTH))


def code_key(code: str) -> str:
    return f"pairing:{code}"


def device_key(room: str, device: str) -> str:
    return f"pairing-device:{room}:{device}"


def companions_key(room: str) -> str:
    return f"companions:{room}"


def uses_key(code: str) -> str:
    return f"pairing-uses:{code}"


async def paired_phones(store: Any, room: str, now: float) -> dict[str, dict[str, Any]]:
    """The room's paired phones whose tokens are still valid, by participant id (the
    expired ones are forgotten on the way)."""
    phones = {}
    for companion, text in (await store.hgetall(companions_key(room))).items():
        phone = json.loads(text)
        if phone["exp"] <= now:
            await store.hdel(companions_key(room), companion)
        else:
            phones[companion] = phone
    return phones


async def _load(store: Any, code: str) -> core.Pairing:
    """A pairing state holding the stored code, if it is still there."""
    pairing = core.Pairing()
    stored = await store.get(code_key(code))
    if stored is not None:
        issued = core.PairingCode.from_json(json.loads(stored))
        pairing.codes[issued.code] = issued
    return pairing


@dataclasses.dataclass(frozen=True)
class Paired:
    """A redeemed code: the phone's token and who it is."""

    token: str
    expires: int  # epoch seconds
    event: core.CompanionPaired
    events: list[Any]


Clock = Callable[[], float]


class Companions:
    """Pairing phones to room devices, and unpairing them. ``clock`` is the app's (codes
    are issued and redeemed on it); ``wall`` the system clock tokens are checked against."""

    def __init__(
        self,
        store: StoreRef,
        revocations: Revocations,
        keys: TokenKeys,
        settings: Settings,
        clock: Clock,
        wall: Clock = time.time,
    ) -> None:
        self.store, self.revocations = store, revocations
        self.keys, self.settings = keys, settings
        self.clock, self.wall = clock, wall

    async def issue_code(
        self, live: LiveRoom, pid: str, identity: Identity
    ) -> core.PairingCodeIssued | None:
        """A new code for the room device ``identity`` (retiring its previous one)."""
        store, now = self.store(), self.clock()
        if pid not in live.core.participants:
            raise Forbidden("a room device pairs phones once it is in the room")
        previous = await store.get(device_key(live.name, identity.sub))
        pairing = await _load(store, previous) if previous else core.Pairing()
        replaced = pairing.codes.get(previous) if previous else None
        code = draw_code()
        for _ in range(5):  # a clash with a live code is rare (31^6 codes): draw again
            if await store.get(code_key(code)) is None:
                break
            code = draw_code()
        command = core.IssueCode(identity.sub, identity.role, identity.name, live.name, code)
        events = pairing.handle(command, now)
        issued = pairing.codes[command.code]
        ttl = issued.expires_at - now
        # The code is remembered past its expiry (a phone typing it late is told so).
        kept = ttl + core.RETIRED_CODE_KEPT_S
        await store.set(code_key(issued.code), json.dumps(issued.to_json()), ttl_s=kept)
        await store.set(device_key(live.name, identity.sub), issued.code, ttl_s=ttl)
        if replaced is not None and replaced.code != issued.code:
            retired = replaced.retired(now)  # pairs nobody, and says it expired
            await store.set(
                code_key(retired.code),
                json.dumps(retired.to_json()),
                ttl_s=core.RETIRED_CODE_KEPT_S,
            )
        return next((e for e in events if isinstance(e, core.PairingCodeIssued)), None)

    async def redeem(self, code: str, name: str, lang: str | None, address: str) -> Paired | None:
        """A phone redeems a code: its companion token, or None when ``address`` gave too
        many wrong codes this minute."""
        store, settings, now, wall = self.store(), self.settings, self.clock(), int(self.wall())
        code = core.normalize_code(code)
        if lang is not None and not valid_language(lang):
            raise InvalidValue(f"invalid language code {lang!r}")
        if self.keys.signing_key is None:
            raise Forbidden("this service verifies tokens but holds no key to mint them")
        # Every attempt is counted before it is evaluated (one atomic step), and given back
        # when it was no wrong code: concurrent guesses get exactly the limit evaluated.
        failures = "pairing-failures:" + address
        if await count_attempt(store, failures) > settings.pairing_failures_per_minute:
            return None
        pairing = await _load(store, code)
        companion = "companion-" + uuid.uuid4().hex
        try:
            events = pairing.handle(core.RedeemCode(code, name, companion), now)
        except (NotFound, InvalidCommand):
            raise  # a wrong or expired code: the attempt stays counted
        except BaseException:
            await count_attempt(store, failures, by=-1)
            raise
        await count_attempt(store, failures, by=-1)
        paired = next(e for e in events if isinstance(e, core.CompanionPaired))
        issued = pairing.codes[code]
        await admit_phone(store, settings.companions_per_device, issued, paired, now, wall)
        token = mint_companion_token(
            paired,
            now=wall,
            signing_key=self.keys.signing_key,
            algorithm=settings.token_algorithm,
            audience=settings.token_audience,
            issuer=settings.token_issuer,
            lang=lang,
        )
        return Paired(token, wall + core.COMPANION_TOKEN_TTL_S, paired, list(events))

    async def unpair(
        self, live: LiveRoom, by: str, role: Any, target: str | None, device: str | None
    ) -> list[str]:
        """Unpair one phone (``target``) or every phone of a room device: their tokens are
        revoked, they leave the room and their pages close. The ids unpaired."""
        require(role, Action.MODERATE)
        if (target is None) == (device is None):
            raise InvalidValue("name one phone (target) or a room device (device)")
        store, now = self.store(), self.wall()  # tokens and their expiry: the system clock
        phones = await paired_phones(store, live.name, now)
        chosen: list[str] = []
        if target is not None:
            if target not in phones:
                raise NotFound("no phone of that id is paired in this room")
            chosen = [target]
        elif device is not None:
            chosen = [pid for pid, phone in phones.items() if phone["device"] == device]
            code = await store.get(device_key(live.name, device))
            if code is not None:  # the code on the room screen pairs nobody any more
                await store.delete(code_key(code))
                await store.delete(device_key(live.name, device))
        for companion in chosen:
            await self.revocations.revoke(companion, phones[companion]["exp"], now, live.name)
            await store.hdel(companions_key(live.name), companion)
            if companion in live.core.participants or companion in live.core.lobby:
                live.apply(Leave(companion))  # its token is refused: no ban needed
            for page in live.pages_of(companion):
                page.send({"type": "removed", "id": companion, "by": by})
            live.close_pages(companion, CLOSE_REMOVED, "unpaired by the trainer")
        return chosen


async def admit_phone(
    store: Any,
    cap: int,
    issued: core.PairingCode,
    paired: core.CompanionPaired,
    now: float,
    wall: int,
) -> None:
    """Count a new phone against its code's and its room device's bound; InvalidCommand
    (409) when either is reached. Counted first, then checked (and undone if over), so
    that concurrent pairings never pass the bound together. ``now`` is the app's clock
    (the code's), ``wall`` the system clock (the phone's token expires on it)."""
    full = (
        f"this room device has {cap} phones paired already; "
        "ask the trainer to unpair the phones no longer in use"
    )
    await store.set_if_absent(uses_key(issued.code), "0", ttl_s=issued.expires_at - now + 60)
    if await store.incr(uses_key(issued.code)) > cap:
        raise core.DeviceFull(full)
    phone = {
        "device": issued.device,
        "name": paired.name,
        "exp": wall + core.COMPANION_TOKEN_TTL_S,
    }
    await store.hset(companions_key(issued.room), paired.companion, json.dumps(phone))
    phones = await paired_phones(store, issued.room, wall)
    if sum(p["device"] == issued.device for p in phones.values()) > cap:
        await store.hdel(companions_key(issued.room), paired.companion)
        raise core.DeviceFull(full)
