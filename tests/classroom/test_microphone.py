"""Microphones: what a page reports is the state everyone sees; a trainer's unmute turns a
room device's microphone on and asks a person."""

from __future__ import annotations

import pytest

from classroom import room as r
from classroom.errors import Forbidden
from classroom.permissions import Action, Role, can


def make_room() -> r.Room:
    room = r.Room("demo")
    room.handle(r.Join("t", "Tea", Role.TRAINER), 0)
    room.handle(r.Join("a", "Ana", Role.TRAINEE), 0)
    room.handle(r.Join("i", "Ivo", Role.INTERPRETER, "sr"), 0)
    room.handle(r.Join("k", "Room 3", Role.ROOM), 0)
    room.handle(r.Join("o", "Olga", Role.OBSERVER), 0)
    return room


def detail(event: r.Event) -> object:
    for field in ("self_muted", "direct", "muted"):
        if hasattr(event, field):
            return getattr(event, field)
    return None


def test_only_room_devices_are_unmuted_without_being_asked() -> None:
    assert [role for role in Role if can(role, Action.REMOTE_UNMUTE)] == [Role.ROOM]


@pytest.mark.parametrize(
    ("setup", "command", "expected"),
    [
        # A page reports its microphone; everyone learns it.
        ([], r.SetMicrophone("a", False), [("MicrophoneChanged", None, "a", True)]),
        ([r.SetMicrophone("a", False)], r.SetMicrophone("a", False), []),
        (
            [r.SetMicrophone("a", False)],
            r.SetMicrophone("a", True),
            [("MicrophoneChanged", None, "a", False)],
        ),
        # Unmuting a room device that turned its microphone off: it turns it on at once.
        (
            [r.SetMicrophone("k", False)],
            r.Mute("t", "k", False),
            [("UnmuteRequested", ("k",), "k", True)],
        ),
        # A room device the trainer muted: the trainer's lock goes, and the device turns on.
        (
            [r.Mute("t", "k"), r.SetMicrophone("k", False)],
            r.Mute("t", "k", False),
            [("MuteChanged", None, "k", False), ("UnmuteRequested", ("k",), "k", True)],
        ),
        # A trainee or an interpreter is asked, never switched on.
        (
            [r.Mute("t", "a"), r.SetMicrophone("a", False)],
            r.Mute("t", "a", False),
            [("MuteChanged", None, "a", False), ("UnmuteRequested", ("a",), "a", False)],
        ),
        (
            [r.SetMicrophone("i", False)],
            r.Mute("t", "i", False),
            [("UnmuteRequested", ("i",), "i", False)],
        ),
        # A microphone that is on needs nothing.
        ([], r.Mute("t", "a", False), []),
        # Declining tells the trainers.
        ([], r.DeclineUnmute("a"), [("UnmuteDeclined", ("t",), "a", None)]),
    ],
)
def test_microphone_events(
    setup: list[r.Command], command: r.Command, expected: list[tuple[object, ...]]
) -> None:
    room = make_room()
    for step in setup:
        room.handle(step, 1)
    events = room.handle(command, 2)
    seen = [(type(e).__name__, e.to, getattr(e, "id", None), detail(e)) for e in events]
    assert seen == expected


def test_the_record_tells_self_muted_from_muted_by_the_trainer() -> None:
    room = make_room()
    room.handle(r.SetMicrophone("a", False), 1)
    room.handle(r.Mute("t", "k"), 1)
    people = {p["id"]: p for p in room.snapshot()["participants"]}
    assert (people["a"]["self_muted"], people["a"]["audio_muted"]) == (True, False)
    assert (people["k"]["self_muted"], people["k"]["audio_muted"]) == (False, True)


@pytest.mark.parametrize(
    ("setup", "command"),
    [
        ([r.Mute("t", "a")], r.SetMicrophone("a", True)),  # muted by the trainer: stays off
        ([], r.SetMicrophone("o", False)),  # observers publish nothing
        ([], r.DeclineUnmute("o")),
    ],
)
def test_refused(setup: list[r.Command], command: r.Command) -> None:
    room = make_room()
    for step in setup:
        room.handle(step, 1)
    with pytest.raises(Forbidden):
        room.handle(command, 2)
