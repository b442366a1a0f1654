"""Withdrawing a join link over HTTP; the revocations themselves are ``live.revocation``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pydantic
from aiohttp import web

from classroom.errors import InvalidValue
from classroom.identity import verify_token
from classroom.permissions import Action
from live.revocation import Revocations, close_pages_of_token
from live.store import RedisStore
from web.api import authorize
from web.context import BUS, HUB, KEYS, REVOCATIONS, STORE
from web.errors import read_json


def setup(app: web.Application) -> None:
    """The revocations of this process: loaded at start-up, then following the other
    nodes' (whose withdrawn links' pages open here are closed as well)."""
    revocations = app[REVOCATIONS] = Revocations(lambda: app[STORE], lambda: app[BUS])
    revocations.on_learned.append(
        lambda room, jti: close_pages_of_token(app[HUB], room, jti) if room else None
    )

    async def follow(app: web.Application) -> AsyncIterator[None]:
        await revocations.load()
        store = app[STORE]
        if isinstance(store, RedisStore):
            store.on_data_lost.append(revocations.write_back)
        task = asyncio.get_running_loop().create_task(revocations.follow())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(follow)
    app.router.add_routes(routes)


routes = web.RouteTableDef()


class Withdrawal(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True)
    token: str = pydantic.Field(min_length=1, max_length=8192)


@routes.post("/api/rooms/{room}/revocations")
async def withdraw(request: web.Request) -> web.Response:
    """A trainer withdraws a join link of their room: its token (by its ``jti``) is refused
    from now on, and its pages are closed."""
    identity = authorize(request, Action.INVITE)
    room = identity.room
    body = await read_json(request, Withdrawal)
    now = time.time()
    withdrawn = verify_token(body.token, request.app[KEYS].policy, int(now), room=room)
    if withdrawn.jti is None:
        raise InvalidValue("this link has no id and cannot be withdrawn; it expires by itself")
    await request.app[REVOCATIONS].revoke(withdrawn.jti, withdrawn.exp, now, room)
    close_pages_of_token(request.app[HUB], room, withdrawn.jti)
    return web.json_response({"jti": withdrawn.jti, "until": withdrawn.exp})
