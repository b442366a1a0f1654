"""A room's book of polls or quizzes: the bookkeeping the two share, behind one ``handle``.

A subclass names what it keeps (``noun``, ``plural``, ``limit``) and handles each
command ``X`` in a method ``_on_X(command, now)`` returning the events it caused.
"""

from __future__ import annotations

import abc
import enum
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from classroom.errors import InvalidCommand, NotFound
from classroom.permissions import Action, Role, can, require
from classroom.room import Event
from classroom.roster import NOBODY, Roster, audience


class Entry(Protocol):
    """What a book keeps: a poll or a quiz."""

    @property
    def id(self) -> str: ...

    @property
    def state(self) -> enum.Enum: ...

    def full(self) -> dict[str, Any]: ...


EntryT = TypeVar("EntryT", bound=Entry)
CommandT = TypeVar("CommandT")


class Book(abc.ABC, Generic[EntryT, CommandT]):
    """The polls or the quizzes of one room, by id; mutate it only through ``handle``."""

    noun: ClassVar[str]  # in messages: "no poll 'x' in room r"
    plural: ClassVar[str]
    limit: ClassVar[int]  # entries kept per room

    def __init__(self, room: str, roster: Roster = NOBODY) -> None:
        self.room = room
        self.entries: dict[str, EntryT] = {}
        #: The room's membership, read-only (the room core): who is told live results.
        self.roster = roster

    @property
    def viewers(self) -> tuple[str, ...]:
        """Who may see results among those present: live tallies go to them."""
        return audience(self.roster, Action.VIEW_RESULTS)

    def find(self, entry_id: str) -> EntryT:
        entry = self.entries.get(entry_id)
        if entry is None:
            raise NotFound(f"no {self.noun} {entry_id!r} in room {self.room}")
        return entry

    def view_for(self, pid: str, role: Role) -> list[dict[str, Any]]:
        """What a participant sees on arrival: everything, in full, if they may view results;
        otherwise what ``_seen_by`` shows them of each entry."""
        if can(role, Action.VIEW_RESULTS):
            return [entry.full() for entry in self.entries.values()]
        views = (self._seen_by(entry, pid) for entry in self.entries.values())
        return [view for view in views if view is not None]

    @abc.abstractmethod
    def _seen_by(self, entry: EntryT, pid: str) -> dict[str, Any] | None:
        """What a participant who may not view results sees of an entry (None: nothing)."""

    def handle(self, command: CommandT, now: float) -> list[Event]:
        """Apply one command at ``now``; a refused one raises ClassroomError, changing nothing."""
        method = getattr(self, "_on_" + type(command).__name__, None)
        if method is None:
            raise InvalidCommand(f"{self.plural} do not handle {type(command).__name__}")
        events: list[Event] = method(command, now)
        return events

    def _add(self, role: Role, entry: EntryT) -> EntryT:
        """Keep a new entry, if the role manages polls, the id is new and the room has space."""
        require(role, Action.MANAGE_POLLS)
        if entry.id in self.entries:
            raise InvalidCommand(f"{self.noun} {entry.id!r} exists already")
        if len(self.entries) >= self.limit:
            raise InvalidCommand(f"a room keeps at most {self.limit} {self.plural}")
        self.entries[entry.id] = entry
        return entry

    def _in_state(
        self, role: Role, action: Action, entry_id: str, state: enum.Enum, refusal: str
    ) -> EntryT:
        """The entry a command names, if the role may ``action`` and the entry is in ``state``;
        otherwise InvalidCommand(refusal), with ``{id}`` and ``{state}`` filled in."""
        require(role, action)
        entry = self.find(entry_id)
        if entry.state is not state:
            raise InvalidCommand(refusal.format(id=entry.id, state=entry.state))
        return entry
