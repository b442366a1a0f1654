"""The room state machine: commands in, events out, illegal commands change nothing."""

from __future__ import annotations

import copy

import pytest

from classroom import room as r
from classroom.errors import ClassroomError, Forbidden, InvalidCommand, NotFound
from classroom.permissions import Role


def make_room(locked: bool = False) -> r.Room:
    room = r.Room("demo")
    room.handle(r.Join("t", "Trainer", Role.TRAINER), 0)
    room.handle(r.Join("a", "Ana", Role.TRAINEE), 0)
    room.handle(r.Join("b", "Bojan", Role.TRAINEE), 0)
    if locked:
        room.handle(r.LockRoom("t", True), 0)
    return room


def names(events: list[r.Event]) -> list[str]:
    return [type(e).__name__ for e in events]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (r.SendChat("a", " hello "), ["ChatPosted"]),
        (r.RaiseHand("a", True), ["HandChanged"]),
        (r.RaiseHand("a", False), []),  # already down: nothing happens
        (r.Mute("t", "a"), ["MuteChanged"]),
        (r.Mute("t", None), ["MuteChanged", "MuteChanged"]),
        (r.Pin("t", "b"), ["PinChanged"]),
        (r.Remove("t", "b"), ["Removed", "ParticipantLeft", "BanChanged"]),
        (r.LockRoom("t", True), ["RoomLocked"]),
        (r.AllowScreenShare("t", True), ["ScreenSharePermissionChanged"]),
        (r.ShareScreen("t", True), ["ScreenShareChanged"]),
        (r.StartSession("t", "Module 1"), ["SessionChanged"]),
        (r.Disconnect("a"), ["ParticipantDisconnected"]),
        (r.Leave("a"), ["ParticipantLeft"]),
        (r.Join("c", "Room 3", Role.ROOM), ["ParticipantJoined"]),
        (r.Join("p", "Olga (phone)", Role.COMPANION), ["ParticipantJoined"]),
    ],
)
def test_commands_and_their_events(command: r.Command, expected: list[str]) -> None:
    assert names(make_room().handle(command, 10)) == expected


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (r.Mute("a", "b"), Forbidden),
        (r.Remove("a", "b"), Forbidden),
        (r.LockRoom("a", True), Forbidden),
        (r.Pin("a", "a"), Forbidden),
        (r.StartSession("a"), Forbidden),
        (r.ShareScreen("a", True), Forbidden),  # not allowed by the trainer yet
        (r.RaiseHand("a", True, target="b"), Forbidden),
        (r.RaiseHand("a", False, target="b"), Forbidden),
        (r.Mute("t", "nobody"), NotFound),
        (r.Admit("t", "nobody"), NotFound),
        (r.SendChat("a", "   "), InvalidCommand),
        (r.SendChat("a", "x" * (r.CHAT_MAX_CHARS + 1)), InvalidCommand),
        (r.SendChat("stranger", "hi"), NotFound),
        (r.Remove("t", "t"), InvalidCommand),
        (r.EndSession("t"), InvalidCommand),
    ],
)
def test_illegal_commands_raise_and_change_nothing(command: r.Command, error: type) -> None:
    room = make_room()
    before = copy.deepcopy(room.snapshot())
    with pytest.raises(error) as raised:
        room.handle(command, 10)
    assert isinstance(raised.value, ClassroomError) and raised.value.message
    assert room.snapshot() == before


def test_a_locked_room_keeps_newcomers_in_the_lobby_until_admitted() -> None:
    room = make_room(locked=True)
    (entered,) = room.handle(r.Join("c", "Cvetan", Role.TRAINEE), 1)
    assert isinstance(entered, r.LobbyEntered) and entered.to == ("t", "c")
    assert "c" not in room.participants
    with pytest.raises(NotFound):
        room.handle(r.SendChat("c", "let me in"), 2)
    events = room.handle(r.Admit("t", "c"), 3)
    assert names(events) == ["Admitted", "ParticipantJoined"] and events[0].to == ("c",)
    assert "c" in room.participants


def test_interpreters_and_trainers_bypass_the_lobby() -> None:
    room = make_room(locked=True)
    assert names(room.handle(r.Join("i", "Iva", Role.INTERPRETER), 1)) == ["ParticipantJoined"]


def test_unlocking_admits_everyone_waiting() -> None:
    room = make_room(locked=True)
    room.handle(r.Join("c", "C", Role.TRAINEE), 1)
    room.handle(r.Join("d", "D", Role.TRAINEE), 1)
    events = room.handle(r.LockRoom("t", False), 2)
    assert names(events).count("ParticipantJoined") == 2 and not room.lobby


def test_denied_participants_leave_the_lobby() -> None:
    room = make_room(locked=True)
    room.handle(r.Join("c", "C", Role.TRAINEE), 1)
    left, banned = room.handle(r.Deny("t", "c"), 2)
    assert isinstance(left, r.ParticipantLeft) and left.reason == "denied" and not room.lobby
    assert isinstance(banned, r.BanChanged) and banned.banned and banned.to == ("t",)


def test_a_reconnect_within_grace_keeps_hand_and_pin() -> None:
    room = make_room()
    room.handle(r.RaiseHand("a", True), 1)
    room.handle(r.Pin("t", "a"), 1)
    room.handle(r.Disconnect("a"), 2)
    assert room.handle(r.ExpireDisconnected(), 2 + r.RECONNECT_GRACE_S - 1) == []
    (joined,) = room.handle(r.Join("a", "Ana", Role.TRAINEE), 20)
    assert isinstance(joined, r.ParticipantJoined) and joined.rejoined
    assert room.participants["a"].hand_raised and room.pinned == "a"


def test_past_the_grace_the_participant_has_left_and_is_unpinned() -> None:
    room = make_room()
    room.handle(r.Pin("t", "a"), 1)
    room.handle(r.Disconnect("a"), 2)
    events = room.handle(r.ExpireDisconnected(), 2 + r.RECONNECT_GRACE_S)
    assert names(events) == ["ParticipantLeft", "PinChanged"]
    assert events[0].reason == "timeout" and room.pinned is None  # type: ignore[attr-defined]


def test_screen_share_needs_permission_for_trainees_and_is_exclusive() -> None:
    room = make_room()
    room.handle(r.ShareScreen("t", True), 1)
    room.handle(r.AllowScreenShare("t", True), 2)
    events = room.handle(r.ShareScreen("a", True), 3)
    assert [(e.id, e.sharing) for e in events] == [("t", False), ("a", True)]  # type: ignore[attr-defined]
    events = room.handle(r.AllowScreenShare("t", False), 4)
    assert names(events) == ["ScreenSharePermissionChanged", "ScreenShareChanged"]
    assert not room.participants["a"].screen_sharing


def test_mute_all_spares_the_trainer() -> None:
    room = make_room()
    room.handle(r.Mute("t", None), 1)
    assert [p.audio_muted for p in room.participants.values()] == [False, True, True]


def test_session_lifecycle() -> None:
    room = make_room()
    (started,) = room.handle(r.StartSession("t", None, "m01-governance"), 100)
    assert started.session["state"] == "live" and started.session["title"] == "demo"  # type: ignore[attr-defined]
    with pytest.raises(InvalidCommand):
        room.handle(r.StartSession("t"), 101)
    (ended,) = room.handle(r.EndSession("t"), 160)
    assert ended.session["state"] == "ended"  # type: ignore[attr-defined]
    assert room.session is not None and room.session.duration(999) == 60
