"""Attendance rules: intervals, time present within a session, share, completion, timeline,
and what a server that stopped unseen left open."""

from __future__ import annotations

import pytest

from classroom import attendance as att
from classroom.errors import InvalidCommand
from classroom.permissions import Role
from classroom.room import Disconnect, Join, Leave, Room
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
    room = Room("demo")
    room.handle(Join("t", "Tea", Role.TRAINER), 0)
    room.handle(Join("p", "Besa", Role.COMPANION), 10)
    record = att.Attendance("demo", room)
    (arrived,) = record.handle(att.MarkPresent("p", "Besa", Role.COMPANION, "room3"), 10)
    assert isinstance(arrived, att.PresenceRecorded)
    assert (arrived.present, arrived.device, arrived.to) == (True, "room3", ("t",))
    assert record.handle(att.MarkPresent("p", "Besa", Role.COMPANION, "room3"), 11) == []
    room.handle(Leave("p"), 20)
    (left,) = record.handle(att.MarkAbsent("p"), 20)
    assert isinstance(left, att.PresenceRecorded) and not left.present and left.at == 20
    assert left.to == ("t",)
    assert record.handle(att.MarkAbsent("p"), 21) == []
    assert record.handle(att.MarkAbsent("stranger"), 21) == []
    assert record.people["p"].intervals == [(10, 20)]


def test_who_is_told_is_whoever_may_view_attendance_among_those_present_then() -> None:
    """The audience comes from the room's roster at each change: present trainers, in order
    of arrival; not a trainer whose connection dropped, nor anyone else."""
    room = Room("demo")
    record = att.Attendance("demo", room)
    told = []
    for pid, role in [("t1", Role.TRAINER), ("a", Role.TRAINEE), ("o", Role.OBSERVER)]:
        room.handle(Join(pid, pid.upper(), role), 0)
        (event,) = record.handle(att.MarkPresent(pid, pid.upper(), role), 1)
        told.append(event.to)
    assert told == [("t1",), ("t1",), ("t1",)]
    room.handle(Join("t2", "T2", Role.TRAINER), 2)
    (second,) = record.handle(att.MarkPresent("t2", "T2", Role.TRAINER), 2)
    assert second.to == ("t1", "t2")  # a trainer arriving sees their own arrival
    room.handle(Disconnect("t1"), 3)
    (dropped,) = record.handle(att.MarkAbsent("t1"), 3)
    assert dropped.to == ("t2",)
    # Rebuilt from a journal (no room): nobody is told.
    replayed = att.Attendance("demo")
    (alone,) = replayed.handle(att.MarkPresent("a", "A", Role.TRAINEE), 1)
    assert alone.to == ()
    (closed,) = replayed.handle(att.CloseOpen(5), 6)
    assert closed.to == ()


def test_the_timeline_is_in_order_of_arrival_and_clipped() -> None:
    record = replay([(500, "b", True), (50, "a", True), (200, "a", False), (700, "a", True)])
    lines = record.timeline(100, 1000)
    assert [(p.id, spans) for p, spans in lines] == [
        ("a", [(100, 200, None), (700, 1000, None)]),
        ("b", [(500, 1000, None)]),
    ]


def test_a_session_that_never_started_has_no_window() -> None:
    with pytest.raises(InvalidCommand, match="not started"):
        att.session_window(Session("s2", "demo", "Later"), 10)


@pytest.mark.parametrize(
    ("log", "stopped_at", "closed", "intervals"),
    [
        # open at the last sign of life: closed there
        ([(100, "a", True)], 400, [("a", 400)], [(100, 400)]),
        # arrived after the last liveness mark (but the journal shows the server up then)
        ([(100, "a", True), (450, "b", True)], 400, [("a", 400), ("b", 450)], [(100, 400)]),
        # those who left as seen keep their departure; nothing to close
        ([(100, "a", True), (300, "a", False)], 400, [], [(100, 300)]),
        ([], 400, [], []),
    ],
)
def test_a_stopped_server_leaves_nothing_open(
    log: list[tuple[float, str, bool]],
    stopped_at: float,
    closed: list[tuple[str, float]],
    intervals: list[tuple[float, float]],
) -> None:
    record = replay(log)
    events = record.handle(att.CloseOpen(stopped_at), now=9000)
    assert [(e.id, e.at, e.present) for e in events if isinstance(e, att.PresenceRecorded)] == [
        (who, at, False) for who, at in closed
    ]
    assert not any(p.present for p in record.people.values())
    assert record.people["a"].intervals == intervals if intervals else "a" not in record.people
    assert record.handle(att.CloseOpen(stopped_at), now=9001) == []  # replaying it changes nothing


def test_a_report_shows_which_departures_a_server_stop_made() -> None:
    record = replay([(100, "a", True), (100, "b", True), (200, "b", False)])
    record.handle(att.CloseOpen(600), now=5000)
    record.handle(att.MarkPresent("a", "A", Role.TRAINEE), 700)  # back after the restart
    record.handle(att.MarkAbsent("a"), 900)
    rows = {r.id: r for r in record.report(session(), now=5000, min_presence=0.5)}
    assert (rows["a"].joins, rows["a"].seconds_present, rows["a"].server_stops) == (2, 700, 1)
    assert (rows["a"].last_left, rows["a"].completed) == (900, True)
    assert (rows["b"].server_stops, rows["b"].last_left) == (0, 200)
    ((_, spans),) = [(p, s) for p, s in record.timeline(100, 1100) if p.id == "a"]
    assert spans == [(100, 600, att.SERVER_STOPPED), (700, 900, None)]


def test_a_stop_after_the_session_ended_is_not_the_session_s_business() -> None:
    record = replay([(100, "a", True)])
    record.handle(att.CloseOpen(1500), now=5000)
    (row,) = record.report(session(end=1100), now=5000, min_presence=None)
    assert (row.server_stops, row.last_left, row.seconds_present) == (0, 1100, 1000)


def test_a_replayed_closing_keeps_its_reason_and_the_latest_change_is_known() -> None:
    record = replay([(100, "a", True), (150, "b", True)])
    assert record.last_change == 150
    record.handle(att.MarkAbsent("a", reason=att.SERVER_STOPPED), 400)
    record.handle(att.MarkAbsent("b"), 300)
    assert record.people["a"].reasons == {0: att.SERVER_STOPPED} and not record.people["b"].reasons
    assert record.last_change == 400


def test_a_session_ended_by_a_stop_ends_at_the_stop_and_says_why() -> None:
    s = session(start=100, end=None)
    s.end(50, att.SERVER_STOPPED)  # the last sign of life came before the session started
    assert (s.ended_at, s.end_reason) == (100, att.SERVER_STOPPED)
    assert s.to_json()["end_reason"] == att.SERVER_STOPPED
    assert Session.from_json(s.to_json()) == s
    with pytest.raises(InvalidCommand, match="cannot end"):
        s.end(200)
