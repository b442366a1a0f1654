"""What a live room keeps while it records: the recording switch, the capture and its tap.

The ``Recordings`` service (``web.recording_handlers`` today) makes one ``RoomRecording``
per room on first use and keeps it in ``LiveRoom.recording``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from classroom.recording import RecordingState
from recordings.capture import Capture

if TYPE_CHECKING:
    from live.hub import LiveRoom
    from media.tap import Tap


class RoomRecording:
    """A room's recording switch and, while it is on, the recorder and its tap."""

    def __init__(self) -> None:
        self.state = RecordingState()
        self.capture: Capture | None = None
        self.tap: Tap | None = None
        self.recording_id: str | None = None
        self.stopping: asyncio.Task[Any] | None = None

    @property
    def idle(self) -> bool:
        """The hub keeps the room while this records."""
        return not self.state.recording


def of(live: LiveRoom) -> RoomRecording:
    """The room's recording part, made on first use."""
    if live.recording is None:
        live.recording = RoomRecording()
    return live.recording


def describe(live: LiveRoom, pid: str) -> tuple[str, str | None, str | None]:
    """How the room knows someone: name, role, and language (an interpreter's: their channel)."""
    participant = live.core.participants.get(pid)
    if participant is None:
        return "", None, None
    lang = participant.lang
    if live.interpretation is not None:
        interpreter = live.interpretation.interpreters.get(pid)
        if interpreter is not None:
            lang = interpreter.channel
    return participant.name, participant.role.value, lang
