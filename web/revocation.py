"""Withdrawing a join link over HTTP; the revocations themselves are ``live.revocation``."""

from __future__ import annotations

import time

import pydantic
from aiohttp import web

from classroom.errors import InvalidValue
from classroom.identity import verify_token
from classroom.permissions import Action
from live.revocation import Revocations, close_pages_of_token
from web.context import HUB, KEYS, REVOCATIONS, STORE
from web.errors import read_json


def setup(app: web.Application) -> None:
    revocations = app[REVOCATIONS] = Revocations(lambda: app[STORE])

    async def load(app: web.Application) -> None:
        await revocations.load()

    app.on_startup.append(load)
    app.router.add_routes(routes)


routes = web.RouteTableDef()


class Withdrawal(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True)
    token: str = pydantic.Field(min_length=1, max_length=8192)


@routes.post("/api/rooms/{room}/revocations")
async def withdraw(request: web.Request) -> web.Response:
    """A trainer withdraws a join link of their room: its token (by its ``jti``) is refused
    from now on, and its pages are closed."""
    from web.api import authorize  # web.api checks revocations: imported late

    identity = authorize(request, Action.INVITE)
    room = identity.room
    body = await read_json(request, Withdrawal)
    now = time.time()
    withdrawn = verify_token(body.token, request.app[KEYS].policy, int(now), room=room)
    if withdrawn.jti is None:
        raise InvalidValue("this link has no id and cannot be withdrawn; it expires by itself")
    await request.app[REVOCATIONS].revoke(withdrawn.jti, withdrawn.exp, now)
    close_pages_of_token(request.app[HUB], room, withdrawn.jti)
    return web.json_response({"jti": withdrawn.jti, "until": withdrawn.exp})
