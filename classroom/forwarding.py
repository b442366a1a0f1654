"""Which forwarding decisions a batch of events may change: the scope the media router
looks at again, and nothing else (issue 12, "forwarding decisions pushed as deltas").

The media router decides, for every published track and every viewer, whether the track
may reach the viewer (the policies), then which videos each viewer gets (the video
selection). Those decisions read only this state of the core:

- the room (``classroom.publishing.room_lets_through``): whether the publisher is in the
  room (every source), a trainer's mute (their microphone), a shared screen (their
  screen); the pin and shared screens also rank videos;
- interpretation (``Interpretation.forwards``): who is an interpreter (whose microphone
  never reaches the floor), who is on air or about to take a handover (their
  interpretation), who shares a booth (booth talk), and what each listener or
  interpreter hears (the interpretation forwarded to that viewer). The floor is
  forwarded to everyone whatever they listen to: each browser lowers it under its channel.

So a batch of events maps to a ``Scope``: sets of (publisher, source, viewer) pairs,
any of the three possibly "every", plus whether every viewer's videos are chosen again.
A trainer muting X is X's microphone for every viewer; a listener's choice is the
interpretation reaching that viewer; an arrival or a departure is everything X publishes
and everything X views; a pin, a shared screen or a new active speaker choose videos
again from the decisions kept, without asking the policies about voices. Chat, hands,
sessions, polls, quizzes and booth talk map to nothing: they never reach the router.

This module is the one place for the rule (``classroom.room.changes_forwarding`` and
``classroom.channel.changes_forwarding`` ask it); ``tests/classroom/test_forwarding_rules.py``
classifies every event of both modules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from classroom import channel as ch
from classroom import room
from classroom.room import Event

SOURCE_MICROPHONE = ch.SOURCE_MICROPHONE
SOURCE_SCREEN = "screen"
SOURCE_INTERPRETATION = ch.SOURCE_INTERPRETATION
SOURCE_SIGNING = ch.SOURCE_SIGNING
SOURCE_BOOTH = ch.SOURCE_BOOTH


@dataclasses.dataclass(frozen=True)
class Pairs:
    """The (track, viewer) pairs of ``publisher``'s ``source`` and ``viewer``; None is every."""

    publisher: str | None = None
    source: str | None = None
    viewer: str | None = None

    def covers(self, publisher: str, source: str) -> bool:
        """Whether this publisher's source is among these pairs' tracks."""
        return (self.publisher is None or self.publisher == publisher) and (
            self.source is None or self.source == source
        )


EVERY_PAIR = Pairs()


@dataclasses.dataclass(frozen=True)
class Scope:
    """What to look at again: these pairs' decisions, and (``videos``) every viewer's videos.

    A viewer whose decision about a video changed gets its videos chosen again anyway;
    ``videos`` is for what ranks videos without changing a decision (the pin, a new
    active speaker). Falsy when empty: nothing to look at.
    """

    pairs: frozenset[Pairs] = frozenset()
    videos: bool = False

    @property
    def everything(self) -> bool:
        return EVERY_PAIR in self.pairs

    def __bool__(self) -> bool:
        return bool(self.pairs) or self.videos

    def __or__(self, other: Scope) -> Scope:
        if not other:
            return self
        if not self:
            return other
        return Scope(self.pairs | other.pairs, self.videos or other.videos)

    @classmethod
    def of(cls, *pairs: Pairs, videos: bool = False) -> Scope:
        return cls(frozenset(pairs), videos)

    @classmethod
    def publisher(cls, pid: str, source: str | None = None) -> Scope:
        """``pid``'s tracks (one source, or all), for every viewer."""
        return cls.of(Pairs(publisher=pid, source=source))

    @classmethod
    def viewer(cls, pid: str, source: str | None = None) -> Scope:
        """Every track (of one source, or all) for the viewer ``pid``."""
        return cls.of(Pairs(source=source, viewer=pid))

    @classmethod
    def participant(cls, pid: str) -> Scope:
        """Everything ``pid`` publishes and everything ``pid`` views."""
        return cls.of(Pairs(publisher=pid), Pairs(viewer=pid))


NOTHING = Scope()
EVERYTHING = Scope.of(EVERY_PAIR, videos=True)
VIDEOS = Scope(videos=True)


# --- the rule: one function per event type that changes forwarding -------------------


def _joined(event: room.ParticipantJoined) -> Scope:
    return Scope.participant(str(event.participant["id"]))


def _arrived_or_gone(event: room.ParticipantLeft | room.Admitted | room.Removed) -> Scope:
    return Scope.participant(event.id)


