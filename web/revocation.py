"""Revoked tokens, by their ``jti``: an unpaired phone's, or any join link a trainer withdraws.

A revocation is kept in the store (``revoked-token:{jti}``, expiring when the token would
have) so that every node and a restarted one refuse the token at the websocket; this
process also keeps them in memory, so HTTP requests are checked without a store round trip.
"""

from __future__ import annotations

import logging
import time

import pydantic
from aiohttp import web

from classroom.errors import InvalidValue, StoreUnavailable, TokenError
from classroom.identity import Identity, verify_token
from classroom.permissions import Action
from live.hub import CLOSE_REMOVED
from web.context import HUB, KEYS, STORE
from web.errors import read_json

log = logging.getLogger("classroom.revocation")

#: Revoked token ids known to this process, with when each token would have expired.
REVOKED: web.AppKey[dict[str, float]] = web.AppKey("revoked_tokens")
PREFIX = "revoked-token:"
WITHDRAWN = "this link has been withdrawn by the trainer"


async def revoke(app: web.Application, jti: str, until: float, now: float) -> None:
    """Refuse the token ``jti`` from now until ``until`` (its expiry)."""
    app[REVOKED][jti] = until
    await app[STORE].set(PREFIX + jti, str(until), ttl_s=max(1.0, until - now))


async def is_revoked(app: web.Application, identity: Identity) -> bool:
    """Whether the identity's token was revoked here or on another node."""
    if identity.jti is None:
        return False
    if identity.jti in app[REVOKED]:
        return True
    try:
        return await app[STORE].get(PREFIX + identity.jti) is not None
    except StoreUnavailable:  # joining goes on: what this process knows decides meanwhile
        log.warning("revocations unchecked in the store", extra={"room": identity.room})
        return False


def check(app: web.Application, identity: Identity) -> Identity:
    """The identity, or TokenError when this process knows its token is revoked."""
    if identity.jti is not None and identity.jti in app.get(REVOKED, {}):
        raise TokenError(WITHDRAWN)
    return identity


def setup(app: web.Application) -> None:
    app[REVOKED] = {}

    async def load(app: web.Application) -> None:
        store = app[STORE]
        try:
            for key in await store.keys(PREFIX):
                until = await store.get(key)
                if until is not None:
                    app[REVOKED][key[len(PREFIX) :]] = float(until)
        except StoreUnavailable:  # the websocket asks the store again for each token
            log.warning("revoked tokens not loaded: the store is unavailable")

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
    await revoke(request.app, withdrawn.jti, withdrawn.exp, now)
    close_pages_of_token(request.app, room, withdrawn.jti)
    return web.json_response({"jti": withdrawn.jti, "until": withdrawn.exp})


def close_pages_of_token(app: web.Application, room: str, jti: str) -> None:
    """Close every open page that came in with the token ``jti``."""
    live = app[HUB].rooms.get(room)
    if live is None:
        return
    pages = [*live.connections.values(), *(c for cs in live.others.values() for c in cs)]
    for connection in pages:
        if connection.identity.jti == jti:
            connection.send({"type": "error", "code": "unauthorized", "message": WITHDRAWN})
            connection.close(CLOSE_REMOVED, "token withdrawn")
