"""Removals that stick, lobby knocks, the room's size and empty recordings (issue 14)."""

from __future__ import annotations

import pytest

from classroom import room as r
from classroom.errors import ClassroomError, Forbidden, InvalidCommand, NotFound
from classroom.permissions import Role
from classroom.recording import InterruptRecording, RecordingState, StartRecording

T, A = r.Join("t", "Tea", Role.TRAINER), r.Join("a", "Ana", Role.TRAINEE)

# Each case: the commands, then the last one's outcome (event names or the error class).
CASES = [
    ("removed stays out", [T, A, r.Remove("t", "a"), A], Forbidden),
    ("lifted comes back", [T, A, r.Remove("t", "a"), r.LiftBan("t", "a"), A],
     ["ParticipantJoined"]),
    ("lift tells trainers", [T, A, r.Remove("t", "a"), r.LiftBan("t", "a")], ["BanChanged"]),
    ("lift only a ban", [T, A, r.LiftBan("t", "a")], NotFound),
    ("trainees lift nothing", [T, A, r.Remove("t", "a"), r.Join("b", "B", Role.TRAINEE),
                               r.LiftBan("b", "a")], Forbidden),
    ("denied stays out", [T, r.LockRoom("t", True), A, r.Deny("t", "a"), A], Forbidden),
    ("denied, lifted, knocks", [T, r.LockRoom("t", True), A, r.Deny("t", "a"),
                                r.LiftBan("t", "a"), A], ["LobbyEntered"]),
    ("knocks are limited", [T, r.LockRoom("t", True)] + [A, r.Disconnect("a")] * 2 + [A],
     Forbidden),
    ("full room", [T, A, r.Join("b", "B", Role.TRAINEE)], InvalidCommand),
    ("full lobby counts", [T, r.LockRoom("t", True), A, r.Join("b", "B", Role.TRAINEE)],
     InvalidCommand),
    ("a trainer still enters", [T, A, r.Join("t2", "Tom", Role.TRAINER)], ["ParticipantJoined"]),
    ("a reconnect still enters", [T, A, r.Disconnect("a"), A], ["ParticipantJoined"]),
]  # fmt: skip


@pytest.mark.parametrize(("commands", "outcome"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_removals_knocks_and_size(
    commands: list[r.Command], outcome: list[str] | type[ClassroomError]
) -> None:
    room = r.Room("demo", max_participants=2, lobby_max_knocks=2)
    for command in commands[:-1]:
        room.handle(command, 0)
    if isinstance(outcome, list):
        assert [type(e).__name__ for e in room.handle(commands[-1], 1)] == outcome
    else:
        before = room.snapshot(moderator=True)
        with pytest.raises(outcome):
            room.handle(commands[-1], 1)
        assert room.snapshot(moderator=True) == before


def test_only_moderators_see_who_is_banned() -> None:
    room = r.Room("demo")
    for command in (T, A, r.Remove("t", "a")):
        room.handle(command, 0)
    assert room.snapshot(moderator=True)["banned"] == [{"id": "a", "name": "Ana"}]
    assert "banned" not in room.snapshot()


# A recording and who publishes over time: (publishing now, at) -> seconds with nobody.
EMPTY_CASES = [
    ("someone publishes", [(True, 0), (True, 500)], 0.0),
    ("nobody since 10", [(True, 0), (False, 10), (False, 70)], 60.0),
    ("back before the end", [(False, 10), (True, 40), (False, 50), (False, 60)], 10.0),
]


@pytest.mark.parametrize(
    ("observed", "empty"), [c[1:] for c in EMPTY_CASES], ids=[c[0] for c in EMPTY_CASES]
)
def test_how_long_a_recording_has_had_nobody_publishing(
    observed: list[tuple[bool, float]], empty: float
) -> None:
    state = RecordingState()
    state.handle(StartRecording("Tea", Role.TRAINER, "r1", "Talk"), 0)
    results = [state.empty_for(publishing, at) for publishing, at in observed]
    assert results[-1] == empty
    state.handle(InterruptRecording("empty_room"), 80)
    assert state.empty_for(False, 100) == 0.0  # nothing recorded: never empty
