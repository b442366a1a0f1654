"""What poll and quiz books share: ids, a cap per room, states, refusals that change nothing."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from classroom import poll as p
from classroom import quiz as q
from classroom.book import Book
from classroom.errors import ClassroomError, Forbidden, InvalidCommand, NotFound
from classroom.permissions import Role
from classroom.question import Question, QuizSpec

T, A = Role.TRAINER, Role.TRAINEE
POLL = p.PollSpec.build("Which?", "single", ["A", "B"])
QUIZ = QuizSpec("Geography", (Question("Capital of Albania?", ("Tirana", "Durrës"), (0,)),))


def book_of(book: Book[Any, Any], *commands: Any) -> Book[Any, Any]:
    for command in commands:
        book.handle(command, 0)
    return book


MAKE_POLL, MAKE_QUIZ = p.CreatePoll("t", T, "q", POLL), q.CreateQuiz("t", T, "z", QUIZ)
BOOKS: dict[str, Callable[[], Book[Any, Any]]] = {
    "draft poll": lambda: book_of(p.PollBook("demo"), MAKE_POLL),
    "open poll": lambda: book_of(p.PollBook("demo"), MAKE_POLL, p.OpenPoll("t", T, "q")),
    "full polls": lambda: book_of(
        p.PollBook("demo"), *(p.CreatePoll("t", T, f"p{n}", POLL) for n in range(p.MAX_POLLS))
    ),
    "draft quiz": lambda: book_of(q.QuizBook("demo"), MAKE_QUIZ),
    "running quiz": lambda: book_of(q.QuizBook("demo"), MAKE_QUIZ, q.StartQuiz("t", T, "z")),
    "full quizzes": lambda: book_of(
        q.QuizBook("demo"), *(q.CreateQuiz("t", T, f"z{n}", QUIZ) for n in range(q.MAX_QUIZZES))
    ),
}


def refused(book: str, command: Any, error: type[ClassroomError]) -> ClassroomError:
    """The error a command is refused with, checking that the book did not change."""
    subject = BOOKS[book]()
    before = copy.deepcopy(subject.entries)
    with pytest.raises(error) as raised:
        subject.handle(command, 5)
    assert subject.entries == before
    return raised.value


@pytest.mark.parametrize(
    ("book", "command", "message"),
    [
        ("draft poll", p.CreatePoll("t", T, "q", POLL), "poll 'q' exists already"),
        ("full polls", p.CreatePoll("t", T, "x", POLL), "a room keeps at most 500 polls"),
        ("open poll", p.OpenPoll("t", T, "q"), "poll q is open; only a draft can be opened"),
        ("draft poll", p.ClosePoll("t", T, "q"), "poll q is draft, not open"),
        (
            "open poll",
            p.PublishResults("t", T, "q"),
            "close the poll before publishing its results",
        ),
        ("draft poll", p.AnswerPoll("a", A, "A", "q", 0), "poll q is draft; answers are not taken"),
        ("draft poll", q.EndQuiz("t", T, "q"), "polls do not handle EndQuiz"),
        ("draft quiz", q.CreateQuiz("t", T, "z", QUIZ), "quiz 'z' exists already"),
        ("full quizzes", q.CreateQuiz("t", T, "x", QUIZ), "a room keeps at most 200 quizzes"),
        ("running quiz", q.StartQuiz("t", T, "z"), "quiz z is running; only a draft can start"),
        ("draft quiz", q.NextQuestion("t", T, "z"), "quiz z is draft, not running"),
        ("draft quiz", p.ClosePoll("t", T, "z"), "quizzes do not handle ClosePoll"),
    ],
)
def test_commands_out_of_turn_say_why_and_change_nothing(
    book: str, command: Any, message: str
) -> None:
    assert refused(book, command, InvalidCommand).message == message


@pytest.mark.parametrize(
    ("book", "command", "error", "message"),
    [
        ("draft poll", p.CreatePoll("a", A, "x", POLL), Forbidden, None),
        ("draft poll", p.OpenPoll("t", T, "x"), NotFound, "no poll 'x' in room demo"),
        ("draft poll", p.OpenPoll("a", A, "q"), Forbidden, None),
        ("draft quiz", q.CreateQuiz("a", A, "x", QUIZ), Forbidden, None),
        ("draft quiz", q.StartQuiz("t", T, "x"), NotFound, "no quiz 'x' in room demo"),
        ("running quiz", q.EndQuiz("a", A, "z"), Forbidden, None),
    ],
)
def test_forbidden_or_unknown_commands_change_nothing(
    book: str, command: Any, error: type[ClassroomError], message: str | None
) -> None:
    refusal = refused(book, command, error)
    assert message is None or refusal.message == message


def test_those_who_may_not_view_results_see_only_what_is_under_way() -> None:
    polls = BOOKS["draft poll"]()
    book_of(polls, p.CreatePoll("t", T, "r", POLL), p.OpenPoll("t", T, "r"))
    assert [view["id"] for view in polls.view_for("a", T)] == ["q", "r"]
    assert [view["id"] for view in polls.view_for("a", A)] == ["r"]
    assert [view["id"] for view in BOOKS["draft quiz"]().view_for("a", A)] == []
    assert [view["id"] for view in BOOKS["running quiz"]().view_for("a", A)] == ["z"]
