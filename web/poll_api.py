"""The JSON API of polls and quizzes alike: list a room's, prepare one ahead.

``web/polls.py`` and ``web/quizzes.py`` each describe their ``Kind`` (which book, store
records, create command and request body) and serve it with ``add_api``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast

import pydantic
from aiohttp import web

from classroom.book import Book
from classroom.permissions import Action, Role, can, require
from classroom.poll import PollBook, PollSpec
from classroom.ports import Store
from classroom.question import QuizSpec
from classroom.quiz import QuizBook
from live.poll_records import (
    books,
    commit,
    module_of,
    new_id,
    save_template,
    template_authors,
    templates,
    viewers,
)
from web.api import authorize
from web.context import CATALOGUE, HUB, SETTINGS, STORE
from web.errors import read_json


@dataclasses.dataclass(frozen=True)
class Kind:
    """Polls or quizzes, as the JSON API reaches them."""

    name: str  # "poll": the kind of its templates
    plural: str  # "polls": the key of the listing
    book: Callable[[PollBook, QuizBook], Book[Any, Any]]  # its book among the room's two
    load: Callable[[Store, str], Awaitable[Book[Any, Any]]]  # a room's book, from the store
    save: Callable[[Store, str, Any], Awaitable[None]]  # one entry, to the store
    create: Callable[[str, Role, str, Any, tuple[str, ...]], Any]  # its create command
    prepared: type[pydantic.BaseModel]  # the body that prepares one (a ``Prepared``)


class Prepared(Protocol):
    """A request body that prepares a poll or quiz: for a module (a template) or the room."""

    @property
    def module(self) -> str | None: ...

    def spec(self) -> PollSpec | QuizSpec: ...


def add_api(routes: web.RouteTableDef, kind: Kind) -> None:
    """Serve ``/api/rooms/{room}/<plural>``: GET lists them, POST prepares one."""
    path = f"/api/rooms/{{room}}/{kind.plural}"

    @routes.get(path)
    async def list_entries(request: web.Request) -> web.Response:
        return await listing(request, kind)

    @routes.post(path)
    async def prepare_entry(request: web.Request) -> web.Response:
        return await prepare(request, kind)


async def listing(request: web.Request, kind: Kind) -> web.Response:
    """The room's entries as the caller may see them; trainers also get the prepared ones."""
    identity = authorize(request)
    room, store = identity.room, request.app[STORE]
    live = request.app[HUB].rooms.get(room)
    if live is not None:
        book = kind.book(*await books(live).load(store))
        module = module_of(live)
    else:
        book, module = await kind.load(store, room), None
    body: dict[str, Any] = {kind.plural: book.view_for(identity.sub, identity.role)}
    if can(identity.role, Action.MANAGE_POLLS):
        chosen = request.query.get("module") or module
        prepared = await templates(store, kind.name, chosen)
        authors = await template_authors(store, kind.name, chosen)
        shared = request.app[SETTINGS].quiz_template_answers == "trainers"
        body["templates"] = [
            {"id": tid, **(spec if shared or authors.get(tid) == identity.sub else unmarked(spec))}
            for tid, spec in prepared.items()
        ]
    return web.json_response(body)


def unmarked(spec: dict[str, Any]) -> dict[str, Any]:
    """A template as other trainers than its author see it (``quiz_template_answers``):
    the questions without their correct answers, which only the quiz reveals."""
    if "questions" not in spec:
        return spec
    questions = [{k: v for k, v in q.items() if k != "correct"} for q in spec["questions"]]
    return {**spec, "questions": questions}


async def prepare(request: web.Request, kind: Kind) -> web.Response:
    """A trainer prepares an entry ahead: a draft in the room, or a template for a module."""
    identity = authorize(request)
    require(identity.role, Action.MANAGE_POLLS)
    body = cast(Prepared, await read_json(request, kind.prepared))
    spec, store = body.spec(), request.app[STORE]
    if body.module is not None:
        request.app[CATALOGUE].module(body.module)  # NotFound for an unknown module
        template_id = await save_template(
            store, kind.name, body.module, spec.to_json(), author=identity.sub
        )
        prepared = {"id": template_id, "module": body.module, **spec.to_json()}
        return web.json_response(prepared, status=201)
    live = request.app[HUB].room(identity.room)
    entry_id, now = new_id(), live.hub.clock()
    command = kind.create(identity.sub, identity.role, entry_id, spec, viewers(live))

    def change(polls: PollBook, quizzes: QuizBook) -> Any:
        book = kind.book(polls, quizzes)
        events = book.handle(command, now)
        return events, lambda: kind.save(store, live.name, book.entries[entry_id])

    await commit(live, store, change)
    polls, quizzes = await books(live).load(store)
    return web.json_response(kind.book(polls, quizzes).entries[entry_id].full(), status=201)
