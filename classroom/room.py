"""A live room: who is in it or waiting in the lobby, hands, mutes, pins and chat.

The room is a sans-I/O state machine: ``handle(command, now)`` applies one command
and returns the events it caused, each with its audience. The caller delivers them.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from classroom.errors import Forbidden, InvalidCommand, NotFound
from classroom.permissions import Action, Role, can, require
from classroom.session import Session, SessionState

#: Seconds a dropped participant keeps their place (hand, view) before they have left.
RECONNECT_GRACE_S = 30.0
CHAT_MAX_CHARS = 2000
#: Defaults of the settings ``room_max_participants`` and ``lobby_max_knocks``.
MAX_PARTICIPANTS = 300
LOBBY_MAX_KNOCKS = 5


@dataclasses.dataclass
class Participant:
    id: str  # the token's sub: stable across reconnects
    name: str
    role: Role
    lang: str | None
    joined_at: float
    connected: bool = True
    disconnected_at: float | None = None
    hand_raised: bool = False
    audio_muted: bool = False  # muted by a moderator (until a moderator unmutes)
    self_muted: bool = False  # their own microphone is off, as their page reports it
    screen_sharing: bool = False
    device: str | None = None  # a companion phone's room device (the one it paired with)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "role": self.role.value,
            "lang": self.lang,
            "connected": self.connected,
            "hand_raised": self.hand_raised,
            "audio_muted": self.audio_muted,
            "self_muted": self.self_muted,
            "screen_sharing": self.screen_sharing,
        }
        if self.device is not None:
            data["device"] = self.device
        return data


# --- commands (imperative) --------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Join:
    id: str
    name: str
    role: Role
    lang: str | None = None
    device: str | None = None  # a companion phone's room device


@dataclasses.dataclass(frozen=True)
class Disconnect:
    """The participant's connection dropped; they keep their place for the grace period."""

    id: str


@dataclasses.dataclass(frozen=True)
class Leave:
    id: str


@dataclasses.dataclass(frozen=True)
class ExpireDisconnected:
    """Time passed: whoever has been gone longer than the grace period has left."""


@dataclasses.dataclass(frozen=True)
class Admit:
    actor: str
    target: str


@dataclasses.dataclass(frozen=True)
class Deny:
    actor: str
    target: str


@dataclasses.dataclass(frozen=True)
class LockRoom:
    actor: str
    locked: bool


@dataclasses.dataclass(frozen=True)
class RaiseHand:
    actor: str
    raised: bool
    target: str | None = None  # a moderator may lower someone else's hand


@dataclasses.dataclass(frozen=True)
class Mute:
    actor: str
    target: str | None  # None: everyone but the actor
    muted: bool = True


@dataclasses.dataclass(frozen=True)
class SetMicrophone:
    """A participant's page reports their microphone's real state (on or off)."""

    actor: str
    on: bool


@dataclasses.dataclass(frozen=True)
class DeclineUnmute:
    """A participant asked to unmute keeps their microphone off."""

    actor: str


@dataclasses.dataclass(frozen=True)
class Remove:
    actor: str
    target: str


@dataclasses.dataclass(frozen=True)
class LiftBan:
    """A trainer lets a removed or refused person come back."""

    actor: str
    target: str


@dataclasses.dataclass(frozen=True)
class Pin:
    actor: str
    target: str | None  # None: unpin


@dataclasses.dataclass(frozen=True)
class AllowScreenShare:
    actor: str
    allowed: bool


@dataclasses.dataclass(frozen=True)
class ShareScreen:
    actor: str
    sharing: bool


@dataclasses.dataclass(frozen=True)
class SendChat:
    actor: str
    text: str


@dataclasses.dataclass(frozen=True)
class StartSession:
    actor: str
    title: str | None = None
    module_id: str | None = None


@dataclasses.dataclass(frozen=True)
class EndSession:
    actor: str


Command = (
    Join
    | Disconnect
    | Leave
    | ExpireDisconnected
    | Admit
    | Deny
    | LockRoom
    | RaiseHand
    | Mute
    | SetMicrophone
    | DeclineUnmute
    | Remove
    | LiftBan
    | Pin
    | AllowScreenShare
    | ShareScreen
    | SendChat
    | StartSession
    | EndSession
)


