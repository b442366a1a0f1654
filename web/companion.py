"""Companion phones: a room device's pairing code and QR, redeeming it, the phone page.

Codes live in the store (``pairing:{code}``, expiring with the code) so any node, and
a restarted one, can redeem them; ``pairing-device:{room}:{device}`` names a device's
current code so that a new code retires the old one.

Each room device has at most ``companions_per_device`` phones at a time (and one code
pairs at most that many): ``companions:{room}`` holds every paired phone (its device,
name and token expiry). A trainer unpairs one phone, or every phone of a room device
(``unpair_companion``): their tokens are revoked (``web.revocation``) and their pages close.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import time
import uuid
from typing import Any

import pydantic
import segno
from aiohttp import web

from classroom import companion as core
from classroom.errors import Forbidden, InvalidCommand, InvalidValue, NotFound
from classroom.identity import mint_companion_token, valid_language
from classroom.permissions import Action, require
from classroom.room import Leave
from live.hub import CLOSE_REMOVED, Connection, LiveRoom
from live.store import RedisStore
from web import revocation
from web.context import HUB, KEYS, SETTINGS, STORE
from web.errors import json_error, read_json
from web.pages import render
from web.ws import ClientMessage, Dispatcher

routes = web.RouteTableDef()
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


def client_address(request: web.Request, trusted_proxies: tuple[str, ...]) -> str:
    """The client's address: the connection's, or, when that is a trusted reverse proxy,
    the last address in X-Forwarded-For that is not one (a client may prepend anything)."""
    networks = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in networks)

    remote = request.remote or ""
    if not networks or not trusted(remote):
        return remote
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
    for hop in reversed([h for h in hops if h]):
        if not trusted(hop):
            return hop
    return remote


class PairCompanion(ClientMessage):
    pass


class Unpair(ClientMessage):
    """One phone (``target``, its participant id), or every phone of a room device."""

    target: str | None = pydantic.Field(default=None, min_length=1, max_length=200)
    device: str | None = pydantic.Field(default=None, min_length=1, max_length=200)


class Redeem(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True)
    code: str = pydantic.Field(max_length=20)
    name: str = pydantic.Field(max_length=core.NAME_MAX_CHARS)
    lang: str | None = pydantic.Field(default=None, max_length=20)


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


def companion_url(public_url: str, code: str) -> str:
    return f"{public_url}/companion?code={code}"


def qr_svg(url: str) -> str:
    """The URL as a QR code, an SVG element to put in a page as it is."""
    svg: str = segno.make(url, error="m").svg_inline(scale=6, dark="#000", light="#fff")
    return svg


async def _load(store: Any, code: str) -> core.Pairing:
    """A pairing state holding the stored code, if it is still there."""
    pairing = core.Pairing()
    stored = await store.get(code_key(code))
    if stored is not None:
        issued = core.PairingCode.from_json(json.loads(stored))
        pairing.codes[issued.code] = issued
    return pairing


def setup(app: web.Application, dispatcher: Dispatcher) -> None:
    """Plug companion pairing into the app: the device's message, the API, the phone page."""

    @dispatcher.route("pair_companion", PairCompanion)
    async def pair_companion(conn: Connection, live: LiveRoom, msg: PairCompanion) -> None:
        store, identity, now = app[STORE], conn.identity, live.hub.clock()
        if conn.pid not in live.core.participants:
            raise Forbidden("a room device pairs phones once it is in the room")
        previous = await store.get(device_key(live.name, identity.sub))
        pairing = await _load(store, previous) if previous else core.Pairing()
        code = draw_code()
        for _ in range(5):  # a clash with a live code is rare (31^6 codes): draw again
            if await store.get(code_key(code)) is None:
                break
            code = draw_code()
        command = core.IssueCode(identity.sub, identity.role, identity.name, live.name, code)
        events = pairing.handle(command, now)
        issued = pairing.codes[command.code]
        ttl = issued.expires_at - now
        await store.set(code_key(issued.code), json.dumps(issued.to_json()), ttl_s=ttl)
        await store.set(device_key(live.name, identity.sub), issued.code, ttl_s=ttl)
        if previous and previous != issued.code:
            await store.delete(code_key(previous))
        url = companion_url(app[SETTINGS].public_url, issued.code)
        for event in events:
            if isinstance(event, core.PairingCodeIssued):
                message: dict[str, Any] = {
                    "type": "pairing_code_issued",
                    "code": event.code,
                    "expires_at": event.expires_at,
                    "url": url,
                    "qr_svg": qr_svg(url),
                }
                if msg.ref is not None:
                    message["ref"] = msg.ref
                conn.send(message)

    @dispatcher.route("unpair_companion", Unpair)
    async def unpair_companion(conn: Connection, live: LiveRoom, msg: Unpair) -> None:
        require(conn.identity.role, Action.MODERATE)
        if (msg.target is None) == (msg.device is None):
            raise InvalidValue("name one phone (target) or a room device (device)")
        store, now = app[STORE], time.time()
        phones = await paired_phones(store, live.name, now)
        if msg.target is not None:
            if msg.target not in phones:
                raise NotFound("no phone of that id is paired in this room")
            chosen = [msg.target]
        elif msg.device is not None:
            chosen = [pid for pid, phone in phones.items() if phone["device"] == msg.device]
            code = await store.get(device_key(live.name, msg.device))
            if code is not None:  # the code on the room screen pairs nobody any more
                await store.delete(code_key(code))
                await store.delete(device_key(live.name, msg.device))
        for companion in chosen:
            await revocation.revoke(app, companion, phones[companion]["exp"], now)
            await store.hdel(companions_key(live.name), companion)
            if companion in live.core.participants or companion in live.core.lobby:
                live.apply(Leave(companion))  # its token is refused: no ban needed
            for page in live.pages_of(companion):
                page.send({"type": "removed", "id": companion, "by": conn.pid})
            live.close_pages(companion, CLOSE_REMOVED, "unpaired by the trainer")
        reply: dict[str, Any] = {"type": "companions_unpaired", "ids": chosen}
        if msg.ref is not None:
            reply["ref"] = msg.ref
        conn.send(reply)

    app.router.add_routes(routes)


