"""Live polls over the websocket and the JSON API: the messages, and routes that call the
polls service (``live.polls.Polls``).

Who answers is always the authenticated connection's identity; the message names only
the poll and the answer. Quizzes plug in beside this (web/quizzes.py).
"""

from __future__ import annotations

from typing import Literal

import pydantic
from aiohttp import web

from classroom import poll as core
from classroom.poll import PollSpec
from classroom.question import MAX_OPTIONS, QUESTION_MAX_CHARS
from live.hub import Connection, LiveRoom
from live.polls import Polls
from web.context import HUB
from web.pages import render
from web.poll_api import add_api
from web.ws import ClientMessage, Dispatcher

PollId = pydantic.Field(min_length=1, max_length=64)
POLLS = web.AppKey("polls", Polls)
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


def setup(app: web.Application, dispatcher: Dispatcher, service: Polls) -> None:
    """Plug polls into the app: websocket messages, the snapshot after admission, the JSON
    API. (The snapshot on arrival is a join hook the composition root orders.)"""
    app[POLLS] = service
    route = dispatcher.route

    @route("create_poll", CreatePoll)
    async def create_poll(conn: Connection, live: LiveRoom, msg: CreatePoll) -> None:
        await service.create(live, conn.identity, msg.spec(), msg.open)

    @route("open_poll", PollRef)
    async def open_poll(conn: Connection, live: LiveRoom, msg: PollRef) -> None:
        await service.open(live, conn.identity, msg.poll)

    @route("close_poll", PollRef)
    async def close_poll(conn: Connection, live: LiveRoom, msg: PollRef) -> None:
        await service.close(live, conn.identity, msg.poll)

    @route("publish_poll", PollRef)
    async def publish_poll(conn: Connection, live: LiveRoom, msg: PollRef) -> None:
        await service.publish(live, conn.identity, msg.poll)

    @route("answer_poll", AnswerPoll)
    async def answer_poll(conn: Connection, live: LiveRoom, msg: AnswerPoll) -> None:
        await service.answer(live, conn.identity, msg.poll, msg.answer)

    @route("get_polls", GetPolls)
    async def get_polls(conn: Connection, live: LiveRoom, msg: GetPolls) -> None:
        await service.resend(conn, live)

    app[HUB].listeners.append(service.admitted)
    app.router.add_routes(routes)


add_api(routes, "polls", PreparedPoll, lambda app: app[POLLS])


@routes.get("/polls")
async def polls_page(request: web.Request) -> web.Response:
    """Polls and quizzes alone, for any participant: a trainer's second screen, a room device.

    The page carries no token: the browser keeps this tab's join token (join.js takes it
    out of the address bar) and the page's script uses it for /ws.
    """
    return render(request, "polls.html")
