"""The JSON API of polls and quizzes alike: list a room's, prepare one ahead.

``web/polls.py`` and ``web/quizzes.py`` each serve theirs with ``add_api``: the request
body that prepares one, and their service (``live.polls.Entries``) in the app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, cast

import pydantic
from aiohttp import web

from classroom.permissions import Action
from classroom.poll import PollSpec
from classroom.question import QuizSpec
from live.polls import Entries
from web.api import authorize
from web.errors import read_json


class Prepared(Protocol):
    """A request body that prepares a poll or quiz: for a module (a template) or the room."""

    @property
    def module(self) -> str | None: ...

    def spec(self) -> PollSpec | QuizSpec: ...


def add_api(
    routes: web.RouteTableDef,
    plural: str,
    prepared: type[pydantic.BaseModel],
    service: Callable[[web.Application], Entries],
) -> None:
    """Serve ``/api/rooms/{room}/<plural>``: GET lists them, POST prepares one (a
    ``prepared`` body)."""
    path = f"/api/rooms/{{room}}/{plural}"

    @routes.get(path)
    async def list_entries(request: web.Request) -> web.Response:
        """The room's entries as the caller may see them; trainers also get the prepared
        ones (of the ``module`` asked for, else the live session's)."""
        identity = authorize(request)
        body = await service(request.app).listing(identity, request.query.get("module"))
        return web.json_response(body)

    @routes.post(path)
    async def prepare_entry(request: web.Request) -> web.Response:
        """A trainer prepares an entry ahead: a draft in the room, or a template for a
        module."""
        identity = authorize(request, Action.MANAGE_POLLS)
        body = cast(Prepared, await read_json(request, prepared))
        made = await service(request.app).prepare(identity, body.spec(), body.module)
        return web.json_response(made, status=201)