def _muted(event: room.MuteChanged) -> Scope:
    return Scope.publisher(event.id, SOURCE_MICROPHONE)


def _pinned(event: room.PinChanged) -> Scope:
    return VIDEOS


def _screen(event: room.ScreenShareChanged) -> Scope:
    return Scope.of(Pairs(publisher=event.id, source=SOURCE_SCREEN), videos=True)


def _on_air(event: ch.OnAirChanged) -> Scope:
    speakers = [pid for pid in (event.id, event.previous) if pid is not None]
    return Scope.of(
        *(
            Pairs(publisher=pid, source=source)
            for pid in speakers
            for source in (SOURCE_INTERPRETATION, SOURCE_SIGNING)
        )
    )


def _booth(event: ch.ChannelChanged) -> Scope:
    """A booth's members, presence, handover offer or relay changed: what each member of
    the booth publishes (interpretation, booth talk, the microphone interpreters never
    send to the floor), and the interpretation and booth talk each member hears."""
    pairs: list[Pairs] = []
    for member in event.channel.get("booth", ()):
        pid = str(member["id"])
        pairs += [
            Pairs(publisher=pid),
            Pairs(source=SOURCE_INTERPRETATION, viewer=pid),
            Pairs(source=SOURCE_SIGNING, viewer=pid),
            Pairs(source=SOURCE_BOOTH, viewer=pid),
        ]
    return Scope.of(*pairs)


def _closed(event: ch.ChannelClosed) -> Scope:
    # Its booth is empty (a channel closes only then); whoever listened to it is told
    # with a ListeningChanged of their own. Rare: every interpretation, to everyone.
    return Scope.of(Pairs(source=SOURCE_INTERPRETATION), Pairs(source=SOURCE_SIGNING))


def _listening(event: ch.ListeningChanged) -> Scope:
    return Scope.of(
        *(
            Pairs(source=source, viewer=pid)
            for pid in event.to or ()
            for source in (SOURCE_INTERPRETATION, SOURCE_SIGNING)
        )
    )


def _quiet(event: Event) -> Scope:
    return NOTHING


Rule = Callable[[Any], Scope]  # takes the event type it is registered for

#: The room's events. Quiet: nothing the router decides reads what they change (a
#: disconnected participant keeps their place and their media until they have left).
ROOM_RULES: dict[type[Event], Rule] = {
    room.ParticipantJoined: _joined,
    room.ParticipantLeft: _arrived_or_gone,
    room.Admitted: _arrived_or_gone,
    room.Removed: _arrived_or_gone,
    room.MuteChanged: _muted,
    room.PinChanged: _pinned,
    room.ScreenShareChanged: _screen,
    room.ParticipantDisconnected: _quiet,
    room.LobbyEntered: _quiet,
    room.RoomLocked: _quiet,
    room.HandChanged: _quiet,
    room.MicrophoneChanged: _quiet,  # the page turns its own microphone off: nothing to stop
    room.UnmuteRequested: _quiet,
    room.UnmuteDeclined: _quiet,
    room.BanChanged: _quiet,
    room.ScreenSharePermissionChanged: _quiet,  # stopped shares come as ScreenShareChanged
    room.ChatPosted: _quiet,
    room.SessionChanged: _quiet,
}

#: The interpretation channels' events. The floor language only labels the floor.
CHANNEL_RULES: dict[type[Event], Rule] = {
    ch.OnAirChanged: _on_air,
    ch.ChannelChanged: _booth,
    ch.ChannelClosed: _closed,
    ch.ListeningChanged: _listening,
    ch.FloorLanguageChanged: _quiet,
    ch.HandoverOffered: _quiet,  # the offer itself comes as a ChannelChanged
    ch.HandoverCancelled: _quiet,
    ch.BoothMessagePosted: _quiet,
    ch.InterpreterSignal: _quiet,
    ch.AudienceChanged: _quiet,
}


def _scope(events: Iterable[Event], rules: dict[type[Event], Rule]) -> Scope:
    result = NOTHING
    for event in events:
        rule = rules.get(type(event))
        if rule is not None:
            result |= rule(event)
    return result


def room_scope(events: Iterable[Event]) -> Scope:
    """What the room's events among these change (other events are ignored)."""
    return _scope(events, ROOM_RULES)


def channel_scope(events: Iterable[Event]) -> Scope:
    """What the interpretation channels' events among these change (others are ignored)."""
    return _scope(events, CHANNEL_RULES)


def scope(events: Iterable[Event]) -> Scope:
    """What any of these events change (the room's and the channels'; others change nothing)."""
    return _scope(events, {**ROOM_RULES, **CHANNEL_RULES})
