"""Whether a room is being recorded: trainers start and stop it; the recorder may have to stop.

A sans-I/O state machine like the room: ``handle(command, now)`` returns the events
(everyone in the room is told when recording starts and stops) or raises a
ClassroomError and changes nothing. Writing the recording is the outer layers' work.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from classroom.errors import InvalidCommand
from classroom.permissions import Action, Role, require
from classroom.room import Event

#: Why a recording stopped.
STOP_REASONS = frozenset(
    {
        "stopped",  # a trainer stopped it
        "session_ended",  # the live session ended
        "disk_full",  # the recordings disk ran low
        "write_error",  # the recorder could not write
        "shutdown",  # the server is shutting down
        "empty_room",  # nobody published for the set time (everyone had left)
    }
)


# --- commands (imperative) --------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StartRecording:
    actor: str  # the name of who starts it (they need not be connected to the room)
    role: Role
    recording_id: str
    title: str


@dataclasses.dataclass(frozen=True)
class StopRecording:
    actor: str
    role: Role


@dataclasses.dataclass(frozen=True)
class InterruptRecording:
    """The recording must end without a trainer asking (disk full, session over, shutdown)."""

    reason: str


Command = StartRecording | StopRecording | InterruptRecording


# --- events (past tense) ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RecordingStarted(Event):
    id: str
    title: str
    by: str
    at: float


@dataclasses.dataclass(frozen=True)
class RecordingStopped(Event):
    id: str
    by: str | None  # None when it was not a trainer's doing
    at: float
    reason: str


@dataclasses.dataclass
class Current:
    id: str
    title: str
    by: str
    started_at: float


class RecordingState:
    """One room's recording switch; mutate it only through ``handle``."""

    def __init__(self) -> None:
        self.current: Current | None = None
        self.empty_since: float | None = None  # since when nobody publishes, while recording

    @property
    def recording(self) -> bool:
        return self.current is not None

    def handle(self, command: Command, now: float) -> list[Event]:
        if isinstance(command, StartRecording):
            require(command.role, Action.RECORD)
            if self.current is not None:
                raise InvalidCommand(f"the room is already being recorded ({self.current.id})")
            self.current = Current(command.recording_id, command.title, command.actor, now)
            return [RecordingStarted(None, command.recording_id, command.title, command.actor, now)]
        if isinstance(command, StopRecording):
            require(command.role, Action.RECORD)
            return self._stop(command.actor, "stopped", now)
        if command.reason not in STOP_REASONS or command.reason == "stopped":
            raise InvalidCommand(f"unknown reason to interrupt a recording: {command.reason!r}")
        return self._stop(None, command.reason, now)

    def empty_for(self, publishing: bool, now: float) -> float:
        """Seconds the recording has gone with nobody publishing, as of ``now`` (told
        whether anyone publishes now); 0 when someone does or nothing is recorded."""
        if self.current is None or publishing:
            self.empty_since = None
            return 0.0
        if self.empty_since is None:
            self.empty_since = now
        return now - self.empty_since

    def _stop(self, by: str | None, reason: str, now: float) -> list[Event]:
        if self.current is None:
            raise InvalidCommand("the room is not being recorded")
        stopped, self.current, self.empty_since = self.current, None, None
        return [RecordingStopped(None, stopped.id, by, now, reason)]

    def snapshot(self) -> dict[str, Any] | None:
        """What a newcomer needs to know: the recording under way, if any."""
        return dataclasses.asdict(self.current) if self.current else None
