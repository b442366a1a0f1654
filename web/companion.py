"""Companion phones over the wire: the room device's code and QR, redeeming it, the phone
page. Pairing, companion tokens and unpairing are the service ``live.companion``."""

from __future__ import annotations

import ipaddress
from typing import Any

import pydantic
import segno
from aiohttp import web

from classroom import companion as core
from classroom.errors import InvalidValue
from classroom.permissions import Role
from live.companion import Companions
from live.hub import Connection, LiveRoom
from media.router import MediaRouter, Policy
from web.context import HUB, KEYS, REVOCATIONS, SETTINGS, STORE
from web.errors import json_error, read_json
from web.media_handlers import MEDIA
from web.pages import render
from web.ws import ClientMessage, Dispatcher

routes = web.RouteTableDef()
COMPANIONS = web.AppKey("companions", Companions)


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


def companion_url(public_url: str, code: str) -> str:
    return f"{public_url}/companion?code={code}"


def qr_svg(url: str) -> str:
    """The URL as a QR code, an SVG element to put in a page as it is."""
    svg: str = segno.make(url, error="m").svg_inline(scale=6, dark="#000", light="#fff")
    return svg


def phone_policy(live: LiveRoom) -> Policy:
    """A media router policy: a phone is forwarded voices and shared screens, never a
    camera (``classroom.companion.phone_receives``); other viewers are not its business.
    A viewer's role never changes, so an arrival's scope covers it."""

    def allowed(publisher: str, source: str, subscriber: str) -> bool:
        viewer = live.core.participants.get(subscriber)
        return viewer is None or viewer.role != Role.COMPANION or core.phone_receives(source)

    return allowed


def setup(app: web.Application, dispatcher: Dispatcher) -> None:
    """Plug companion pairing into the app: the device's message, the API, the phone page,
    and what the media routers forward to phones."""
    # Codes are issued and redeemed on the hub's clock (the app's, given to create_app).
    service = app[COMPANIONS] = Companions(
        lambda: app[STORE], app[REVOCATIONS], app[KEYS], app[SETTINGS], lambda: app[HUB].clock()
    )

    def plug(live: LiveRoom, router: MediaRouter) -> None:
        router.add_policy(phone_policy(live))

    app[MEDIA].add_router_hook(plug)

    @dispatcher.route("pair_companion", PairCompanion)
    async def pair_companion(conn: Connection, live: LiveRoom, msg: PairCompanion) -> None:
        issued = await service.issue_code(live, conn.pid, conn.identity)
        if issued is None:
            return
        url = companion_url(app[SETTINGS].public_url, issued.code)
        message: dict[str, Any] = {
            "type": "pairing_code_issued",
            "code": issued.code,
            "expires_at": issued.expires_at,
            "url": url,
            "qr_svg": qr_svg(url),
        }
        if msg.ref is not None:
            message["ref"] = msg.ref
        conn.send(message)

    @dispatcher.route("unpair_companion", Unpair)
    async def unpair_companion(conn: Connection, live: LiveRoom, msg: Unpair) -> None:
        role = conn.identity.role
        chosen = await service.unpair(live, conn.pid, role, msg.target, msg.device)
        reply: dict[str, Any] = {"type": "companions_unpaired", "ids": chosen}
        if msg.ref is not None:
            reply["ref"] = msg.ref
        conn.send(reply)

    app.router.add_routes(routes)


@routes.post("/api/companion/pair")
async def pair(request: web.Request) -> web.Response:
    """A trainee's phone redeems the room device's code: it gets a companion token."""
    body = await read_json(request, Redeem)
    address = client_address(request, request.app[SETTINGS].trusted_proxies)
    paired = await request.app[COMPANIONS].redeem(body.code, body.name, body.lang, address)
    if paired is None:
        return json_error(429, "rate_limited", "too many wrong codes; wait a minute")
    event = paired.event
    live = request.app[HUB].rooms.get(event.room)
    if live is not None:
        live.deliver(paired.events)  # the room device sees who paired
    return web.json_response(
        {
            "token": paired.token,
            "room": event.room,
            "name": event.name,
            "device": event.device,
            "expires": paired.expires,
        },
        status=201,
    )


@routes.get("/companion")
async def companion_page(request: web.Request) -> web.Response:
    """The phone page: pair with the code on the room screen, then answer, chat, raise a
    hand, listen to a channel and follow the shared screen."""
    code = request.query.get("code", "")
    try:
        code = core.normalize_code(code) if code else ""
    except InvalidValue:
        code = ""
    return render(request, "companion.html", code=code)
