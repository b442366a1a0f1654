"""Scored quizzes over the websocket and the JSON API, with each question's time limit kept.

A quiz question closes at its deadline by a timer of the room's books; after a restart
the first use of the room closes whatever passed its deadline meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pydantic
from aiohttp import web

from classroom import quiz as core
from classroom.errors import NotFound
from classroom.poll import PollBook
from classroom.question import MAX_QUESTIONS, Question, QuizSpec
from classroom.quiz import QuizBook
from classroom.room import Event
from live.hub import Connection, LiveRoom
from live.poll_records import (
    books,
    commit,
    live_session_id,
    load_quizzes,
    module_of,
    new_id,
    quiz_template,
    save_quiz,
    save_quiz_answer,
    viewers,
)
from web.context import HUB, STORE
from web.poll_api import Kind, add_api
from web.polls import member
from web.ws import ClientMessage, Dispatcher

log = logging.getLogger("classroom.quizzes")
QuizId = pydantic.Field(min_length=1, max_length=64)
routes = web.RouteTableDef()


class QuestionFields(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True)
    text: str = pydantic.Field(max_length=500)
    options: list[str] = pydantic.Field(max_length=12)
    correct: list[int] = pydantic.Field(max_length=12)
    time_limit_s: int = 30
    points: int = 100


class QuizFields(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True)
    title: str = pydantic.Field(max_length=200)
    questions: list[QuestionFields] = pydantic.Field(max_length=MAX_QUESTIONS)
    speed_bonus: bool = False
    leaderboard: bool = True

    def spec(self) -> QuizSpec:
        questions = tuple(
            Question(q.text, tuple(q.options), tuple(q.correct), q.time_limit_s, q.points)
            for q in self.questions
        )
        return QuizSpec(self.title, questions, self.speed_bonus, self.leaderboard)


class CreateQuiz(ClientMessage, QuizFields):
    pass


class QuizRef(ClientMessage):
    quiz: str = QuizId


class AnswerQuiz(ClientMessage):
    quiz: str = QuizId
    index: int
    choices: list[int] = pydantic.Field(max_length=12)


class PreparedQuiz(QuizFields):
    module: str | None = pydantic.Field(default=None, max_length=100)


def schedule_deadline(live: LiveRoom, store: Any) -> None:
    """(Re)arm the room's timer for the next question deadline, if any."""
    part = books(live)
    if part.timer is not None:
        part.timer.cancel()
        part.timer = None
    deadline = part.quizzes.next_deadline() if part.quizzes else None
    if deadline is None:
        return
    delay = max(0.0, deadline + core.ANSWER_GRACE_S - live.hub.clock()) + 0.05

    def fire() -> None:
        part.timer = None
        live.spawn(expire(live, store), "quiz question deadline")

    part.timer = asyncio.get_running_loop().call_later(delay, fire)


async def expire(live: LiveRoom, store: Any) -> None:
    """Close every question past its time limit, store it, tell everyone."""
    now = live.hub.clock()

    def change(_: PollBook, quizzes: QuizBook) -> Any:
        events = quizzes.handle(core.ExpireQuestions(viewers(live)), now)
        closed = {e.quiz for e in events if isinstance(e, core.QuestionClosed)}

        async def persist() -> None:
            for quiz_id in closed:
                await save_quiz(store, live.name, quizzes.entries[quiz_id])

        return events, persist

    try:
        await commit(live, store, change)
    except Exception:
        log.exception("could not close expired questions", extra={"room": live.name})
    schedule_deadline(live, store)


