"""A training session's life: scheduled, then live, then ended."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from classroom.errors import InvalidCommand


class SessionState(enum.StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


@dataclasses.dataclass
class Session:
    """One sitting of a room, optionally for a catalogue module; times are epoch seconds."""

    id: str
    room: str
    title: str
    module_id: str | None = None
    scheduled_start: float | None = None
    state: SessionState = SessionState.SCHEDULED
    started_at: float | None = None
    ended_at: float | None = None
    end_reason: str | None = None  # None: ended by a trainer; "server_stopped": by a crash

    def start(self, now: float) -> None:
        if self.state is not SessionState.SCHEDULED:
            raise InvalidCommand(f"session {self.id} is {self.state}, it cannot start")
        self.state, self.started_at = SessionState.LIVE, now

    def end(self, now: float, reason: str | None = None) -> None:
        """End it at ``now`` (never before it started: a crash's last sign of life may be)."""
        if self.state is not SessionState.LIVE or self.started_at is None:
            raise InvalidCommand(f"session {self.id} is {self.state}, it cannot end")
        self.state, self.ended_at = SessionState.ENDED, max(now, self.started_at)
        self.end_reason = reason

    def duration(self, now: float) -> float:
        """Seconds live so far (or in all, once ended)."""
        if self.started_at is None:
            return 0.0
        return (self.ended_at if self.ended_at is not None else now) - self.started_at

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["state"] = self.state.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Session:
        return cls(**{**data, "state": SessionState(data["state"])})
