"""The recording switch of a room: who may start and stop it, and illegal transitions."""

from __future__ import annotations

import pytest

from classroom.errors import Forbidden, InvalidCommand
from classroom.permissions import Role
from classroom.recording import (
    InterruptRecording,
    RecordingStarted,
    RecordingState,
    RecordingStopped,
    StartRecording,
    StopRecording,
)


def start(state: RecordingState, role: Role = Role.TRAINER, rid: str = "r1") -> list[object]:
    return list(state.handle(StartRecording("Tea", role, rid, "Borders"), 10.0))


def test_a_trainer_starts_and_stops_and_everyone_is_told() -> None:
    state = RecordingState()
    assert start(state) == [RecordingStarted(None, "r1", "Borders", "Tea", 10.0)]
    assert state.recording and state.snapshot() == {
        "id": "r1",
        "title": "Borders",
        "by": "Tea",
        "started_at": 10.0,
    }
    events = state.handle(StopRecording("Tea", Role.TRAINER), 70.0)
    assert events == [RecordingStopped(None, "r1", "Tea", 70.0, "stopped")]
    assert not state.recording and state.snapshot() is None


@pytest.mark.parametrize("role", [Role.TRAINEE, Role.INTERPRETER, Role.ROOM, Role.OBSERVER])
def test_only_trainers_record(role: Role) -> None:
    state = RecordingState()
    with pytest.raises(Forbidden, match="may not record"):
        start(state, role)
    start(state)
    with pytest.raises(Forbidden, match="may not record"):
        state.handle(StopRecording("X", role), 20.0)
    assert state.recording


@pytest.mark.parametrize(
    ("before", "command", "message"),
    [
        (False, StopRecording("Tea", Role.TRAINER), "not being recorded"),
        (False, InterruptRecording("disk_full"), "not being recorded"),
        (True, StartRecording("Tea", Role.TRAINER, "r2", "Again"), "already being recorded"),
        (True, InterruptRecording("boredom"), "unknown reason"),
        (True, InterruptRecording("stopped"), "unknown reason"),  # a trainer's, not a system's
    ],
)
def test_illegal_transitions_raise_and_change_nothing(
    before: bool, command: object, message: str
) -> None:
    state = RecordingState()
    if before:
        start(state)
    snapshot = state.snapshot()
    with pytest.raises(InvalidCommand, match=message):
        state.handle(command, 30.0)  # type: ignore[arg-type]
    assert state.snapshot() == snapshot


@pytest.mark.parametrize("reason", ["disk_full", "write_error", "session_ended", "shutdown"])
def test_the_system_interrupts_with_a_reason(reason: str) -> None:
    state = RecordingState()
    start(state)
    assert state.handle(InterruptRecording(reason), 40.0) == [
        RecordingStopped(None, "r1", None, 40.0, reason)
    ]
