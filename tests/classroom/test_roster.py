"""The room's membership, read-only (``classroom.roster``): what the room answers, live."""

from __future__ import annotations

from classroom.permissions import Action, Role
from classroom.room import Admit, Disconnect, Join, Leave, LockRoom, Room
from classroom.roster import NOBODY, Member, Roster, audience


def room() -> Room:
    r = Room("r")
    for pid, name, role, lang in [
        ("t", "Tea", Role.TRAINER, "sr"),
        ("a", "Ana", Role.TRAINEE, "mk"),
        ("i", "Ivana", Role.INTERPRETER, "sr"),
        ("o", "Olja", Role.OBSERVER, None),
    ]:
        r.handle(Join(pid, name, role, lang), 0)
    return r


def test_the_room_is_a_roster_of_its_admitted_members() -> None:
    r = room()
    roster: Roster = r  # the room satisfies the protocol (checked by mypy too)
    member = roster.find("i")
    assert member is not None
    assert (member.id, member.name, member.role, member.lang, member.connected) == (
        "i",
        "Ivana",
        Role.INTERPRETER,
        "sr",
        True,
    )
    assert roster.find("nobody") is None
    assert [m.id for m in roster.present()] == ["t", "a", "i", "o"]


def test_the_roster_is_a_view_not_a_copy() -> None:
    """What was found follows the room: nothing has to be kept in sync."""
    r = room()
    roster: Roster = r
    member = roster.find("a")
    assert member is not None
    r.handle(Disconnect("a"), 1)
    assert member.connected is False
    assert [m.id for m in roster.present()] == ["t", "i", "o"]
    assert roster.find("a") is member  # within the grace: still in the room
    r.handle(Join("a", "Ana B.", Role.TRAINEE, "mk"), 2)
    assert (member.connected, member.name) == (True, "Ana B.")
    r.handle(Leave("a"), 3)
    assert roster.find("a") is None


def test_who_waits_in_the_lobby_is_not_in_the_roster_until_admitted() -> None:
    r = room()
    r.handle(LockRoom("t", True), 1)
    r.handle(Join("late", "Late", Role.TRAINEE), 2)
    assert r.find("late") is None and "late" not in [m.id for m in r.present()]
    r.handle(Admit("t", "late"), 3)
    found = r.find("late")
    assert found is not None and found.connected


def test_the_audience_of_an_action_is_who_may_take_it_among_those_present() -> None:
    r = room()
    r.handle(Join("t2", "Tom", Role.TRAINER), 1)
    assert audience(r, Action.VIEW_ATTENDANCE) == ("t", "t2")
    assert audience(r, Action.INTERPRET) == ("t", "i", "t2")  # trainers may do anything
    r.handle(Disconnect("t"), 2)
    assert audience(r, Action.VIEW_ATTENDANCE) == ("t2",)
    assert audience(r, Action.LISTEN_CHANNEL) == ("a", "i", "o", "t2")


def test_nobody_is_an_empty_room() -> None:
    assert NOBODY.find("t") is None
    assert list(NOBODY.present()) == []
    assert audience(NOBODY, Action.VIEW_ATTENDANCE) == ()


def test_a_member_is_anything_with_the_fields_read_only() -> None:
    """Any roster will do (a test's, another process's view): the protocol asks only for
    the lookups."""

    class Fixed:
        def __init__(self, *members: Member) -> None:
            self.members = {m.id: m for m in members}

        def find(self, pid: str) -> Member | None:
            return self.members.get(pid)

        def present(self) -> list[Member]:
            return [m for m in self.members.values() if m.connected]

    r = room()
    t, a = r.find("t"), r.find("a")
    assert t is not None and a is not None
    fixed: Roster = Fixed(t, a)
    assert audience(fixed, Action.VIEW_ATTENDANCE) == ("t",)
