"""The quiz state machine: questions, time limits, scoring (with and without speed), results."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from classroom import quiz as q
from classroom.errors import Forbidden, InvalidCommand, InvalidValue, NotFound
from classroom.permissions import Role
from classroom.question import Question, QuizSpec
from classroom.room import Join, Room


def trainer_here() -> Room:
    """A room with its trainer present: the one who may see live results."""
    room = Room("demo")
    room.handle(Join("t", "Tea", Role.TRAINER, None), 0)
    return room


T, A = Role.TRAINER, Role.TRAINEE
ONE = Question("Capital of Albania?", ("Tirana", "Durrës"), (0,), time_limit_s=20, points=100)
TWO = Question("Pick EU states", ("Croatia", "Serbia", "Slovenia"), (0, 2), 10, 50)


def running(speed_bonus: bool = False, leaderboard: bool = True) -> q.QuizBook:
    book = q.QuizBook("demo", trainer_here())
    spec = QuizSpec("Geography", (ONE, TWO), speed_bonus, leaderboard)
    book.handle(q.CreateQuiz("t", T, "z", spec), 0)
    book.handle(q.StartQuiz("t", T, "z", "s1"), 100)
    return book


def answer(book: q.QuizBook, who: str, index: int, choices: tuple[int, ...], at: float) -> Any:
    return book.handle(q.AnswerQuestion(who, A, who.upper(), "z", index, choices), at)


@pytest.mark.parametrize(
    ("question", "choices", "seconds", "speed", "points"),
    [
        (ONE, (0,), 5, False, 100),
        (ONE, (1,), 5, False, 0),
        (ONE, (0,), 0, True, 100),  # instant: all the points
        (ONE, (0,), 10, True, 75),  # half the time: three quarters
        (ONE, (0,), 20, True, 50),  # at the deadline: half
        (ONE, (0,), 25, True, 50),  # the grace period adds no penalty below half
        (ONE, (1,), 0, True, 0),  # wrong is nothing, however fast
        (TWO, (0, 2), 3, False, 50),
        (TWO, (0,), 3, False, 0),  # all correct options, and only those
        (TWO, (0, 1, 2), 3, False, 0),
    ],
)
def test_scoring(
    question: Question, choices: tuple[int, ...], seconds: float, speed: bool, points: int
) -> None:
    assert question.score(choices, seconds, speed) == points


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Question("Q", ("A",), (0,)), "2 to 12"),
        (lambda: Question("Q", ("A", "A"), (0,)), "different options"),
        (lambda: Question("Q", ("A", "B"), ()), "correct"),
        (lambda: Question("Q", ("A", "B"), (2,)), "correct"),
        (lambda: Question("Q", ("A", "B"), (0,), time_limit_s=2), "time limit"),
        (lambda: Question("Q", ("A", "B"), (0,), points=0), "points"),
        (lambda: Question(" ", ("A", "B"), (0,)), "question"),
        (lambda: QuizSpec("T", ()), "1 to 50 questions"),
        (lambda: QuizSpec("", (ONE,)), "title"),
    ],
)
def test_bad_quizzes_say_what_is_wrong(build: Any, message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        build()


def test_a_quiz_runs_question_by_question() -> None:
    book = q.QuizBook("demo", trainer_here())
    spec = QuizSpec("Geography", (ONE, TWO))
    (created,) = book.handle(q.CreateQuiz("t", T, "z", spec), 0)
    assert isinstance(created, q.QuizCreated) and created.to == ("t",)
    started, opened = book.handle(q.StartQuiz("t", T, "z", "s1"), 100)
    assert isinstance(started, q.QuizStarted) and started.quiz["session_id"] == "s1"
    assert isinstance(opened, q.QuestionOpened) and opened.to is None
    assert opened.deadline == 120 and "correct" not in opened.question
    recorded, tallied = answer(book, "a", 0, (0,), 104)
    assert recorded.to == ("a",) and tallied.to == ("t",)
    assert tallied.tally == {"answered": 1, "correct": 1, "counts": [1, 0]}
    closed, opened = book.handle(q.NextQuestion("t", T, "z"), 110)
    assert isinstance(closed, q.QuestionClosed) and closed.correct == [0] and closed.to is None
    assert isinstance(opened, q.QuestionOpened) and opened.index == 1
    assert opened.question["multiple"] is True
    with pytest.raises(InvalidCommand, match="last question"):
        book.handle(q.NextQuestion("t", T, "z"), 111)


def test_time_limits_close_questions_and_refuse_late_answers() -> None:
    book = running()
    assert book.next_deadline() == 120
    assert book.handle(q.ExpireQuestions(), 120.5) == []  # within the grace period
    answer(book, "a", 0, (0,), 120.9)  # still accepted: the network's delay
    (closed,) = book.handle(q.ExpireQuestions(), 121.0)
    assert isinstance(closed, q.QuestionClosed) and book.next_deadline() is None
    with pytest.raises(InvalidCommand, match="time is up"):
        answer(book, "b", 0, (0,), 121.5)
    assert book.handle(q.ExpireQuestions(), 200) == []  # nothing more to close


@pytest.mark.parametrize(
    ("who", "role", "index", "choices", "error", "message"),
    [
        ("a", A, 1, (0,), InvalidCommand, "not being asked"),
        ("a", A, 0, (), InvalidValue, "one or more"),
        ("a", A, 0, (0, 0), InvalidValue, "different"),
        ("a", A, 0, (2,), InvalidValue, "does not exist"),
        ("a", A, 0, (0, 1), InvalidValue, "choose one option"),
        ("o", Role.OBSERVER, 0, (0,), Forbidden, "may not answer polls"),
    ],
)
def test_bad_quiz_answers_change_nothing(
    who: str, role: Role, index: int, choices: tuple[int, ...], error: type, message: str
) -> None:
    book = running()
    before = copy.deepcopy(book.entries)
    with pytest.raises(error, match=message):
        book.handle(q.AnswerQuestion(who, role, who, "z", index, choices), 101)
    assert book.entries == before


def test_each_question_is_answered_once() -> None:
    book = running()
    answer(book, "a", 0, (1,), 101)
    with pytest.raises(InvalidCommand, match="already"):
        answer(book, "a", 0, (0,), 102)
    assert book.find("z").question_tally(0)["counts"] == [0, 1]


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (q.StartQuiz("a", A, "z"), Forbidden),
        (q.NextQuestion("a", A, "z"), Forbidden),
        (q.EndQuiz("a", A, "z"), Forbidden),
        (q.StartQuiz("t", T, "z"), InvalidCommand),  # running already
        (q.NextQuestion("t", T, "nope"), NotFound),
    ],
)
def test_only_trainers_run_quizzes(command: q.Command, error: type) -> None:
    book = running()
    before = copy.deepcopy(book.entries)
    with pytest.raises(error):
        book.handle(command, 101)
    assert book.entries == before


def test_the_end_gives_each_their_result_trainers_everyone_s_and_a_leaderboard() -> None:
    book = running(speed_bonus=True)
    answer(book, "a", 0, (0,), 100)  # instant and right: 100
    answer(book, "b", 0, (0,), 110)  # half time and right: 75
    answer(book, "c", 0, (1,), 101)  # wrong: 0
    book.handle(q.NextQuestion("t", T, "z"), 120)
    answer(book, "b", 1, (2, 0), 120)  # right at once: 50
    events = book.handle(q.EndQuiz("t", T, "z"), 130)
    names = [type(e).__name__ for e in events]
    assert names == ["QuestionClosed", "QuizEnded", *["QuizScored"] * 3, "QuizResultsReported"]
    ended = events[1]
    assert isinstance(ended, q.QuizEnded) and ended.leaderboard == [
        {"rank": 1, "name": "B", "score": 125},
        {"rank": 2, "name": "A", "score": 100},
        {"rank": 3, "name": "C", "score": 0},
    ]
    scored = {e.to: e.result for e in events if isinstance(e, q.QuizScored)}
    assert scored[("b",)]["correct"] == 2 and scored[("b",)]["max_score"] == 150
    assert scored[("c",)]["answered"] == 1 and scored[("c",)]["rank"] == 3
    assert events[-1].to == ("t",) and len(events[-1].results) == 3  # type: ignore[attr-defined]
    with pytest.raises(InvalidCommand):
        answer(book, "a", 1, (0, 2), 131)


def test_without_a_leaderboard_nobody_sees_the_others() -> None:
    book = running(leaderboard=False)
    answer(book, "a", 0, (0,), 101)
    ended = next(e for e in book.handle(q.EndQuiz("t", T, "z"), 110) if isinstance(e, q.QuizEnded))
    assert ended.leaderboard is None


def test_a_quiz_survives_its_record() -> None:
    book = running()
    answer(book, "a", 0, (0,), 101)
    quiz = book.find("z")
    again = q.Quiz.from_record(quiz.to_record())
    again.answers = {k: q.QuizAnswer.from_json(v.to_json()) for k, v in quiz.answers.items()}
    assert again.full() == quiz.full() and again.results() == quiz.results()
    late_joiner = book.view_for("b", A)[0]
    assert late_joiner["question"]["text"] == ONE.text and late_joiner["your_choices"] is None
    assert "spec" not in late_joiner and book.view_for("a", A)[0]["your_choices"] == [0]
