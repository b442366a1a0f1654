"""Live polls over the websocket and the JSON API: create, open, answer, close, publish.

Who answers is always the authenticated connection's identity; the message names only
the poll and the answer. Quizzes plug in beside this (web/quizzes.py) and share the
room's books, lock and snapshot.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic
from aiohttp import web

from classroom import poll as core
from classroom.errors import NotFound
from classroom.poll import PollBook, PollSpec
from classroom.question import MAX_OPTIONS, QUESTION_MAX_CHARS
from classroom.quiz import QuizBook
from classroom.room import Admitted, Event
from live.hub import Connection, LiveRoom
from live.poll_records import (
    books,
    commit,
    live_session_id,
    load_polls,
    module_of,
    new_id,
    poll_template,
    save_answer,
    save_poll,
    viewers,
)
from web.context import HUB, STORE
from web.pages import render
from web.poll_api import Kind, add_api
from web.ws import ClientMessage, Dispatcher

PollId = pydantic.Field(min_length=1, max_length=64)
routes = web.RouteTableDef()


class PollFields(pydantic.BaseModel):
    """What a poll asks (the core checks the values and says what is wrong)."""

    model_config = pydantic.ConfigDict(extra="forbid", strict=True)
    question: str = pydantic.Field(max_length=QUESTION_MAX_CHARS)
    kind: Literal["single", "multiple", "rating", "text"]
    options: list[str] = pydantic.Field(default_factory=list, max_length=MAX_OPTIONS)
    anonymous: bool = False
    allow_change: bool = False
    scale: int = 5
    text_max: int = core.DEFAULT_TEXT_MAX

    def spec(self) -> PollSpec:
        return PollSpec.build(
            self.question,
            self.kind,
            self.options,
            self.anonymous,
            self.allow_change,
            self.scale,
            self.text_max,
        )


class CreatePoll(ClientMessage, PollFields):
    open: bool = False  # open it at once (a poll made on the spot)


class GetPolls(ClientMessage):
    pass


class PollRef(ClientMessage):
    poll: str = PollId


class AnswerPoll(ClientMessage):
    poll: str = PollId
    answer: int | list[int] | str  # an option, options, a rating, or a text


class PreparedPoll(PollFields):
    module: str | None = pydantic.Field(default=None, max_length=100)


def member(conn: Connection, live: LiveRoom) -> None:
    """Only those in the room (not waiting in the lobby) take part in polls."""
    if conn.pid not in live.core.participants:
        raise NotFound("you are not in the room yet")


def setup(app: web.Application, dispatcher: Dispatcher) -> None:
    """Plug polls into the app: websocket messages, the snapshot on arrival, the JSON API."""
    route = dispatcher.route

    def store_of() -> Any:
        return app[STORE]

    @route("create_poll", CreatePoll)
    async def create_poll(conn: Connection, live: LiveRoom, msg: CreatePoll) -> None:
        member(conn, live)
        spec, poll_id, now = msg.spec(), new_id(), live.hub.clock()
        await _create(live, store_of(), conn, poll_id, spec, msg.open, now)

    @route("open_poll", PollRef)
    async def open_poll(conn: Connection, live: LiveRoom, msg: PollRef) -> None:
        member(conn, live)
        store, now = store_of(), live.hub.clock()
        polls, _ = await books(live).load(store)
        if msg.poll not in polls.entries:
            # A poll prepared for the session's training module: open a copy of it here.
            spec = await poll_template(store, module_of(live), msg.poll)
            if spec is None:
                raise NotFound(f"no poll {msg.poll!r} in room {live.name}")
            await _create(live, store, conn, new_id(), spec, True, now)
            return
        command = core.OpenPoll(
            conn.pid, conn.identity.role, msg.poll, live_session_id(live), viewers(live)
        )
        await _run(live, store, msg.poll, command, now)

    @route("close_poll", PollRef)
    async def close_poll(conn: Connection, live: LiveRoom, msg: PollRef) -> None:
        member(conn, live)
        command = core.ClosePoll(conn.pid, conn.identity.role, msg.poll, viewers(live))
        await _run(live, store_of(), msg.poll, command, live.hub.clock())

    @route("publish_poll", PollRef)
    async def publish_poll(conn: Connection, live: LiveRoom, msg: PollRef) -> None:
        member(conn, live)
        command = core.PublishResults(conn.pid, conn.identity.role, msg.poll)
        await _run(live, store_of(), msg.poll, command, live.hub.clock())

    @route("answer_poll", AnswerPoll)
    async def answer_poll(conn: Connection, live: LiveRoom, msg: AnswerPoll) -> None:
        member(conn, live)
        identity, store, now = conn.identity, store_of(), live.hub.clock()
        command = core.AnswerPoll(
            identity.sub, identity.role, identity.name, msg.poll, msg.answer, viewers(live)
        )

        def change(polls: PollBook, _: QuizBook) -> Any:
            events = polls.handle(command, now)
            poll = polls.entries[msg.poll]
            recorded = next(e for e in events if isinstance(e, core.PollAnswerRecorded))
            return events, lambda: save_answer(
                store, live.name, poll, identity.sub, recorded.answer
            )

        await commit(live, store, change)

    async def snapshot(conn: Connection, live: LiveRoom) -> None:
        if conn.pid not in live.core.participants:
            return  # waiting in the lobby: sent once admitted
        polls, quizzes = await books(live).load(store_of())
        role = conn.identity.role
        conn.send(
            {
                "type": "polls_snapshot",
                "polls": polls.view_for(conn.pid, role),
                "quizzes": quizzes.view_for(conn.pid, role),
            }
        )

    def admitted(live: LiveRoom, events: list[Event]) -> None:
        for event in events:
            conn = live.connections.get(event.id) if isinstance(event, Admitted) else None
            if conn is not None:
                live.spawn(snapshot(conn, live), "polls snapshot after admission")

    @route("get_polls", GetPolls)
    async def get_polls(conn: Connection, live: LiveRoom, msg: GetPolls) -> None:
        member(conn, live)
        await snapshot(conn, live)

    dispatcher.on_join.append(snapshot)
    app[HUB].listeners.append(admitted)
    app.router.add_routes(routes)


async def _create(
    live: LiveRoom,
    store: Any,
    conn: Connection,
    poll_id: str,
    spec: PollSpec,
    open_now: bool,
    now: float,
) -> None:
    role, seen = conn.identity.role, viewers(live)

    def change(polls: PollBook, _: QuizBook) -> Any:
        events = polls.handle(core.CreatePoll(conn.pid, role, poll_id, spec, seen), now)
        if open_now:
            opening = core.OpenPoll(conn.pid, role, poll_id, live_session_id(live), seen)
            events += polls.handle(opening, now)
        return events, lambda: save_poll(store, live.name, polls.entries[poll_id])

    await commit(live, store, change)


async def _run(live: LiveRoom, store: Any, poll_id: str, command: core.Command, now: float) -> None:
    def change(polls: PollBook, _: QuizBook) -> Any:
        events: list[Event] = polls.handle(command, now)
        return events, lambda: save_poll(store, live.name, polls.entries[poll_id])

    await commit(live, store, change)


# --- JSON API ---------------------------------------------------------------

POLLS = Kind(
    "poll", "polls", lambda polls, _: polls, load_polls, save_poll, core.CreatePoll, PreparedPoll
)
add_api(routes, POLLS)


@routes.get("/polls")
async def polls_page(request: web.Request) -> web.Response:
    """Polls and quizzes alone, for any participant: a trainer's second screen, a room device.

    The page carries no token: the browser keeps this tab's join token (join.js takes it
    out of the address bar) and the page's script uses it for /ws.
    """
    return render(request, "polls.html")