def setup(app: web.Application, dispatcher: Dispatcher) -> None:
    """Plug quizzes into the app: websocket messages and the JSON API."""
    route = dispatcher.route

    async def run(live: LiveRoom, quiz_id: str, command: core.Command) -> list[Event]:
        store, now = app[STORE], live.hub.clock()

        def change(_: PollBook, quizzes: QuizBook) -> Any:
            events = quizzes.handle(core.ExpireQuestions(viewers(live)), now)
            events += quizzes.handle(command, now)
            changed = {quiz_id} | {e.quiz for e in events if isinstance(e, core.QuestionClosed)}

            async def persist() -> None:
                for changed_id in sorted(changed):
                    await save_quiz(store, live.name, quizzes.find(changed_id))

            return events, persist

        events = await commit(live, store, change)
        schedule_deadline(live, store)
        return events

    @route("create_quiz", CreateQuiz)
    async def create_quiz(conn: Connection, live: LiveRoom, msg: CreateQuiz) -> None:
        member(conn, live)
        quiz_id = new_id()
        role = conn.identity.role
        await run(
            live, quiz_id, core.CreateQuiz(conn.pid, role, quiz_id, msg.spec(), viewers(live))
        )

    @route("start_quiz", QuizRef)
    async def start_quiz(conn: Connection, live: LiveRoom, msg: QuizRef) -> None:
        member(conn, live)
        role, quiz_id = conn.identity.role, msg.quiz
        _, quizzes = await books(live).load(app[STORE])
        if quiz_id not in quizzes.entries:
            spec = await quiz_template(app[STORE], module_of(live), quiz_id)
            if spec is None:
                raise NotFound(f"no quiz {quiz_id!r} in room {live.name}")
            quiz_id = new_id()
            await run(live, quiz_id, core.CreateQuiz(conn.pid, role, quiz_id, spec, viewers(live)))
        command = core.StartQuiz(conn.pid, role, quiz_id, live_session_id(live), viewers(live))
        await run(live, quiz_id, command)

    @route("next_question", QuizRef)
    async def next_question(conn: Connection, live: LiveRoom, msg: QuizRef) -> None:
        member(conn, live)
        command = core.NextQuestion(conn.pid, conn.identity.role, msg.quiz, viewers(live))
        await run(live, msg.quiz, command)

    @route("end_quiz", QuizRef)
    async def end_quiz(conn: Connection, live: LiveRoom, msg: QuizRef) -> None:
        member(conn, live)
        await run(
            live, msg.quiz, core.EndQuiz(conn.pid, conn.identity.role, msg.quiz, viewers(live))
        )

    @route("answer_quiz", AnswerQuiz)
    async def answer_quiz(conn: Connection, live: LiveRoom, msg: AnswerQuiz) -> None:
        member(conn, live)
        identity, store, now = conn.identity, app[STORE], live.hub.clock()
        command = core.AnswerQuestion(
            identity.sub,
            identity.role,
            identity.name,
            msg.quiz,
            msg.index,
            tuple(msg.choices),
            viewers(live),
        )

        def change(_: PollBook, quizzes: QuizBook) -> Any:
            events = quizzes.handle(command, now)
            quiz = quizzes.find(msg.quiz)
            return events, lambda: save_quiz_answer(store, live.name, quiz, msg.index, identity.sub)

        await commit(live, store, change)

    async def arrived(conn: Connection, live: LiveRoom) -> None:
        """The room's first arrival after a restart closes questions whose time ran out."""
        part = books(live)
        if part.quizzes is None:
            await part.load(app[STORE])
            if part.quizzes is not None and part.quizzes.next_deadline() is not None:
                schedule_deadline(live, app[STORE])

    async def stop_timers(app: web.Application) -> None:
        for live in app[HUB].rooms.values():
            part = live.books
            if part is not None and part.timer is not None:
                part.timer.cancel()

    dispatcher.on_join.insert(0, arrived)
    app.on_shutdown.append(stop_timers)
    app.router.add_routes(routes)


QUIZZES = Kind(
    "quiz",
    "quizzes",
    lambda _, quizzes: quizzes,
    load_quizzes,
    save_quiz,
    core.CreateQuiz,
    PreparedQuiz,
)
add_api(routes, QUIZZES)
