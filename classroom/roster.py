"""A read-only view of a room's membership, for the state machines beside the room.

Interpretation and attendance need to know who is in the room (names, roles, languages,
who is connected) and who may see what among those present. They read it here, from
the room itself (``classroom.room.Room`` is a ``Roster``), instead of keeping a copy in
sync by hand: the room core stays the one place membership changes. The view is live
(it answers with the room's state at the moment it is asked) and read-only (its members'
attributes are properties, so a type checker refuses writes through it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from classroom.permissions import Action, Role, can


class Member(Protocol):
    """Someone in the room, as the room knows them (``classroom.room.Participant``)."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> Role: ...

    @property
    def lang(self) -> str | None: ...  # the language of their token (an interpreter's channel)

    @property
    def connected(self) -> bool: ...


class Roster(Protocol):
    """Who is in a room (admitted, not waiting in the lobby), read-only."""

    def find(self, pid: str) -> Member | None:
        """The member ``pid``, connected or within their reconnect grace; None if not in
        the room."""
        ...

    def present(self) -> Sequence[Member]:
        """The members connected now, in order of arrival."""
        ...


def audience(roster: Roster, action: Action) -> tuple[str, ...]:
    """The ids of the present members whose role allows ``action``: who is told what only
    they may see (attendance to those who may view it)."""
    return tuple(m.id for m in roster.present() if can(m.role, action))


class _Nobody:
    """A roster of an empty room: for state rebuilt outside any live room (a journal
    replayed for a report), where nobody is there to be told anything."""

    def find(self, pid: str) -> Member | None:
        return None

    def present(self) -> Sequence[Member]:
        return ()


NOBODY: Roster = _Nobody()
