"""Roles, actions and the one permission table every handler asks (deny by default)."""

from __future__ import annotations

import enum

from classroom.errors import Forbidden


class Role(enum.StrEnum):
    TRAINER = "trainer"
    TRAINEE = "trainee"
    INTERPRETER = "interpreter"
    ROOM = "room"  # a conference-room device (room PC or kiosk) shared by several trainees
    OBSERVER = "observer"
    COMPANION = "companion"  # a trainee's phone paired with a room device; receives only


#: Roles a join token may carry (companions are derived from a room device's code).
TOKEN_ROLES = frozenset({Role.TRAINER, Role.TRAINEE, Role.INTERPRETER, Role.ROOM, Role.OBSERVER})


class Action(enum.StrEnum):
    JOIN = "join"
    PUBLISH_MEDIA = "publish_media"
    SUBSCRIBE_MEDIA = "subscribe_media"
    SHARE_SCREEN = "share_screen"
    REQUEST_SCREEN_SHARE = "request_screen_share"  # allowed only while the trainer permits it
    CHAT = "chat"
    RAISE_HAND = "raise_hand"
    MODERATE = "moderate"  # mute others, remove, lock, admit, pin, allow screen share
    BYPASS_LOBBY = "bypass_lobby"
    MANAGE_POLLS = "manage_polls"
    ANSWER_POLLS = "answer_polls"
    VIEW_RESULTS = "view_results"
    PAIR_COMPANION = "pair_companion"
    RECORD = "record"
    INTERPRET = "interpret"
    SET_FLOOR_LANGUAGE = "set_floor_language"
    MANAGE_CHANNELS = "manage_channels"  # open and close interpretation channels
    LISTEN_CHANNEL = "listen_channel"
    REPLAY = "replay"
    VIEW_ATTENDANCE = "view_attendance"
    INVITE = "invite"  # mint join links for one's own room
    MANAGE_LIBRARY = "manage_library"  # upload videos, audio and subtitles into the library
    # A moderator's "unmute" turns this participant's microphone on at once: conference-room
    # devices are unattended. Everyone else is asked, and decides (their privacy).
    REMOTE_UNMUTE = "remote_unmute"


_A = Action
PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.TRAINER: frozenset(Action) - {Action.REMOTE_UNMUTE},
    Role.TRAINEE: frozenset(
        {
            _A.JOIN,
            _A.PUBLISH_MEDIA,
            _A.SUBSCRIBE_MEDIA,
            _A.REQUEST_SCREEN_SHARE,
            _A.CHAT,
            _A.RAISE_HAND,
            _A.ANSWER_POLLS,
            _A.LISTEN_CHANNEL,
            _A.REPLAY,
        }
    ),
    Role.INTERPRETER: frozenset(
        {
            _A.JOIN,
            _A.PUBLISH_MEDIA,
            _A.SUBSCRIBE_MEDIA,
            _A.CHAT,
            _A.RAISE_HAND,
            _A.INTERPRET,
            _A.LISTEN_CHANNEL,
            _A.BYPASS_LOBBY,
        }
    ),
    Role.ROOM: frozenset(
        {
            _A.JOIN,
            _A.PUBLISH_MEDIA,
            _A.SUBSCRIBE_MEDIA,
            _A.CHAT,
            _A.RAISE_HAND,
            _A.ANSWER_POLLS,
            _A.PAIR_COMPANION,
            _A.LISTEN_CHANNEL,
            _A.REMOTE_UNMUTE,
        }
    ),
    Role.OBSERVER: frozenset({_A.JOIN, _A.SUBSCRIBE_MEDIA, _A.LISTEN_CHANNEL}),
    # A phone receives the room's voices and shared screens on its own earphones and
    # screen (classroom.companion.phone_receives) and publishes nothing.
    Role.COMPANION: frozenset(
        {_A.JOIN, _A.SUBSCRIBE_MEDIA, _A.CHAT, _A.RAISE_HAND, _A.ANSWER_POLLS, _A.LISTEN_CHANNEL}
    ),
}


def can(role: Role | str, action: Action) -> bool:
    """Whether the role is granted the action; anything not in the table is refused."""
    try:
        return action in PERMISSIONS[Role(role)]
    except ValueError:
        return False


def require(role: Role | str, action: Action) -> None:
    """Raise Forbidden unless the role may take the action."""
    if not can(role, action):
        raise Forbidden(f"a {role} may not {action.value.replace('_', ' ')}")