# --- events (past tense) ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Event:
    """Something that happened; ``to`` is None for everyone present, else participant ids."""

    to: tuple[str, ...] | None


@dataclasses.dataclass(frozen=True)
class ParticipantJoined(Event):
    participant: dict[str, Any]
    rejoined: bool = False


@dataclasses.dataclass(frozen=True)
class ParticipantDisconnected(Event):
    id: str


@dataclasses.dataclass(frozen=True)
class ParticipantLeft(Event):
    id: str
    reason: str  # "left", "timeout", "removed", "denied"


@dataclasses.dataclass(frozen=True)
class LobbyEntered(Event):
    participant: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Admitted(Event):
    id: str


@dataclasses.dataclass(frozen=True)
class RoomLocked(Event):
    locked: bool


@dataclasses.dataclass(frozen=True)
class HandChanged(Event):
    id: str
    raised: bool


@dataclasses.dataclass(frozen=True)
class MuteChanged(Event):
    id: str
    muted: bool
    by: str


@dataclasses.dataclass(frozen=True)
class MicrophoneChanged(Event):
    id: str
    self_muted: bool


@dataclasses.dataclass(frozen=True)
class UnmuteRequested(Event):
    """To the participant: a trainer unmuted them. ``direct``: turn the microphone on now
    (an unattended room device); else ask the person, who decides."""

    id: str
    by: str
    direct: bool


@dataclasses.dataclass(frozen=True)
class UnmuteDeclined(Event):
    id: str


@dataclasses.dataclass(frozen=True)
class Removed(Event):
    id: str
    by: str


@dataclasses.dataclass(frozen=True)
class BanChanged(Event):
    """To trainers: someone removed or refused (``banned``) may not come back for the
    session, or may again (``banned`` false: the ban is lifted)."""

    id: str
    name: str
    banned: bool


@dataclasses.dataclass(frozen=True)
class PinChanged(Event):
    id: str | None


@dataclasses.dataclass(frozen=True)
class ScreenSharePermissionChanged(Event):
    allowed: bool


@dataclasses.dataclass(frozen=True)
class ScreenShareChanged(Event):
    id: str
    sharing: bool


@dataclasses.dataclass(frozen=True)
class ChatPosted(Event):
    id: str
    sender: str
    name: str
    text: str
    at: float


@dataclasses.dataclass(frozen=True)
class SessionChanged(Event):
    session: dict[str, Any]


def changes_forwarding(events: list[Event]) -> bool:
    """Whether any of these events may change who receives which media (the rule, and
    which decisions they change, is ``classroom.forwarding.room_scope``)."""
    from classroom import forwarding  # it imports this module

    return bool(forwarding.room_scope(events))


