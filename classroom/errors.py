"""Typed errors raised by the domain core; the web layer maps each code to a reply."""

from __future__ import annotations


class ClassroomError(Exception):
    """Base of every domain error: a stable machine-readable code and a message for people."""

    code = "invalid"
    #: A finer code some errors carry for pages to say it in the person's language
    #: (a refused token's, a pairing code's); None when the code says enough.
    reason: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Forbidden(ClassroomError):
    """The role of the caller is not granted the action (deny by default)."""

    code = "forbidden"


class NotFound(ClassroomError):
    """The command names something (participant, poll, channel...) that does not exist."""

    code = "not_found"


class InvalidCommand(ClassroomError):
    """The command is well-formed but not allowed in the current state."""

    code = "invalid_state"


class InvalidValue(ClassroomError):
    """A value in the command is unacceptable (unknown option, text too long, bad setting)."""

    code = "invalid"


class TokenError(ClassroomError):
    """A join token was refused; the message says why, and ``reason`` says it as a code
    that pages translate: ``expired``, ``not_yet_valid``, ``wrong_room``, ``withdrawn``
    or ``invalid`` (anything else wrong with the token: signature, form, claims)."""

    code = "unauthorized"
    REASONS = ("expired", "not_yet_valid", "wrong_room", "withdrawn", "invalid")

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        if reason not in self.REASONS:
            raise ValueError(f"unknown refusal reason {reason!r}")
        self.reason = reason


class StoreUnavailable(ClassroomError):
    """The store (Redis, the SQLite file) cannot be read or written now: unreachable,
    paused past the time allowed, refusing writes. Nothing was stored; the class goes on
    and the person may try again shortly (websocket ``error``, HTTP 503 with Retry-After)."""

    code = "store_unavailable"
    #: What the HTTP reply's Retry-After says: about how long a reconnect takes.
    retry_after_s = 5

    def __init__(
        self, message: str = "storage is not reachable right now: nothing was saved, try again"
    ) -> None:
        super().__init__(message)


class InsufficientStorage(ClassroomError):
    """There is not enough room on the disk for what was asked (a recording, say)."""

    code = "insufficient_storage"