@routes.post("/api/companion/pair")
async def pair(request: web.Request) -> web.Response:
    """A trainee's phone redeems the room device's code: it gets a companion token."""
    body = await read_json(request, Redeem)
    store, keys, settings = request.app[STORE], request.app[KEYS], request.app[SETTINGS]
    code = core.normalize_code(body.code)
    if body.lang is not None and not valid_language(body.lang):
        raise InvalidValue(f"invalid language code {body.lang!r}")
    if keys.signing_key is None:
        raise Forbidden("this service verifies tokens but holds no key to mint them")
    now = time.time()
    # Every attempt is counted before it is evaluated (one atomic step), and given back
    # when it was no wrong code: concurrent guesses get exactly the limit evaluated.
    failures = "pairing-failures:" + client_address(request, settings.trusted_proxies)
    if await count_attempt(store, failures) > settings.pairing_failures_per_minute:
        return json_error(429, "rate_limited", "too many wrong codes; wait a minute")
    pairing = await _load(store, code)
    companion = "companion-" + uuid.uuid4().hex
    try:
        events = pairing.handle(core.RedeemCode(code, body.name, companion), now)
    except (NotFound, InvalidCommand):
        raise  # a wrong or expired code: the attempt stays counted
    except BaseException:
        await count_attempt(store, failures, by=-1)
        raise
    await count_attempt(store, failures, by=-1)
    paired = next(e for e in events if isinstance(e, core.CompanionPaired))
    await admit_phone(store, settings.companions_per_device, pairing.codes[code], paired, now)
    token = mint_companion_token(
        paired,
        now=int(now),
        signing_key=keys.signing_key,
        algorithm=settings.token_algorithm,
        audience=settings.token_audience,
        issuer=settings.token_issuer,
        lang=body.lang,
    )
    live = request.app[HUB].rooms.get(paired.room)
    if live is not None:
        live.deliver(events)  # the room device sees who paired
    return web.json_response(
        {
            "token": token,
            "room": paired.room,
            "name": paired.name,
            "device": paired.device,
            "expires": int(now) + core.COMPANION_TOKEN_TTL_S,
        },
        status=201,
    )


async def admit_phone(
    store: Any, cap: int, issued: core.PairingCode, paired: core.CompanionPaired, now: float
) -> None:
    """Count a new phone against its code's and its room device's bound; InvalidCommand
    (409) when either is reached. Counted first, then checked (and undone if over), so
    that concurrent pairings never pass the bound together."""
    full = (
        f"this room device has {cap} phones paired already; "
        "ask the trainer to unpair the phones no longer in use"
    )
    await store.set_if_absent(uses_key(issued.code), "0", ttl_s=issued.expires_at - now + 60)
    if await store.incr(uses_key(issued.code)) > cap:
        raise InvalidCommand(full)
    phone = {
        "device": issued.device,
        "name": paired.name,
        "exp": int(now) + core.COMPANION_TOKEN_TTL_S,
    }
    await store.hset(companions_key(issued.room), paired.companion, json.dumps(phone))
    phones = await paired_phones(store, issued.room, now)
    if sum(p["device"] == issued.device for p in phones.values()) > cap:
        await store.hdel(companions_key(issued.room), paired.companion)
        raise InvalidCommand(full)


@routes.get("/companion")
async def companion_page(request: web.Request) -> web.Response:
    """The phone page: pair with the code on the room screen, then answer, chat, raise a hand."""
    code = request.query.get("code", "")
    try:
        code = core.normalize_code(code) if code else ""
    except InvalidValue:
        code = ""
    return render(request, "companion.html", code=code)