class Room:
    """The state of one room; mutate it only through ``handle``. Other state machines
    read its membership through ``classroom.roster.Roster``, which it satisfies."""

    def __init__(
        self,
        name: str,
        max_participants: int = MAX_PARTICIPANTS,
        lobby_max_knocks: int = LOBBY_MAX_KNOCKS,
    ) -> None:
        self.name = name
        self.max_participants = max_participants
        self.lobby_max_knocks = lobby_max_knocks
        self.participants: dict[str, Participant] = {}
        self.lobby: dict[str, Participant] = {}
        # Removed or refused at the lobby, for the room's session: id -> name. Only a
        # trainer lets them back (LiftBan).
        self.banned: dict[str, str] = {}
        self.knocks: dict[str, int] = {}  # times each id has entered the lobby
        self.locked = False
        self.pinned: str | None = None
        self.screen_share_allowed = False
        self.session: Session | None = None

    # -- queries --

    def present(self) -> list[Participant]:
        return [p for p in self.participants.values() if p.connected]

    def present_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.present())

    def moderator_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.present() if can(p.role, Action.MODERATE))

    def snapshot(self, moderator: bool = False) -> dict[str, Any]:
        """Everything a newly joined participant needs to draw the room; a moderator also
        sees who is banned."""
        snapshot = {
            "room": self.name,
            "participants": [p.to_json() for p in self.participants.values()],
            "lobby": [p.to_json() for p in self.lobby.values()],
            "locked": self.locked,
            "pinned": self.pinned,
            "screen_share_allowed": self.screen_share_allowed,
            "session": self.session.to_json() if self.session else None,
        }
        if moderator:
            snapshot["banned"] = [{"id": i, "name": n} for i, n in self.banned.items()]
        return snapshot

    def lobby_snapshot(self, pid: str) -> dict[str, Any]:
        """What someone waiting in the lobby may see: only that they are waiting."""
        return {
            "room": self.name,
            "participants": [],
            "lobby": [self.lobby[pid].to_json()],
            "locked": self.locked,
            "pinned": None,
            "screen_share_allowed": False,
            "session": None,
        }

    def find(self, pid: str) -> Participant | None:
        """The participant ``pid`` (admitted; connected or within the grace), else None:
        with ``present``, what makes the room a ``classroom.roster.Roster``."""
        return self.participants.get(pid)

    def member(self, pid: str) -> Participant:
        participant = self.participants.get(pid)
        if participant is None:
            raise NotFound(f"{pid!r} is not in room {self.name}")
        return participant

    def _actor(self, pid: str, action: Action) -> Participant:
        participant = self.member(pid)
        require(participant.role, action)
        return participant

    # -- the one entry point --

    def handle(self, command: Command, now: float) -> list[Event]:
        """Apply one command at time ``now`` and return the events it caused.

        Raises a ClassroomError (Forbidden, NotFound, InvalidCommand) and changes
        nothing when the command is not allowed.
        """
        method = getattr(self, "_on_" + type(command).__name__, None)
        if method is None:
            raise InvalidCommand(f"room does not handle {type(command).__name__}")
        events: list[Event] = method(command, now)
        return events

    # -- handlers --

    def _on_Join(self, cmd: Join, now: float) -> list[Event]:
        require(cmd.role, Action.JOIN)
        existing = self.participants.get(cmd.id)
        if existing is not None:
            existing.connected, existing.disconnected_at = True, None
            existing.name = cmd.name
            return [ParticipantJoined(None, existing.to_json(), rejoined=True)]
        moderator = can(cmd.role, Action.MODERATE)
        if cmd.id in self.banned and not moderator:
            raise Forbidden("the trainer has removed you from this room")
        if not moderator and len(self.participants) + len(self.lobby) >= self.max_participants:
            raise InvalidCommand(f"the room is full ({self.max_participants} participants)")
        newcomer = Participant(cmd.id, cmd.name, cmd.role, cmd.lang, now, device=cmd.device)
        if self.locked and not can(cmd.role, Action.BYPASS_LOBBY):
            if self.knocks.get(cmd.id, 0) >= self.lobby_max_knocks:
                raise Forbidden("you have asked to come in too often; ask the trainer")
            self.knocks[cmd.id] = self.knocks.get(cmd.id, 0) + 1
            self.lobby[cmd.id] = newcomer
            return [LobbyEntered((*self.moderator_ids(), cmd.id), newcomer.to_json())]
        self.lobby.pop(cmd.id, None)
        self.participants[cmd.id] = newcomer
        return [ParticipantJoined(None, newcomer.to_json())]

    def _on_Disconnect(self, cmd: Disconnect, now: float) -> list[Event]:
        if self.lobby.pop(cmd.id, None) is not None:
            return [ParticipantLeft(self.moderator_ids(), cmd.id, "left")]
        participant = self.member(cmd.id)
        if not participant.connected:
            return []
        participant.connected, participant.disconnected_at = False, now
        events: list[Event] = [ParticipantDisconnected(None, cmd.id)]
        if participant.screen_sharing:
            participant.screen_sharing = False
            events.append(ScreenShareChanged(None, cmd.id, False))
        return events

    def _on_Leave(self, cmd: Leave, now: float) -> list[Event]:
        if self.lobby.pop(cmd.id, None) is not None:
            return [ParticipantLeft(self.moderator_ids(), cmd.id, "left")]
        self.member(cmd.id)
        return self._drop(cmd.id, "left")

    def _on_ExpireDisconnected(self, cmd: ExpireDisconnected, now: float) -> list[Event]:
        gone = [
            p.id
            for p in self.participants.values()
            if not p.connected
            and p.disconnected_at is not None
            and now - p.disconnected_at >= RECONNECT_GRACE_S
        ]
        events: list[Event] = []
        for pid in gone:
            events += self._drop(pid, "timeout")
        return events

    def _drop(self, pid: str, reason: str) -> list[Event]:
        del self.participants[pid]
        events: list[Event] = [ParticipantLeft(None, pid, reason)]
        if self.pinned == pid:
            self.pinned = None
            events.append(PinChanged(None, None))
        return events

    def _on_Admit(self, cmd: Admit, now: float) -> list[Event]:
        self._actor(cmd.actor, Action.MODERATE)
        waiting = self.lobby.pop(cmd.target, None)
        if waiting is None:
            raise NotFound(f"{cmd.target!r} is not waiting in the lobby")
        waiting.joined_at = now
        self.participants[cmd.target] = waiting
        return [Admitted((cmd.target,), cmd.target), ParticipantJoined(None, waiting.to_json())]

    def _on_Deny(self, cmd: Deny, now: float) -> list[Event]:
        self._actor(cmd.actor, Action.MODERATE)
        refused = self.lobby.pop(cmd.target, None)
        if refused is None:
            raise NotFound(f"{cmd.target!r} is not waiting in the lobby")
        self.banned[cmd.target] = refused.name
        return [
            ParticipantLeft((*self.moderator_ids(), cmd.target), cmd.target, "denied"),
            BanChanged(self.moderator_ids(), cmd.target, refused.name, True),
        ]

    def _on_LockRoom(self, cmd: LockRoom, now: float) -> list[Event]:
        self._actor(cmd.actor, Action.MODERATE)
        if self.locked == cmd.locked:
            return []
        self.locked = cmd.locked
        events: list[Event] = [RoomLocked(None, cmd.locked)]
        if not cmd.locked:  # unlocking lets everyone waiting in
            for pid in list(self.lobby):
                events += self._on_Admit(Admit(cmd.actor, pid), now)
        return events

    def _on_RaiseHand(self, cmd: RaiseHand, now: float) -> list[Event]:
        target = cmd.target or cmd.actor
        if target != cmd.actor:
            if cmd.raised:
                raise Forbidden("only the participant may raise their own hand")
            self._actor(cmd.actor, Action.MODERATE)
        else:
            self._actor(cmd.actor, Action.RAISE_HAND)
        participant = self.member(target)
        if participant.hand_raised == cmd.raised:
            return []
        participant.hand_raised = cmd.raised
        return [HandChanged(None, target, cmd.raised)]

    def _on_Mute(self, cmd: Mute, now: float) -> list[Event]:
        self._actor(cmd.actor, Action.MODERATE)
        if cmd.target is None:
            targets = [p for p in self.participants.values() if p.id != cmd.actor]
        else:
            targets = [self.member(cmd.target)]
        events: list[Event] = []
        for participant in targets:
            if participant.audio_muted != cmd.muted:
                participant.audio_muted = cmd.muted
                events.append(MuteChanged(None, participant.id, cmd.muted, cmd.actor))
            if not cmd.muted and participant.self_muted and participant.id != cmd.actor:
                # Only the participant's page turns a microphone on: a room device at once,
                # a person when they accept. Their report (SetMicrophone) is the truth.
                direct = can(participant.role, Action.REMOTE_UNMUTE)
                request = UnmuteRequested((participant.id,), participant.id, cmd.actor, direct)
                events.append(request)
        return events

    def _on_SetMicrophone(self, cmd: SetMicrophone, now: float) -> list[Event]:
        participant = self._actor(cmd.actor, Action.PUBLISH_MEDIA)
        if cmd.on and participant.audio_muted:
            raise Forbidden("a trainer has muted your microphone")
        if participant.self_muted == (not cmd.on):
            return []
        participant.self_muted = not cmd.on
        return [MicrophoneChanged(None, participant.id, participant.self_muted)]

    def _on_DeclineUnmute(self, cmd: DeclineUnmute, now: float) -> list[Event]:
        participant = self._actor(cmd.actor, Action.PUBLISH_MEDIA)
        return [UnmuteDeclined(self.moderator_ids(), participant.id)]

    def _on_Remove(self, cmd: Remove, now: float) -> list[Event]:
        self._actor(cmd.actor, Action.MODERATE)
        if cmd.target == cmd.actor:
            raise InvalidCommand("use leave to leave the room")
        target = self.member(cmd.target)
        self.banned[cmd.target] = target.name
        return [
            Removed((cmd.target,), cmd.target, cmd.actor),
            *self._drop(cmd.target, "removed"),
            BanChanged(self.moderator_ids(), cmd.target, target.name, True),
        ]

    def _on_LiftBan(self, cmd: LiftBan, now: float) -> list[Event]:
        self._actor(cmd.actor, Action.MODERATE)
        name = self.banned.pop(cmd.target, None)
        if name is None:
            raise NotFound(f"{cmd.target!r} is not banned from this room")
        self.knocks.pop(cmd.target, None)
        return [BanChanged(self.moderator_ids(), cmd.target, name, False)]

    def _on_Pin(self, cmd: Pin, now: float) -> list[Event]:
        self._actor(cmd.actor, Action.MODERATE)
        if cmd.target is not None:
            self.member(cmd.target)
        if self.pinned == cmd.target:
            return []
        self.pinned = cmd.target
        return [PinChanged(None, cmd.target)]

    def _on_AllowScreenShare(self, cmd: AllowScreenShare, now: float) -> list[Event]:
        self._actor(cmd.actor, Action.MODERATE)
        if self.screen_share_allowed == cmd.allowed:
            return []
        self.screen_share_allowed = cmd.allowed
        events: list[Event] = [ScreenSharePermissionChanged(None, cmd.allowed)]
        if not cmd.allowed:  # withdrawing permission stops shares that relied on it
            for p in self.participants.values():
                if p.screen_sharing and not can(p.role, Action.SHARE_SCREEN):
                    p.screen_sharing = False
                    events.append(ScreenShareChanged(None, p.id, False))
        return events

    def _on_ShareScreen(self, cmd: ShareScreen, now: float) -> list[Event]:
        participant = self.member(cmd.actor)
        if cmd.sharing and not can(participant.role, Action.SHARE_SCREEN):
            require(participant.role, Action.REQUEST_SCREEN_SHARE)
            if not self.screen_share_allowed:
                raise Forbidden("the trainer has not allowed screen sharing")
        if participant.screen_sharing == cmd.sharing:
            return []
        events: list[Event] = []
        if cmd.sharing:  # one share at a time: a new one replaces the old
            for other in self.participants.values():
                if other.screen_sharing:
                    other.screen_sharing = False
                    events.append(ScreenShareChanged(None, other.id, False))
        participant.screen_sharing = cmd.sharing
        events.append(ScreenShareChanged(None, cmd.actor, cmd.sharing))
        return events

    def _on_SendChat(self, cmd: SendChat, now: float) -> list[Event]:
        sender = self._actor(cmd.actor, Action.CHAT)
        text = cmd.text.strip()
        if not text:
            raise InvalidCommand("chat message is empty")
        if len(text) > CHAT_MAX_CHARS:
            raise InvalidCommand(f"chat message is longer than {CHAT_MAX_CHARS} characters")
        return [ChatPosted(None, uuid.uuid4().hex, sender.id, sender.name, text, now)]

    def _on_StartSession(self, cmd: StartSession, now: float) -> list[Event]:
        self._actor(cmd.actor, Action.MODERATE)
        if self.session is not None and self.session.state is SessionState.LIVE:
            raise InvalidCommand("a session is already live in this room")
        self.session = Session(
            id=uuid.uuid4().hex,
            room=self.name,
            title=cmd.title or self.name,
            module_id=cmd.module_id,
        )
        self.session.start(now)
        return [SessionChanged(None, self.session.to_json())]

    def _on_EndSession(self, cmd: EndSession, now: float) -> list[Event]:
        self._actor(cmd.actor, Action.MODERATE)
        if self.session is None:
            raise InvalidCommand("no session is live in this room")
        self.session.end(now)
        return [SessionChanged(None, self.session.to_json())]
