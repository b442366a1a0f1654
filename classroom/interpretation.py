"""Interpretation channels: booths, who is on air, handover, relay, floor language, listeners.

A sans-I/O state machine like the room: ``handle(command, now)`` applies one command
and returns the events it caused (each with its audience); a refused command raises
a ClassroomError and changes nothing. The media layer asks ``forwards`` whether a
published audio source may reach a subscriber; it never mixes or decodes audio.

Who is in the room (names, roles, languages, who is connected) it reads from the room's
roster (``classroom.roster``), never from a copy of its own. What it keeps is its own:
channels and booths, who is on air, listener choices, and which interpreters' classroom
pages closed (``Depart``) since they last arrived: their media is gone before the room
hears of it, or while a side page keeps them present in the room.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from classroom.channel import (
    BOOTH_SIGNALS,
    BOOTH_TEXT_MAX_CHARS,
    FLOOR,
    FLOOR_DB_RANGE,
    LANGUAGES,
    ORIGINAL,
    SIGNALS,
    SIGNED,
    SOURCE_BOOTH,
    SOURCE_INTERPRETATION,
    SOURCE_MICROPHONE,
    SOURCE_SIGNING,
    Arrive,
    AudienceChanged,
    BoothMessagePosted,
    CancelHandover,
    Channel,
    ChannelChanged,
    ChannelClosed,
    CloseChannel,
    Command,
    Depart,
    FloorLanguageChanged,
    Forget,
    Handover,
    HandoverCancelled,
    HandoverOffered,
    Interpreter,
    InterpreterSignal,
    LeaveAir,
    Listening,
    ListeningChanged,
    OfferHandover,
    OnAirChanged,
    OpenChannel,
    Segment,
    SelectChannel,
    SendBoothMessage,
    SendSignal,
    SetFloorLanguage,
    SetFloorLevel,
    SetMicrophone,
    SetOutput,
    SetRelay,
    TakeAir,
    known_language,
)
from classroom.errors import Forbidden, InvalidCommand, NotFound
from classroom.permissions import Action, Role, require
from classroom.room import Event
from classroom.roster import NOBODY, Member, Roster, audience


class Interpretation:
    """The channels of one room; mutate it only through ``handle``.

    ``roster`` is the room's membership, read-only (the room core itself); without one,
    nobody is in the room (the channels configured, as a page shows them before a class).
    """

    def __init__(self, channels: tuple[str, ...] = (), roster: Roster = NOBODY) -> None:
        for lang in channels:
            known_language(lang)
        self.roster = roster
        self.channels: dict[str, Channel] = {lang: Channel(lang) for lang in channels}
        self.interpreters: dict[str, Interpreter] = {}
        # Those whose classroom page closed (Depart) and who have not arrived since:
        # interpreters off air and shown disconnected, listeners out of the audience,
        # whatever the room says of them meanwhile.
        self.departed: set[str] = set()
        self.listening: dict[str, Listening] = {}  # outlives Depart and Forget: choices persist
        self.floor_language: str | None = None
        self.timeline: list[Segment] = []

    # -- queries --

    def channel_json(self, channel: Channel) -> dict[str, Any]:
        on_air = channel.on_air
        return {
            "lang": channel.lang,
            "rtl": LANGUAGES[channel.lang],
            "signed": channel.lang in SIGNED,
            "live": on_air is not None,
            "on_air": on_air,
            "on_air_name": self._name(on_air) if on_air is not None else None,
            "on_air_since": channel.on_air_since,
            "booth": [
                {
                    "id": pid,
                    "name": self._name(pid),
                    "connected": self._present(pid),
                    "relay": self.interpreters[pid].relay,
                    "output": self.interpreters[pid].output,
                    "microphone": self.interpreters[pid].microphone,
                }
                for pid in channel.booth
            ],
            "handover": dataclasses.asdict(channel.handover) if channel.handover else None,
            "listeners": self.audience(channel.lang),
        }

    def audience(self, lang: str) -> int:
        """How many listeners (not interpreters) follow channel ``lang`` now."""
        return sum(
            1
            for member in self.roster.present()
            if member.id not in self.interpreters
            and member.id not in self.departed
            and self.listening.get(member.id, Listening()).channel == lang
        )

    def _speakers(self, channel: Channel) -> tuple[str, ...]:
        """Who speaks into ``channel``: its booth present, and a retour interpreter on air."""
        booth = self._booth(channel)
        on_air = channel.on_air
        return booth if on_air is None or on_air in booth else (*booth, on_air)

    def _audience_changed(self, *langs: str) -> list[Event]:
        return [
            AudienceChanged(self._speakers(self.channels[lang]), lang, self.audience(lang))
            for lang in dict.fromkeys(langs)
            if lang in self.channels
        ]

    def snapshot(self, pid: str | None = None) -> dict[str, Any]:
        """The channels for everyone, and (given ``pid``) that participant's own place."""
        data: dict[str, Any] = {
            "channels": [self.channel_json(c) for c in self.channels.values()],
            "floor_language": self.floor_language,
            "languages": [
                {"code": code, "rtl": rtl, "signed": code in SIGNED}
                for code, rtl in LANGUAGES.items()
            ],
        }
        if pid is not None:
            interpreter = self.interpreters.get(pid)
            data["listening"] = self.listening.get(pid, Listening()).to_json()
            data["booth"] = interpreter.channel if interpreter else None
        return data

    def segments(self, now: float | None = None) -> list[dict[str, Any]]:
        """The on-air timeline; the open segment ends at ``now`` when given."""
        out = []
        for segment in self.timeline:
            if segment.end is None and now is not None:
                segment = dataclasses.replace(segment, end=now)
            out.append(segment.to_json())
        return out

    def hearing(self, pid: str) -> str:
        """What ``pid`` listens to: ORIGINAL/FLOOR, or a channel (its choice or relay)."""
        interpreter = self.interpreters.get(pid)
        if interpreter is not None:
            return interpreter.relay
        return self.listening.get(pid, Listening()).channel

    def forwards(self, publisher: str, source: str, subscriber: str) -> bool:
        """Whether the media server may forward ``publisher``'s ``source`` to ``subscriber``.

        Interpretation (a voice, or a signer's video) reaches the listeners of its channel
        only while its author is on air there (or is about to take a handover, so the
        switch has no gap);
        booth talk reaches the booth partners alone; an interpreter's microphone
        never reaches the floor. Sources interpretation does not own are allowed.
        """
        if publisher == subscriber:
            return False
        interpreter = self.interpreters.get(publisher)
        if source in (SOURCE_INTERPRETATION, SOURCE_SIGNING):
            if interpreter is None:
                return False
            channel = self.channels.get(interpreter.output)
            if channel is None or not self._audible(channel, publisher):
                return False
            if self.roster.find(subscriber) is None:  # not in the room: the recorder
                return True
            return self.hearing(subscriber) == channel.lang
        if source == SOURCE_BOOTH:
            partner = self.interpreters.get(subscriber)
            return (
                interpreter is not None
                and partner is not None
                and partner.channel == interpreter.channel
            )
        if source == SOURCE_MICROPHONE:
            return interpreter is None
        return True

    def _audible(self, channel: Channel, pid: str) -> bool:
        if channel.on_air == pid:
            return True
        offer = channel.handover
        return (
            offer is not None
            and self._present(pid)
            and (offer.taker == pid or (offer.taker is None and pid in channel.booth))
        )

    def _present(self, pid: str) -> bool:
        """Whether ``pid`` is connected: as the room says, unless their page closed since
        they last arrived (the room hears of it after interpretation, if at all)."""
        member = self.roster.find(pid)
        return member is not None and member.connected and pid not in self.departed

    def _name(self, pid: str) -> str:
        member = self.roster.find(pid)
        # Someone the room dropped is forgotten here at once (Forget); until then, their id.
        return member.name if member is not None else pid

    def _in_room(self, pid: str) -> Member:
        member = self.roster.find(pid)
        if member is None:
            raise NotFound(f"{pid!r} is not in this room")
        return member

    def _member(self, pid: str, action: Action) -> Member:
        member = self._in_room(pid)
        require(member.role, action)
        return member

    def _interpreter(self, pid: str) -> Interpreter:
        self._member(pid, Action.INTERPRET)
        interpreter = self.interpreters.get(pid)
        if interpreter is None:
            raise InvalidCommand("you are not assigned to a channel")
        return interpreter

    def _channel(self, lang: str) -> Channel:
        channel = self.channels.get(lang)
        if channel is None:
            open_ = ", ".join(self.channels) or "none"
            raise NotFound(f"there is no {lang!r} channel (open channels: {open_})")
        return channel

    def _booth(self, channel: Channel) -> tuple[str, ...]:
        return tuple(pid for pid in channel.booth if self._present(pid))

    # -- the one entry point --

    def handle(self, command: Command, now: float) -> list[Event]:
        """Apply one command at time ``now`` and return the events it caused.

        Raises a ClassroomError (Forbidden, NotFound, InvalidCommand) and changes
        nothing when the command is not allowed.
        """
        method = getattr(self, "_on_" + type(command).__name__, None)
        if method is None:
            raise InvalidCommand(f"interpretation does not handle {type(command).__name__}")
        events: list[Event] = method(command, now)
        return events

    # -- on air: every change goes through here, so the timeline has no gap or overlap --

    def _put_on_air(self, channel: Channel, pid: str | None, now: float) -> list[Event]:
        previous = channel.on_air
        if previous == pid:
            return []
        if self.timeline and previous is not None:
            for i in range(len(self.timeline) - 1, -1, -1):
                segment = self.timeline[i]
                if segment.channel == channel.lang and segment.end is None:
                    self.timeline[i] = dataclasses.replace(segment, end=now)
                    break
        channel.on_air, channel.on_air_since, channel.handover = pid, now, None
        name = None
        if pid is not None:
            name = self._name(pid)
            self.timeline.append(Segment(channel.lang, pid, name, now))
        else:
            channel.on_air_since = None
        return [
            OnAirChanged(None, channel.lang, pid, name, previous, now),
            ChannelChanged(None, self.channel_json(channel)),
        ]

    # -- handlers --

    def _on_Arrive(self, cmd: Arrive, now: float) -> list[Event]:
        member = self.roster.find(cmd.id)
        if member is None:
            return []  # someone gone already
        if member.role is not Role.INTERPRETER:  # a listener: the audience of their channel
            self.departed.discard(cmd.id)
            choice = self.listening.get(cmd.id)
            if choice is None or choice.channel == ORIGINAL:
                return []
            return self._audience_changed(choice.channel)
        if member.lang is None:
            raise InvalidCommand("your join token names no language channel to interpret into")
        lang = known_language(member.lang)
        known = self.interpreters.get(cmd.id)
        if known is not None and known.channel != lang:
            raise Forbidden(f"you interpret into {known.channel}, not {lang}")
        self.departed.discard(cmd.id)
        events: list[Event] = []
        channel = self.channels.get(lang)
        if channel is None:  # an interpreter's token opens their channel
            channel = self.channels[lang] = Channel(lang)
        if cmd.id not in self.interpreters:
            self.interpreters[cmd.id] = Interpreter(cmd.id, lang)
            channel.booth.append(cmd.id)
        if channel.on_air is None:
            events += self._put_on_air(channel, cmd.id, now)
        else:
            events.append(ChannelChanged(None, self.channel_json(channel)))
        return events

    def _on_Depart(self, cmd: Depart, now: float) -> list[Event]:
        interpreter = self.interpreters.get(cmd.id)
        if cmd.id in self.departed:
            return []
        self.departed.add(cmd.id)  # shown disconnected from now on, though the room
        # marks them so only after this (or not at all, while a side page is open)
        if interpreter is None:  # a listener: one less in their channel's audience
            choice = self.listening.get(cmd.id)
            return [] if choice is None else self._audience_changed(choice.channel)
        channel = self.channels[interpreter.channel]
        output = self.channels.get(interpreter.output)
        if output is not None and output is not channel and output.on_air == cmd.id:
            return self._put_on_air(output, None, now)
        if channel.on_air == cmd.id:
            return self._put_on_air(channel, None, now)
        if channel.handover is not None and channel.handover.taker == cmd.id:
            channel.handover = None
        return [ChannelChanged(None, self.channel_json(channel))]

    def _on_Forget(self, cmd: Forget, now: float) -> list[Event]:
        # The room has dropped them already: their booth place goes before anything is
        # told, so no channel shows someone the room no longer knows.
        interpreter = self.interpreters.pop(cmd.id, None)
        self.departed.discard(cmd.id)
        if interpreter is None:
            return []
        channel = self.channels[interpreter.channel]
        channel.booth.remove(cmd.id)
        output = self.channels.get(interpreter.output)
        if output is not None and output is not channel and output.on_air == cmd.id:
            return self._put_on_air(output, None, now)
        if channel.on_air == cmd.id:
            return self._put_on_air(channel, None, now)
        if channel.handover is not None and channel.handover.taker == cmd.id:
            channel.handover = None
        return [ChannelChanged(None, self.channel_json(channel))]

    def _on_OpenChannel(self, cmd: OpenChannel, now: float) -> list[Event]:
        self._member(cmd.actor, Action.MANAGE_CHANNELS)
        lang = known_language(cmd.lang)
        if lang in self.channels:
            return []
        channel = self.channels[lang] = Channel(lang)
        return [ChannelChanged(None, self.channel_json(channel))]

    def _on_CloseChannel(self, cmd: CloseChannel, now: float) -> list[Event]:
        self._member(cmd.actor, Action.MANAGE_CHANNELS)
        channel = self._channel(cmd.lang)
        if channel.booth:
            names = ", ".join(self._name(pid) for pid in channel.booth)
            raise InvalidCommand(f"the {cmd.lang} booth is not empty ({names})")
        if channel.on_air is not None:  # an interpreter's retour
            raise InvalidCommand(f"{self._name(channel.on_air)} is on air in {cmd.lang}")
        for other in self.interpreters.values():
            if other.output == cmd.lang:
                other.output = other.channel
        del self.channels[cmd.lang]
        events: list[Event] = [ChannelClosed(None, cmd.lang)]
        for pid, choice in self.listening.items():  # its listeners fall back to the floor
            if choice.channel == cmd.lang:
                choice.channel = ORIGINAL
                events.append(ListeningChanged((pid,), ORIGINAL, choice.floor_db))
        for other in self.interpreters.values():
            if other.relay == cmd.lang:
                other.relay = FLOOR
                events.append(ChannelChanged(None, self.channel_json(self.channels[other.channel])))
        return events

    def _on_TakeAir(self, cmd: TakeAir, now: float) -> list[Event]:
        interpreter = self._interpreter(cmd.actor)
        if cmd.channel != interpreter.output:
            raise Forbidden(f"you interpret into {interpreter.output}, not {cmd.channel}")
        channel = self._channel(interpreter.output)
        if channel.on_air == cmd.actor:
            return []
        if channel.on_air is not None and not self._audible(channel, cmd.actor):
            on_air = self._name(channel.on_air)
            raise InvalidCommand(f"{on_air} is on air; wait until they offer the handover")
        return self._put_on_air(channel, cmd.actor, now)

    def _on_LeaveAir(self, cmd: LeaveAir, now: float) -> list[Event]:
        interpreter = self._interpreter(cmd.actor)
        channel = self.channels[interpreter.output]
        if channel.on_air != cmd.actor:
            raise InvalidCommand("you are not on air")
        return self._put_on_air(channel, None, now)

    def _on_OfferHandover(self, cmd: OfferHandover, now: float) -> list[Event]:
        interpreter = self._interpreter(cmd.actor)
        channel = self.channels[interpreter.channel]
        if channel.on_air != cmd.actor:
            raise InvalidCommand("only the interpreter on air can offer the handover")
        partners = tuple(pid for pid in self._booth(channel) if pid != cmd.actor)
        if cmd.to is not None and cmd.to not in partners:
            raise InvalidCommand(f"{cmd.to!r} is not your partner in the {channel.lang} booth")
        if not partners:
            raise InvalidCommand("nobody in your booth could take over")
        channel.handover = Handover(cmd.actor, cmd.to)
        return [
            HandoverOffered(self._booth(channel), channel.lang, cmd.actor, cmd.to),
            ChannelChanged(None, self.channel_json(channel)),
        ]

    def _on_CancelHandover(self, cmd: CancelHandover, now: float) -> list[Event]:
        interpreter = self._interpreter(cmd.actor)
        channel = self.channels[interpreter.channel]
        if channel.handover is None or channel.handover.giver != cmd.actor:
            raise InvalidCommand("you have no handover offer to cancel")
        channel.handover = None
        return [
            HandoverCancelled(self._booth(channel), channel.lang, cmd.actor),
            ChannelChanged(None, self.channel_json(channel)),
        ]

    def _on_SetRelay(self, cmd: SetRelay, now: float) -> list[Event]:
        interpreter = self._interpreter(cmd.actor)
        if cmd.source != FLOOR:
            self._channel(cmd.source)
            if cmd.source == interpreter.channel:
                raise InvalidCommand("relay from another channel than your own")
        if interpreter.relay == cmd.source:
            return []
        interpreter.relay = cmd.source
        return [ChannelChanged(None, self.channel_json(self.channels[interpreter.channel]))]

    def _on_SetFloorLanguage(self, cmd: SetFloorLanguage, now: float) -> list[Event]:
        self._member(cmd.actor, Action.SET_FLOOR_LANGUAGE)
        lang = None if cmd.lang is None else known_language(cmd.lang)
        if lang == self.floor_language:
            return []
        self.floor_language = lang
        return [FloorLanguageChanged(None, lang)]

    def _on_SelectChannel(self, cmd: SelectChannel, now: float) -> list[Event]:
        self._member(cmd.actor, Action.LISTEN_CHANNEL)
        if cmd.actor in self.interpreters:
            raise InvalidCommand("interpreters choose what they hear with set_relay")
        if cmd.channel != ORIGINAL:
            self._channel(cmd.channel)
        choice = self.listening.setdefault(cmd.actor, Listening())
        before, choice.channel = choice.channel, cmd.channel
        events: list[Event] = [ListeningChanged((cmd.actor,), choice.channel, choice.floor_db)]
        if before != choice.channel:
            events += self._audience_changed(before, choice.channel)
        return events

    def _on_SetFloorLevel(self, cmd: SetFloorLevel, now: float) -> list[Event]:
        self._member(cmd.actor, Action.LISTEN_CHANNEL)
        low, high = FLOOR_DB_RANGE
        if not low <= cmd.floor_db <= high:
            raise InvalidCommand(f"floor level must be between {low:g} and {high:g} dB")
        choice = self.listening.setdefault(cmd.actor, Listening())
        choice.floor_db = float(cmd.floor_db)
        return [ListeningChanged((cmd.actor,), choice.channel, choice.floor_db)]

    def _on_SendBoothMessage(self, cmd: SendBoothMessage, now: float) -> list[Event]:
        interpreter = self._interpreter(cmd.actor)
        text = cmd.text.strip()
        if not text or len(text) > BOOTH_TEXT_MAX_CHARS:
            raise InvalidCommand(f"booth messages are 1 to {BOOTH_TEXT_MAX_CHARS} characters")
        channel = self.channels[interpreter.channel]
        name = self._name(cmd.actor)
        return [BoothMessagePosted(self._booth(channel), channel.lang, cmd.actor, name, text, now)]

    def _on_SetOutput(self, cmd: SetOutput, now: float) -> list[Event]:
        interpreter = self._interpreter(cmd.actor)
        target = self._channel(cmd.channel)
        if interpreter.output == target.lang:
            return []
        current = self.channels[interpreter.output]
        booth = self.channels[interpreter.channel]
        if current.on_air != cmd.actor:
            interpreter.output = target.lang
            return [ChannelChanged(None, self.channel_json(booth))]
        if target.on_air is not None:
            on_air = self._name(target.on_air)
            raise InvalidCommand(f"{on_air} is on air in {target.lang}")
        # On air: the voice and the air move together, in one step (no gap).
        interpreter.output = target.lang
        events = self._put_on_air(current, None, now) + self._put_on_air(target, cmd.actor, now)
        if booth is not current and booth is not target:
            events.append(ChannelChanged(None, self.channel_json(booth)))
        return events

    def _on_SetMicrophone(self, cmd: SetMicrophone, now: float) -> list[Event]:
        interpreter = self._interpreter(cmd.actor)
        if interpreter.microphone == cmd.on:
            return []
        interpreter.microphone = cmd.on
        return [ChannelChanged(None, self.channel_json(self.channels[interpreter.channel]))]

    def _on_SendSignal(self, cmd: SendSignal, now: float) -> list[Event]:
        interpreter = self._interpreter(cmd.actor)
        channel = self.channels[interpreter.channel]
        if cmd.kind in BOOTH_SIGNALS:
            to = self._booth(channel)
        elif cmd.kind in SIGNALS:
            trainers = audience(self.roster, Action.MODERATE)
            to = tuple(dict.fromkeys((*trainers, *self._booth(channel))))
        else:
            raise InvalidCommand(f"a signal is one of {', '.join(SIGNALS + BOOTH_SIGNALS)}")
        name = self._name(cmd.actor)
        return [InterpreterSignal(to, channel.lang, cmd.actor, name, cmd.kind, now)]
