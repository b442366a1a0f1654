"""Scored quizzes: timed questions with correct answers, scores (optionally for speed), leaderboard.

``QuizBook.handle(command, now)`` applies one command and returns the events it caused.
A quiz runs one question at a time; a question closes when the trainer moves on or its
time limit passes (``ExpireQuestions``). Each participant answers a question once.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from classroom.book import Book
from classroom.errors import InvalidCommand, InvalidValue
from classroom.permissions import Action, Role, require
from classroom.question import QuizSpec
from classroom.room import Event

#: Seconds an answer may arrive after the deadline (the network's delay, not extra time).
ANSWER_GRACE_S = 1.0
MAX_QUIZZES = 200


class QuizState(enum.StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    ENDED = "ended"


@dataclasses.dataclass(frozen=True)
class QuizAnswer:
    choices: tuple[int, ...]
    name: str
    at: float
    seconds: float  # after the question opened
    points: int

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "choices": list(self.choices)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QuizAnswer:
        return cls(**{**data, "choices": tuple(data["choices"])})


@dataclasses.dataclass
class Quiz:
    id: str
    spec: QuizSpec
    created_by: str
    created_at: float
    state: QuizState = QuizState.DRAFT
    session_id: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    current: int = -1  # the question shown (open, or closed and not yet replaced)
    question_open: bool = False
    opened_at: float | None = None  # of the current question
    answers: dict[tuple[int, str], QuizAnswer] = dataclasses.field(default_factory=dict)

    @property
    def deadline(self) -> float | None:
        if not self.question_open or self.opened_at is None:
            return None
        return self.opened_at + self.spec.questions[self.current].time_limit_s

    def question_tally(self, index: int) -> dict[str, Any]:
        question = self.spec.questions[index]
        counts = [0] * len(question.options)
        answered = correct = 0
        for (i, _), answer in self.answers.items():
            if i == index:
                answered += 1
                correct += answer.choices == question.correct
                for choice in answer.choices:
                    counts[choice] += 1
        return {"answered": answered, "correct": correct, "counts": counts}

    def results(self) -> list[dict[str, Any]]:
        """Each participant's result, best first: score, then fewer seconds on correct answers."""
        people: dict[str, dict[str, Any]] = {}
        for (index, pid), answer in sorted(self.answers.items(), key=lambda item: item[1].at):
            row = people.setdefault(
                pid,
                {"id": pid, "name": answer.name, "score": 0, "correct": 0, "answered": 0},
            )
            row["answered"] += 1
            row["score"] += answer.points
            row["correct"] += answer.choices == self.spec.questions[index].correct
            row["seconds"] = round(row.get("seconds", 0.0) + answer.seconds, 3)
        ranked = sorted(people.values(), key=lambda r: (-r["score"], r["seconds"], r["name"]))
        for rank, row in enumerate(ranked, 1):
            row["rank"], row["max_score"] = rank, self.spec.max_score
            row["questions"] = len(self.spec.questions)
        return ranked

    def public(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": self.id,
            "title": self.spec.title,
            "questions": len(self.spec.questions),
            "speed_bonus": self.spec.speed_bonus,
            "leaderboard": self.spec.leaderboard,
            "max_score": self.spec.max_score,
            "state": self.state.value,
            "session_id": self.session_id,
            "current": self.current,
            "question_open": self.question_open,
            "deadline": self.deadline,
        }
        if self.current >= 0:
            view["question"] = self.spec.questions[self.current].public()
        return view

    def full(self) -> dict[str, Any]:
        view = {**self.public(), "spec": self.spec.to_json(), "created_at": self.created_at}
        if self.current >= 0:
            view["tally"] = self.question_tally(self.current)
        return view

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "spec": self.spec.to_json(),
            "created_by": self.created_by,
            "created_at": self.created_at,
            "state": self.state.value,
            "session_id": self.session_id,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "current": self.current,
            "question_open": self.question_open,
            "opened_at": self.opened_at,
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Quiz:
        fields = {**data, "spec": QuizSpec.from_json(data["spec"])}
        fields["state"] = QuizState(data["state"])
        return cls(**fields)


# --- commands (imperative) --------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CreateQuiz:
    actor: str
    role: Role
    quiz_id: str
    spec: QuizSpec


@dataclasses.dataclass(frozen=True)
class StartQuiz:
    actor: str
    role: Role
    quiz_id: str
    session_id: str | None = None


@dataclasses.dataclass(frozen=True)
class NextQuestion:
    actor: str
    role: Role
    quiz_id: str


@dataclasses.dataclass(frozen=True)
class ExpireQuestions:
    """Time passed: every question past its time limit closes."""


@dataclasses.dataclass(frozen=True)
class AnswerQuestion:
    actor: str  # from the authenticated connection
    role: Role
    name: str
    quiz_id: str
    index: int
    choices: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class EndQuiz:
    actor: str
    role: Role
    quiz_id: str


Command = CreateQuiz | StartQuiz | NextQuestion | ExpireQuestions | AnswerQuestion | EndQuiz


# --- events (past tense) ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class QuizCreated(Event):
    quiz: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class QuizStarted(Event):
    quiz: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class QuestionOpened(Event):
    quiz: str
    index: int
    question: dict[str, Any]
    deadline: float


@dataclasses.dataclass(frozen=True)
class QuizAnswerRecorded(Event):
    quiz: str
    index: int
    choices: list[int]


@dataclasses.dataclass(frozen=True)
class QuestionTallied(Event):
    quiz: str
    index: int
    tally: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class QuestionClosed(Event):
    quiz: str
    index: int
    correct: list[int]
    tally: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class QuizEnded(Event):
    quiz: str
    leaderboard: list[dict[str, Any]] | None  # names and scores, when the quiz shows one


