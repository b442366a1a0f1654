"""Attendance of one room: who was present when, time present, share of a session, completion.

``Attendance.handle(command, now)`` records one arrival or departure and returns the
event it caused (nothing when it changes nothing, so replaying a journal is safe).
A participant is present from the moment they are in the room (past the lobby) until
their connection drops or they leave; a reconnection starts a new interval.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from classroom.errors import InvalidCommand
from classroom.permissions import Role
from classroom.room import Event
from classroom.session import Session


@dataclasses.dataclass(frozen=True)
class MarkPresent:
    id: str
    name: str
    role: Role
    device: str | None = None  # the room device a companion is paired with
    viewers: tuple[str, ...] = ()  # who follows attendance live (trainers)


@dataclasses.dataclass(frozen=True)
class MarkAbsent:
    id: str
    viewers: tuple[str, ...] = ()


Command = MarkPresent | MarkAbsent


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

    @property
    def present(self) -> bool:
        return bool(self.intervals) and self.intervals[-1][1] is None

    def within(self, start: float, end: float) -> list[tuple[float, float]]:
        """The intervals present, clipped to [start, end] (an open one runs to end)."""
        clipped = []
        for began, left in self.intervals:
            low, high = max(began, start), min(end if left is None else left, end)
            if high > low:
                clipped.append((low, high))
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

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def session_window(session: Session, now: float) -> tuple[float, float]:
    """The span of a session: from its start to its end, or to now while it is live."""
    if session.started_at is None:
        raise InvalidCommand(f"session {session.id} has not started")
    end = session.ended_at if session.ended_at is not None else now
    return session.started_at, max(end, session.started_at)


class Attendance:
    """Presence intervals of everyone who was in one room; mutate through ``handle``."""

    def __init__(self, room: str) -> None:
        self.room = room
        self.people: dict[str, Person] = {}

    def handle(self, command: Command, now: float) -> list[Event]:
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
            return [self._event(person, command.viewers, now)]
        person = self.people.get(command.id)
        if person is None or not person.present:
            return []
        began, _ = person.intervals[-1]
        person.intervals[-1] = (began, max(now, began))
        return [self._event(person, command.viewers, now)]

    @staticmethod
    def _event(person: Person, viewers: tuple[str, ...], now: float) -> PresenceRecorded:
        return PresenceRecorded(
            viewers, person.id, person.name, person.role.value, person.device, person.present, now
        )

    def timeline(self, start: float, end: float) -> list[tuple[Person, list[tuple[float, float]]]]:
        """Everyone present at some time within [start, end], with when, in order of arrival."""
        rows = [(p, p.within(start, end)) for p in self.people.values()]
        return sorted(((p, spans) for p, spans in rows if spans), key=lambda r: r[1][0][0])

    def report(
        self, session: Session, now: float, min_presence: float | None
    ) -> list[AttendanceRow]:
        """Each person's attendance of a session; completion when min_presence is given."""
        start, end = session_window(session, now)
        duration = end - start
        rows = []
        for person, spans in self.timeline(start, end):
            seconds = sum(high - low for low, high in spans)
            share = min(1.0, seconds / duration) if duration > 0 else 0.0
            last = spans[-1][1]
            still_here = person.present and (session.ended_at is None or last >= end)
            rows.append(
                AttendanceRow(
                    id=person.id,
                    name=person.name,
                    role=person.role.value,
                    device=person.device,
                    joins=len(spans),
                    first_joined=spans[0][0],
                    last_left=None if still_here and session.ended_at is None else last,
                    seconds_present=round(seconds, 3),
                    share=round(share, 4),
                    completed=None if min_presence is None else share >= min_presence,
                )
            )
        return rows
