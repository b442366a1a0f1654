"""Scored quizzes over the websocket and the JSON API: the messages, and routes that call
the quizzes service (``live.quizzes.Quizzes``, which keeps each question's time limit)."""

from __future__ import annotations

import pydantic
from aiohttp import web

from classroom.question import MAX_QUESTIONS, Question, QuizSpec
from live.hub import Connection, LiveRoom
from live.quizzes import Quizzes
from web.poll_api import add_api
from web.ws import ClientMessage, Dispatcher

QuizId = pydantic.Field(min_length=1, max_length=64)
QUIZZES = web.AppKey("quizzes", Quizzes)
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


def setup(app: web.Application, dispatcher: Dispatcher, service: Quizzes) -> None:
    """Plug quizzes into the app: websocket messages, the JSON API, the deadline timers
    stopped at shutdown. (Re-arming them on arrival is a join hook the composition root
    orders.)"""
    app[QUIZZES] = service
    route = dispatcher.route

    @route("create_quiz", CreateQuiz)
    async def create_quiz(conn: Connection, live: LiveRoom, msg: CreateQuiz) -> None:
        await service.create(live, conn.identity, msg.spec())

    @route("start_quiz", QuizRef)
    async def start_quiz(conn: Connection, live: LiveRoom, msg: QuizRef) -> None:
        await service.start(live, conn.identity, msg.quiz)

    @route("next_question", QuizRef)
    async def next_question(conn: Connection, live: LiveRoom, msg: QuizRef) -> None:
        await service.next_question(live, conn.identity, msg.quiz)

    @route("end_quiz", QuizRef)
    async def end_quiz(conn: Connection, live: LiveRoom, msg: QuizRef) -> None:
        await service.end(live, conn.identity, msg.quiz)

    @route("answer_quiz", AnswerQuiz)
    async def answer_quiz(conn: Connection, live: LiveRoom, msg: AnswerQuiz) -> None:
        await service.answer(live, conn.identity, msg.quiz, msg.index, msg.choices)

    async def stop_timers(_: web.Application) -> None:
        service.stop_timers()

    app.on_shutdown.append(stop_timers)
    app.router.add_routes(routes)


add_api(routes, "quizzes", PreparedQuiz, lambda app: app[QUIZZES])
