"""Who may publish which source, and which of a participant's sources the room lets through.

Two rules of the room that the media layer applies without knowing them: a participant
publishes only the sources their role and the room's state allow (deny by default), and
a published track reaches others only while the room says so (a microphone a moderator
muted does not; a screen only while its share is accepted). The interpreting rules
(who hears which channel) are ``classroom.interpretation.Interpretation.forwards``.
"""

from __future__ import annotations

from collections.abc import Iterable

from classroom.errors import Forbidden
from classroom.permissions import Action, Role, can, require
from classroom.room import Participant

SOURCES = frozenset({"camera", "microphone", "screen", "interpretation", "booth", "signing"})
INTERPRETING = frozenset({"interpretation", "booth", "signing"})


def check_publish(role: Role | str, participant: Participant, sources: Iterable[str]) -> None:
    """Raise Forbidden unless this participant may publish every one of ``sources`` now."""
    require(role, Action.PUBLISH_MEDIA)
    for source in sorted(set(sources)):
        if source not in SOURCES:
            raise Forbidden(f"there is no source {source!r} to publish")
        if source == "screen" and not participant.screen_sharing:
            if not (can(role, Action.SHARE_SCREEN) or can(role, Action.REQUEST_SCREEN_SHARE)):
                raise Forbidden(f"a {role} may not share their screen")
            raise Forbidden("send share_screen (and have it accepted) before publishing a screen")
        if source in INTERPRETING:
            require(role, Action.INTERPRET)


def room_lets_through(participant: Participant | None, source: str) -> bool:
    """Whether the room forwards this participant's ``source`` to anyone: not once they
    have left, not a microphone a moderator muted, a screen only while it is shared."""
    if participant is None:
        return False
    if source == "microphone" and participant.audio_muted:
        return False
    return source != "screen" or participant.screen_sharing
