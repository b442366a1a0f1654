"""The poll state machine: every kind, changing answers, anonymity, refusals that change nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from classroom import poll as p
from classroom.errors import ClassroomError, Forbidden, InvalidCommand, InvalidValue, NotFound
from classroom.permissions import Role
from classroom.room import Join, Room


def trainer_here() -> Room:
    """A room with its trainer present: the one who may see live results."""
    room = Room("demo")
    room.handle(Join("t", "Tea", Role.TRAINER, None), 0)
    return room


T, A, B = Role.TRAINER, Role.TRAINEE, Role.COMPANION


def book_with(spec: p.PollSpec, opened: bool = True) -> p.PollBook:
    book = p.PollBook("demo", trainer_here())
    book.handle(p.CreatePoll("t", T, "q", spec), 0)
    if opened:
        book.handle(p.OpenPoll("t", T, "q", "s1"), 1)
    return book


def answer(book: p.PollBook, who: str, value: Any, role: Role = A) -> list[p.Event]:
    return book.handle(p.AnswerPoll(who, role, who.upper(), "q", value), 2)


CHOICE = dict(question="Which?", kind="single", options=["A", "B", "C"])


@pytest.mark.parametrize(
    ("fields", "answers", "counts", "texts"),
    [
        (CHOICE, [("a", 0), ("b", 2), ("c", 2)], [1, 0, 2], []),
        ({**CHOICE, "kind": "multiple"}, [("a", [0, 2]), ("b", [2])], [1, 0, 2], []),
        (dict(question="Rate", kind="rating", scale=4), [("a", 4), ("b", 1)], [1, 0, 0, 1], []),
        (
            dict(question="Why?", kind="text"),
            [("a", " slow "), ("b", "fast")],
            [],
            ["slow", "fast"],
        ),
        (
            {**CHOICE, "anonymous": True},
            [("a", 1), ("b", 1)],
            [0, 2, 0],
            [],
        ),
        (
            dict(question="Why?", kind="text", anonymous=True),
            [("a", "zeta"), ("b", "alpha")],
            [],
            ["alpha", "zeta"],  # anonymous texts come sorted: their order could name people
        ),
    ],
)
def test_every_kind_tallies_its_answers(
    fields: dict[str, Any], answers: list[tuple[str, Any]], counts: list[int], texts: list[str]
) -> None:
    book = book_with(p.PollSpec.build(**fields))
    for who, value in answers:
        events = answer(book, who, value)
        assert [type(e).__name__ for e in events] == ["PollAnswerRecorded", "PollTallied"]
        assert events[0].to == (who,) and events[1].to == ("t",)
    tally = book.find("q").tally()
    assert tally == {"answered": len(answers), "counts": counts, "texts": texts}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (dict(question=" ", kind="single", options=["A", "B"]), "question"),
        (dict(question="Q", kind="poll"), "unknown poll kind"),
        (dict(question="Q", kind="single", options=["A"]), "2 to 12 options"),
        (dict(question="Q", kind="single", options=["A", "A"]), "the same"),
        (dict(question="Q", kind="single", options=[str(i) for i in range(13)]), "2 to 12"),
        (dict(question="Q", kind="rating", options=["A", "B"]), "has no options"),
        (dict(question="Q", kind="rating", scale=11), "rating scale"),
        (dict(question="Q", kind="text", text_max=5000), "text limit"),
        (dict(question="Q" * 501, kind="text"), "longer than 500"),
        (dict(question="Q", kind="text", anonymous=True, allow_change=True), "anonymous"),
    ],
)
def test_bad_specs_say_what_is_wrong(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        p.PollSpec.build(**fields)


@pytest.mark.parametrize(
    ("fields", "value", "error", "message"),
    [
        (CHOICE, 3, InvalidValue, "option 3 does not exist"),
        (CHOICE, -1, InvalidValue, "does not exist"),
        (CHOICE, True, InvalidValue, "number"),
        (CHOICE, "0", InvalidValue, "number"),
        ({**CHOICE, "kind": "multiple"}, [], InvalidValue, "at least one"),
        ({**CHOICE, "kind": "multiple"}, [1, 1], InvalidValue, "twice"),
        ({**CHOICE, "kind": "multiple"}, 1, InvalidValue, "list"),
        (dict(question="R", kind="rating", scale=5), 0, InvalidValue, "1 to 5"),
        (dict(question="R", kind="rating", scale=5), 6, InvalidValue, "1 to 5"),
        (dict(question="T", kind="text", text_max=4), "12345", InvalidValue, "longer than 4"),
        (dict(question="T", kind="text"), "   ", InvalidValue, "non-empty"),
    ],
)
def test_bad_answers_are_refused_and_change_nothing(
    fields: dict[str, Any], value: Any, error: type[ClassroomError], message: str
) -> None:
    book = book_with(p.PollSpec.build(**fields))
    before = copy.deepcopy(book.find("q"))
    with pytest.raises(error, match=message):
        answer(book, "a", value)
    assert book.find("q") == before


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (p.CreatePoll("a", A, "x", p.PollSpec.build(**CHOICE)), Forbidden),
        (p.OpenPoll("a", A, "q"), Forbidden),
        (p.ClosePoll("b", B, "q"), Forbidden),
        (p.PublishResults("a", A, "q"), Forbidden),
        (p.AnswerPoll("o", Role.OBSERVER, "O", "q", 0), Forbidden),
        (p.AnswerPoll("a", A, "A", "nope", 0), NotFound),
        (p.OpenPoll("t", T, "q"), InvalidCommand),  # open already
        (p.PublishResults("t", T, "q"), InvalidCommand),  # not closed yet
        (p.CreatePoll("t", T, "q", p.PollSpec.build(**CHOICE)), InvalidCommand),  # id taken
    ],
)
def test_illegal_commands_raise_and_change_nothing(command: p.Command, error: type) -> None:
    book = book_with(p.PollSpec.build(**CHOICE))
    before = copy.deepcopy(book.entries)
    with pytest.raises(error):
        book.handle(command, 5)
    assert book.entries == before


def test_the_lifecycle_draft_open_closed_published() -> None:
    book = book_with(p.PollSpec.build(**CHOICE), opened=False)
    with pytest.raises(InvalidCommand, match="draft; answers are not taken"):
        answer(book, "a", 0)
    (opened, tallied) = book.handle(p.OpenPoll("t", T, "q", "s1"), 1)
    assert isinstance(opened, p.PollOpened) and opened.to is None and "tally" not in opened.poll
    assert opened.poll["session_id"] == "s1" and tallied.to == ("t",)
    answer(book, "a", 1, role=B)  # companions answer under their own name
    closed, _ = book.handle(p.ClosePoll("t", T, "q"), 3)
    assert isinstance(closed, p.PollClosed) and closed.poll["state"] == "closed"
    with pytest.raises(InvalidCommand, match="closed; answers are not taken"):
        answer(book, "b", 0)
    (published,) = book.handle(p.PublishResults("t", T, "q"), 4)
    assert isinstance(published, p.PollResultsPublished) and published.to is None
    assert published.tally["counts"] == [0, 1, 0]
    assert book.handle(p.PublishResults("t", T, "q"), 5) == []
    assert book.find("q").public()["tally"]["answered"] == 1


def test_an_answer_changes_only_when_the_poll_allows_and_counts_once() -> None:
    fixed = book_with(p.PollSpec.build(**CHOICE))
    answer(fixed, "a", 0)
    with pytest.raises(InvalidCommand, match="answered this poll already"):
        answer(fixed, "a", 1)
    changeable = book_with(p.PollSpec.build(**CHOICE, allow_change=True))
    answer(changeable, "a", 0)
    recorded, _ = answer(changeable, "a", 2)
    assert isinstance(recorded, p.PollAnswerRecorded) and recorded.changed
    assert changeable.find("q").tally() == {"answered": 1, "counts": [0, 0, 1], "texts": []}


def test_an_anonymous_poll_keeps_who_apart_from_what() -> None:
    book = book_with(p.PollSpec.build(**CHOICE, anonymous=True))
    answer(book, "ana", 2)
    with pytest.raises(InvalidCommand):
        answer(book, "ana", 1)  # still counted once
    poll = book.find("q")
    assert poll.voters == {"ana"} and poll.ballots == {} and poll.counts == [0, 0, 1]
    assert "ana" not in repr(poll.to_record()) and "ana" not in repr(poll.full())


def test_views_show_results_only_to_those_who_may_see_them() -> None:
    book = book_with(p.PollSpec.build(**CHOICE))
    book.handle(p.CreatePoll("t", T, "draft", p.PollSpec.build(**CHOICE)), 0)
    answer(book, "a", 1)
    trainer_view = book.view_for("t", T)
    assert {v["id"] for v in trainer_view} == {"q", "draft"}
    assert all("tally" in v for v in trainer_view)
    (mine,) = book.view_for("a", A)
    assert mine["your_answer"] == 1 and mine["answered"] and "tally" not in mine
    (other,) = book.view_for("b", A)
    assert other["your_answer"] is None and not other["answered"]


def test_a_poll_survives_its_record_and_ballots() -> None:
    book = book_with(p.PollSpec.build(**{**CHOICE, "kind": "multiple"}))
    answer(book, "a", [0, 1])
    poll = book.find("q")
    again = p.Poll.from_record(poll.to_record())
    again.ballots = {pid: p.Ballot.from_json(b.to_json()) for pid, b in poll.ballots.items()}
    again.voters = set(again.ballots)
    assert again.tally() == poll.tally() and again.public() == poll.public()