@dataclasses.dataclass(frozen=True)
class QuizScored(Event):
    quiz: str
    result: dict[str, Any]  # the participant's own


@dataclasses.dataclass(frozen=True)
class QuizResultsReported(Event):
    quiz: str
    results: list[dict[str, Any]]  # everyone's, for those who may view results


class QuizBook(Book[Quiz, Command]):
    """The quizzes of one room; mutate it only through ``handle``."""

    noun, plural, limit = "quiz", "quizzes", MAX_QUIZZES

    def next_deadline(self) -> float | None:
        deadlines = [q.deadline for q in self.entries.values() if q.deadline is not None]
        return min(deadlines) if deadlines else None

    def _seen_by(self, quiz: Quiz, pid: str) -> dict[str, Any] | None:
        """A running quiz, with the participant's answer to the current question."""
        if quiz.state is not QuizState.RUNNING:
            return None
        view = quiz.public()
        mine = quiz.answers.get((quiz.current, pid))
        view["your_choices"] = list(mine.choices) if mine else None
        return view

    def _on_CreateQuiz(self, cmd: CreateQuiz, now: float) -> list[Event]:
        quiz = self._add(cmd.role, Quiz(cmd.quiz_id, cmd.spec, cmd.actor, now))
        return [QuizCreated(self.viewers, quiz.full())]

    def _on_StartQuiz(self, cmd: StartQuiz, now: float) -> list[Event]:
        refusal = "quiz {id} is {state}; only a draft can start"
        quiz = self._in_state(cmd.role, Action.MANAGE_POLLS, cmd.quiz_id, QuizState.DRAFT, refusal)
        quiz.state, quiz.started_at, quiz.session_id = QuizState.RUNNING, now, cmd.session_id
        return [QuizStarted(None, quiz.public()), *self._open(quiz, 0, now)]

    def _open(self, quiz: Quiz, index: int, now: float) -> list[Event]:
        quiz.current, quiz.question_open, quiz.opened_at = index, True, now
        question = quiz.spec.questions[index]
        return [
            QuestionOpened(None, quiz.id, index, question.public(), now + question.time_limit_s)
        ]

    def _close(self, quiz: Quiz) -> list[Event]:
        if not quiz.question_open:
            return []
        quiz.question_open = False
        question = quiz.spec.questions[quiz.current]
        tally = quiz.question_tally(quiz.current)
        return [QuestionClosed(None, quiz.id, quiz.current, list(question.correct), tally)]

    def _running(self, cmd: NextQuestion | EndQuiz) -> Quiz:
        refusal = "quiz {id} is {state}, not running"
        return self._in_state(
            cmd.role, Action.MANAGE_POLLS, cmd.quiz_id, QuizState.RUNNING, refusal
        )

    def _on_NextQuestion(self, cmd: NextQuestion, now: float) -> list[Event]:
        quiz = self._running(cmd)
        if quiz.current + 1 >= len(quiz.spec.questions):
            raise InvalidCommand("that was the last question; end the quiz")
        return [*self._close(quiz), *self._open(quiz, quiz.current + 1, now)]

    def _on_ExpireQuestions(self, cmd: ExpireQuestions, now: float) -> list[Event]:
        events: list[Event] = []
        for quiz in self.entries.values():
            deadline = quiz.deadline
            if deadline is not None and now >= deadline + ANSWER_GRACE_S:
                events += self._close(quiz)
        return events

    def _on_AnswerQuestion(self, cmd: AnswerQuestion, now: float) -> list[Event]:
        require(cmd.role, Action.ANSWER_POLLS)
        quiz = self.find(cmd.quiz_id)
        if quiz.state is not QuizState.RUNNING or cmd.index != quiz.current:
            raise InvalidCommand("that question is not being asked")
        deadline = quiz.deadline
        if deadline is None or now > deadline + ANSWER_GRACE_S or quiz.opened_at is None:
            raise InvalidCommand("time is up for this question")
        if (cmd.index, cmd.actor) in quiz.answers:
            raise InvalidCommand("you have answered this question already")
        question = quiz.spec.questions[cmd.index]
        choices = tuple(sorted(set(cmd.choices)))
        if not choices or len(choices) != len(cmd.choices):
            raise InvalidValue("choose one or more different options")
        if any(not 0 <= c < len(question.options) for c in choices):
            raise InvalidValue(f"an option does not exist (there are {len(question.options)})")
        if len(choices) > 1 and not question.multiple:
            raise InvalidValue("choose one option")
        seconds = round(min(now - quiz.opened_at, question.time_limit_s), 3)
        points = question.score(choices, seconds, quiz.spec.speed_bonus)
        quiz.answers[(cmd.index, cmd.actor)] = QuizAnswer(choices, cmd.name, now, seconds, points)
        return [
            QuizAnswerRecorded((cmd.actor,), quiz.id, cmd.index, list(choices)),
            QuestionTallied(self.viewers, quiz.id, cmd.index, quiz.question_tally(cmd.index)),
        ]

    def _on_EndQuiz(self, cmd: EndQuiz, now: float) -> list[Event]:
        quiz = self._running(cmd)
        events = self._close(quiz)
        quiz.state, quiz.ended_at = QuizState.ENDED, now
        results = quiz.results()
        board = None
        if quiz.spec.leaderboard:
            board = [{k: r[k] for k in ("rank", "name", "score")} for r in results]
        events.append(QuizEnded(None, quiz.id, board))
        events += [QuizScored((r["id"],), quiz.id, r) for r in results]
        events.append(QuizResultsReported(self.viewers, quiz.id, results))
        return events
