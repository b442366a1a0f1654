"""Attendance rules: intervals, time present within a session, share, completion, timeline."""

from __future__ import annotations

import pytest

from classroom import attendance as att
from classroom.errors import InvalidCommand
from classroom.permissions import Role
from classroom.session import Session


def session(start: float = 100, end: float | None = 1100) -> Session:
    s = Session("s1", "demo", "Asylum procedures", "m10-asylum")
    s.start(start)
    if end is not None:
        s.end(end)
    return s


def replay(log: list[tuple[float, str, bool]], role: Role = Role.TRAINEE) -> att.Attendance:
    record = att.Attendance("demo")
    for at, who, present in log:
        command = att.MarkPresent(who, who.upper(), role) if present else att.MarkAbsent(who)
        record.handle(command, at)
    return record


@pytest.mark.parametrize(
    ("log", "seconds", "joins", "share", "completed"),
    [
        ([(100, "a", True), (1100, "a", False)], 1000, 1, 1.0, True),
        ([(0, "a", True), (2000, "a", False)], 1000, 1, 1.0, True),  # clipped to the session
        (
            [(100, "a", True), (400, "a", False), (600, "a", True), (1100, "a", False)],
            800,
            2,
            0.8,
            True,
        ),
        ([(100, "a", True), (500, "a", False)], 400, 1, 0.4, False),
        ([(100, "a", True), (899, "a", False)], 799, 1, 0.799, False),  # just under 0.8
        ([(600, "a", True)], 500, 1, 0.5, False),  # never left: present until the end
        ([(100, "a", True), (100, "a", True), (300, "a", False)], 200, 1, 0.2, False),
    ],
)
def test_time_present_share_and_completion(
    log: list[tuple[float, str, bool]], seconds: float, joins: int, share: float, completed: bool
) -> None:
    (row,) = replay(log).report(session(), now=5000, min_presence=0.8)
    assert (row.seconds_present, row.joins, row.share, row.completed) == (
        seconds,
        joins,
        share,
        completed,
    )


def test_a_live_session_counts_up_to_now_and_the_present_have_not_left() -> None:
    record = replay([(150, "a", True), (100, "b", True), (300, "b", False)])
    rows = {r.id: r for r in record.report(session(end=None), now=600, min_presence=None)}
    assert rows["a"].seconds_present == 450 and rows["a"].last_left is None
    assert rows["a"].share == 0.9 and rows["a"].completed is None  # no rule without a module
    assert rows["b"].last_left == 300 and rows["b"].first_joined == 100


def test_nobody_outside_the_session_is_in_its_report() -> None:
    record = replay([(0, "early", True), (50, "early", False), (2000, "late", True)])
    assert record.report(session(), now=3000, min_presence=0.5) == []


def test_arrivals_and_departures_are_events_only_when_they_change_something() -> None:
    record = att.Attendance("demo")
    (arrived,) = record.handle(att.MarkPresent("p", "Besa", Role.COMPANION, "room3", ("t",)), 10)
    assert isinstance(arrived, att.PresenceRecorded)
    assert (arrived.present, arrived.device, arrived.to) == (True, "room3", ("t",))
    assert record.handle(att.MarkPresent("p", "Besa", Role.COMPANION, "room3"), 11) == []
    (left,) = record.handle(att.MarkAbsent("p", ("t",)), 20)
    assert isinstance(left, att.PresenceRecorded) and not left.present and left.at == 20
    assert record.handle(att.MarkAbsent("p"), 21) == []
    assert record.handle(att.MarkAbsent("stranger"), 21) == []
    assert record.people["p"].intervals == [(10, 20)]


def test_the_timeline_is_in_order_of_arrival_and_clipped() -> None:
    record = replay([(500, "b", True), (50, "a", True), (200, "a", False), (700, "a", True)])
    lines = record.timeline(100, 1000)
    assert [(p.id, spans) for p, spans in lines] == [
        ("a", [(100, 200), (700, 1000)]),
        ("b", [(500, 1000)]),
    ]


def test_a_session_that_never_started_has_no_window() -> None:
    with pytest.raises(InvalidCommand, match="not started"):
        att.session_window(Session("s2", "demo", "Later"), 10)
