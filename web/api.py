"""The JSON API under /api, authenticated with a bearer join token."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pydantic
from aiohttp import web

from classroom.errors import Forbidden
from classroom.identity import Identity, mint_token, parse_duration, verify_token
from classroom.permissions import PERMISSIONS, TOKEN_ROLES, Action, require
from web.context import CATALOGUE, KEYS, REVOCATIONS, SETTINGS, STORE
from web.errors import read_json
from web.room_handlers import last_module_key
from web.ws import bearer_token

OPENAPI_FILE = Path(__file__).with_name("openapi.json")
routes = web.RouteTableDef()


def authenticate(request: web.Request) -> Identity:
    """The identity of the request's bearer token (TokenError -> 401 by the middleware)."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.startswith("Bearer ") else bearer_token(request)
    identity = verify_token(token, request.app[KEYS].policy, int(time.time()))
    return request.app[REVOCATIONS].check(identity)


def authorize(
    request: web.Request, action: Action | None = None, room: str | None = None
) -> Identity:
    """The caller, if they may do ``action`` in ``room`` (by default the path's ``{room}``,
    if it has one): a valid token (401), a role allowed to (403), their own room (403).
    Every HTTP handler acting on a room asks here, so the rule is written once."""
    identity = authenticate(request)
    if action is not None:
        require(identity.role, action)
    if room is None:
        room = request.match_info.get("room")
    if room is not None:
        own_room(identity, room)
    return identity


def own_room(identity: Identity, room: str) -> None:
    """Refuse (403) anything about a room other than the caller's own."""
    if room != identity.room:
        raise Forbidden("you may act only in your own room, not another room")


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    identity = authenticate(request)
    body: dict[str, Any] = identity.to_json()
    body["permissions"] = sorted(a.value for a in PERMISSIONS[identity.role])
    return web.json_response(body)


@routes.get("/api/modules")
async def modules(request: web.Request) -> web.Response:
    identity = authenticate(request)
    catalogue = request.app[CATALOGUE]
    last = await request.app[STORE].get(last_module_key(identity.room))
    return web.json_response(
        {
            "topics": [
                {
                    "id": topic.id,
                    "title": topic.title,
                    "titles": dict(topic.titles),  # by language: pages pick theirs
                    "modules": [m.to_json() for m in mods],
                }
                for topic, mods in catalogue.by_topic()
            ],
            # The module of the last session started in the caller's room (still listed).
            "last_module": last if last in {m.id for m in catalogue.modules} else None,
        }
    )


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(json.loads(OPENAPI_FILE.read_text()))


class Invitation(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    role: str
    name: str = pydantic.Field(min_length=1, max_length=100)
    lang: str | None = pydantic.Field(default=None, max_length=20)
    ttl: str = pydantic.Field(default="2h", max_length=10)

    @pydantic.field_validator("role")
    @classmethod
    def known_role(cls, role: str) -> str:
        if role not in {r.value for r in TOKEN_ROLES}:
            raise ValueError(f"unknown role; one of {', '.join(sorted(TOKEN_ROLES))}")
        return role

    @pydantic.field_validator("ttl")
    @classmethod
    def duration(cls, ttl: str) -> str:
        seconds = parse_duration(ttl)
        if not 60 <= seconds <= 30 * 86400:
            raise ValueError("ttl must be between 1 minute and 30 days")
        return ttl


@routes.post("/api/rooms/{room}/invitations")
async def invite(request: web.Request) -> web.Response:
    """A trainer mints a join link for someone in their own room."""
    identity = authorize(request, Action.INVITE)
    room = identity.room
    body = await read_json(request, Invitation)
    keys, settings = request.app[KEYS], request.app[SETTINGS]
    if keys.signing_key is None:
        raise Forbidden("this service verifies tokens but holds no key to mint them")
    now = int(time.time())
    token = mint_token(
        room=room,
        role=body.role,
        name=body.name,
        lang=body.lang,
        now=now,
        ttl_s=parse_duration(body.ttl),
        signing_key=keys.signing_key,
        algorithm=settings.token_algorithm,
        audience=settings.token_audience,
        issuer=settings.token_issuer,
    )
    url = f"{settings.public_url}/join?token={token}"
    return web.json_response(
        {"url": url, "token": token, "expires": now + parse_duration(body.ttl)}, status=201
    )
