"""Companion phones: a room device's pairing code and QR, redeeming it, the phone page.

Codes live in the store (``pairing:{code}``, expiring with the code) so any node, and
a restarted one, can redeem them; ``pairing-device:{room}:{device}`` names a device's
current code so that a new code retires the old one.
"""

from __future__ import annotations

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
from web.context import HUB, KEYS, SETTINGS, STORE
from web.errors import json_error, read_json
from web.hub import Connection, LiveRoom
from web.pages import render
from web.ws import ClientMessage, Dispatcher

routes = web.RouteTableDef()
#: Wrong or expired codes one address may try in a minute: guessing a live code among
#: 31^6 takes hundreds of millions of tries, and this keeps it at 20 a minute.
FAILURES_PER_MINUTE = 20


class PairCompanion(ClientMessage):
    pass


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
    failures = f"pairing-failures:{request.remote}"
    count = await store.get(failures)
    if count is not None and int(count) >= FAILURES_PER_MINUTE:
        return json_error(429, "rate_limited", "too many wrong codes; wait a minute")
    pairing = await _load(store, code)
    companion = "companion-" + uuid.uuid4().hex
    try:
        events = pairing.handle(core.RedeemCode(code, body.name, companion), now)
    except (NotFound, InvalidCommand):
        await store.set_if_absent(failures, "0", ttl_s=60)
        await store.incr(failures)
        raise
    paired = next(e for e in events if isinstance(e, core.CompanionPaired))
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


@routes.get("/companion")
async def companion_page(request: web.Request) -> web.Response:
    """The phone page: pair with the code on the room screen, then answer, chat, raise a hand."""
    code = request.query.get("code", "")
    try:
        code = core.normalize_code(code) if code else ""
    except InvalidValue:
        code = ""
    return render(request, "companion.html", code=code)
