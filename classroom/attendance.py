"""Attendance of one room: who was present when, time present, share of a session, completion.

``Attendance.handle(command, now)`` records one arrival or departure and returns the
event it caused (nothing when it changes nothing, so replaying a journal is safe).
A participant is present from the moment they are in the room (past the lobby) until
their connection drops or they leave; a reconnection starts a new interval. When the
server stops without seeing anyone leave (a crash, a power cut), ``CloseOpen`` closes
what it left open at the last moment it is known to have been up, and says so: each
such interval keeps the reason, and reports count them.

Who is told of each change is resolved here, from the room's roster (``classroom.roster``):
the present members allowed to view attendance. Attendance rebuilt from a journal has
no room (``NOBODY``), so nobody is told.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

from classroom.errors import InvalidCommand
from classroom.permissions import Action, Role
from classroom.room import Event
from classroom.roster import NOBODY, Roster, audience
from classroom.session import Session

SERVER_STOPPED = "server_stopped"  # why an interval closed: the server stopped, unseen


@dataclasses.dataclass(frozen=True)
class MarkPresent:
    id: str
    name: str
    role: Role
    device: str | None = None  # the room device a companion is paired with


@dataclasses.dataclass(frozen=True)
class MarkAbsent:
    id: str
    reason: str | None = None  # None: they left or their connection dropped, as seen


@dataclasses.dataclass(frozen=True)
class CloseOpen:
    """Close every interval still open, at ``at``: the server that saw these people stopped
    without recording their departures, and ``at`` is the last moment it is known to have
    been up. An interval that began later closes where it began."""

    at: float
    reason: str = SERVER_STOPPED


Command = MarkPresent | MarkAbsent | CloseOpen


class Span(NamedTuple):
    """A stretch of presence within a window, and why it ended there (None: a departure
    as seen, or the window's own end)."""

    began: float
    left: float
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class PresenceRecorded(Event):
    id: str
    name: str
    role: str
    device: str | None
    present: bool
    at: float


@dataclasses.dataclass
class Person:
    id: str
    name: str
    role: Role
    device: str | None
    intervals: list[tuple[float, float | None]] = dataclasses.field(default_factory=list)
    reasons: dict[int, str] = dataclasses.field(default_factory=dict)  # interval index -> why

    @property
    def present(self) -> bool:
        return bool(self.intervals) and self.intervals[-1][1] is None

    def close(self, at: float, reason: str | None) -> float:
        """End the open interval at ``at`` (or where it began, if later); when it closed."""
        began, _ = self.intervals[-1]
        left = max(at, began)
        self.intervals[-1] = (began, left)
        if reason is not None:
            self.reasons[len(self.intervals) - 1] = reason
        return left

    def within(self, start: float, end: float) -> list[Span]:
        """The intervals present, clipped to [start, end] (an open one runs to end)."""
        clipped = []
        for index, (began, left) in enumerate(self.intervals):
            low, high = max(began, start), min(end if left is None else left, end)
            if high > low:
                ended_inside = left is not None and left <= end
                clipped.append(Span(low, high, self.reasons.get(index) if ended_inside else None))
        return clipped


@dataclasses.dataclass(frozen=True)
class AttendanceRow:
    """One person's attendance of one session."""

    id: str
    name: str
    role: str
    device: str | None
    joins: int  # arrivals within the session
    first_joined: float | None
    last_left: float | None  # None: still present
    seconds_present: float
    share: float  # of the session's duration, 0..1
    completed: bool | None  # by the module's min_presence; None without a module
    server_stops: int  # spans ended because the server stopped (closed at its last sign of life)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def session_window(session: Session, now: float) -> tuple[float, float]:
    """The span of a session: from its start to its end, or to now while it is live."""
    if session.started_at is None:
        raise InvalidCommand(f"session {session.id} has not started")
    end = session.ended_at if session.ended_at is not None else now
    return session.started_at, max(end, session.started_at)


class Attendance:
    """Presence intervals of everyone who was in one room; mutate through ``handle``.

    ``roster`` is the live room's membership (the room core), read-only: who is told.
    """

    def __init__(self, room: str, roster: Roster = NOBODY) -> None:
        self.room = room
        self.roster = roster
        self.people: dict[str, Person] = {}
        self.last_change: float | None = None  # the latest arrival or departure: up then

    def handle(self, command: Command, now: float) -> list[Event]:
        if isinstance(command, CloseOpen):
            return self._close_open(command, now)
        if isinstance(command, MarkPresent):
            person = self.people.get(command.id)
            if person is None:
                person = self.people[command.id] = Person(
                    command.id, command.name, command.role, command.device
                )
            person.name, person.device = command.name, command.device or person.device
            if person.present:
                return []
            person.intervals.append((now, None))
            self._changed(now)
            return [self._event(person, now)]
        person = self.people.get(command.id)
        if person is None or not person.present:
            return []
        self._changed(person.close(now, command.reason))
        return [self._event(person, now)]

    def _close_open(self, command: CloseOpen, now: float) -> list[Event]:
        events: list[Event] = []
        for person in self.people.values():
            if person.present:
                left = person.close(command.at, command.reason)
                self._changed(left)
                events.append(self._event(person, left))
        return events

    def _changed(self, at: float) -> None:
        self.last_change = at if self.last_change is None else max(self.last_change, at)

    def viewers(self) -> tuple[str, ...]:
        """Who follows attendance live: the present members allowed to view it (trainers)."""
        return audience(self.roster, Action.VIEW_ATTENDANCE)

    def _event(self, person: Person, now: float) -> PresenceRecorded:
        return PresenceRecorded(
            self.viewers(),
            person.id,
            person.name,
            person.role.value,
            person.device,
            person.present,
            now,
        )

    def timeline(self, start: float, end: float) -> list[tuple[Person, list[Span]]]:
        """Everyone present at some time within [start, end], with when, in order of arrival."""
        rows = [(p, p.within(start, end)) for p in self.people.values()]
        return sorted(((p, spans) for p, spans in rows if spans), key=lambda r: r[1][0].began)

    def report(
        self, session: Session, now: float, min_presence: float | None
    ) -> list[AttendanceRow]:
        """Each person's attendance of a session; completion when min_presence is given."""
        start, end = session_window(session, now)
        duration = end - start
        rows = []
        for person, spans in self.timeline(start, end):
            seconds = sum(span.left - span.began for span in spans)
            share = min(1.0, seconds / duration) if duration > 0 else 0.0
            last = spans[-1].left
            still_here = person.present and (session.ended_at is None or last >= end)
            rows.append(
                AttendanceRow(
                    id=person.id,
                    name=person.name,
                    role=person.role.value,
                    device=person.device,
                    joins=len(spans),
                    first_joined=spans[0].began,
                    last_left=None if still_here and session.ended_at is None else last,
                    seconds_present=round(seconds, 3),
                    share=round(share, 4),
                    completed=None if min_presence is None else share >= min_presence,
                    server_stops=sum(1 for span in spans if span.reason == SERVER_STOPPED),
                )
            )
        return rows
