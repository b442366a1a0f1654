"""The interpretation service: each room's channels, listener choices that persist, the timeline.

Each live room keeps its ``classroom.interpretation.Interpretation`` in
``LiveRoom.interpretation`` (made on first use), reading who is in the room from the
room core (its roster), never from a copy kept here. Its events go to the addressed
connections and to the hub's listeners (the recorder journals ``on_air_changed``); each
on-air change is also appended to the store, so the on-air timeline outlives the room.
Listener choices are kept in the store too, so they survive reconnects and restarts.
The store is opened at start-up, after this service is made: ``store()`` gives it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from classroom import channel as ch
from classroom import forwarding
from classroom.errors import ClassroomError
from classroom.forwarding import Scope
from classroom.interpretation import Interpretation
from classroom.ports import Store
from classroom.room import Event, ParticipantLeft
from live.hub import Connection, Hub, LiveRoom, Machine, error_message
from media.router import MediaRouter

log = logging.getLogger("classroom.interpretation")


def listening_key(room: str) -> str:
    return f"interpretation:{room}:listening"


def journal_key(room: str) -> str:
    return f"interpretation:{room}:on_air"


def policy(live: LiveRoom) -> Callable[[str, str, str], bool]:
    """The media router's forwarding hook for this room: who may hear which source."""

    def allowed(publisher: str, source: str, subscriber: str) -> bool:
        state = live.interpretation
        if state is None:
            return source not in (ch.SOURCE_INTERPRETATION, ch.SOURCE_BOOTH)
        return state.forwards(publisher, source, subscriber)

    return allowed


def refresh_media(live: LiveRoom, scope: Scope | None = None) -> None:
    """Make the media router look again at ``scope`` (None: everything), if it exists yet."""
    if live.media is not None:
        live.media.refresh(scope)


class Channels:
    """The interpretation machine of every room (``LiveRoom.execute`` runs its commands).

    What must outlive the process (on-air changes, listener choices) is written to the
    store by one background task, in order; the repository step (``keep``) waits until
    what it queued is written.
    """

    def __init__(self, hub: Hub, channels: tuple[str, ...], store: Callable[[], Store]) -> None:
        self.hub = hub
        self.channels = channels
        self.store = store
        self.writes: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()  # key, field, value
        hub.register(ch.Command, Machine(self.decide, self.keep))
        hub.listeners.append(self.react)

    def state(self, live: LiveRoom) -> Interpretation:
        if live.interpretation is None:
            live.interpretation = Interpretation(self.channels, roster=live.core)
        return live.interpretation

    def decide(self, live: LiveRoom, command: ch.Command, now: float) -> list[Event]:
        return self.state(live).handle(command, now)

    async def keep(self, live: LiveRoom, events: list[Event]) -> None:
        """Queue what of the events must be kept, and wait until it is written."""
        for event in events:
            if isinstance(event, ch.OnAirChanged):
                entry = {"channel": event.channel, "id": event.id, "name": event.name}
                line = json.dumps({**entry, "at": event.at})
                self.writes.put_nowait((journal_key(live.name), "", line))
            elif isinstance(event, ch.ListeningChanged) and event.to:
                choice = json.dumps({"channel": event.channel, "floor_db": event.floor_db})
                self.writes.put_nowait((listening_key(live.name), event.to[0], choice))
        await self.writes.join()

    def react(self, live: LiveRoom, events: list[Event]) -> None:
        """Hub listener: whoever leaves the room for good leaves their booth; a change of
        who hears what makes the media router look again."""
        if live.interpretation is None:
            return
        for event in events:
            if isinstance(event, ParticipantLeft):
                forgotten = self.decide(live, ch.Forget(event.id), self.hub.clock())
                if forgotten:
                    live.deliver(forgotten)
                    live.tell_listeners(forgotten)
                    live.spawn(self.keep(live, forgotten), "keep interpretation")
        if scope := forwarding.channel_scope(events):
            refresh_media(live, scope)

    async def write(self) -> None:
        """The background writer: store what ``keep`` queued, in order."""
        while True:
            key, field, value = await self.writes.get()
            store = self.store()  # opened by a start-up step that may run after this one
            try:
                if field:
                    await store.hset(key, field, value)
                else:
                    await store.append(key, value)
            except Exception:
                log.exception("could not store interpretation state", extra={"key": key})
            finally:
                self.writes.task_done()

    async def run(self, live: LiveRoom, command: ch.Command) -> None:
        await live.execute(command)

    async def joined(self, conn: Connection, live: LiveRoom) -> None:
        """A connection joined: restore the listener's choice, take the booth, send the state."""
        state = self.state(live)
        identity = conn.identity
        if identity.sub not in state.listening:
            # A channel chosen before may not be open yet (its interpreter not back):
            # the choice stands, and the browser plays the floor until it is live.
            stored = await self.store().hget(listening_key(live.name), identity.sub)
            if stored is not None:
                data = json.loads(stored)
                state.listening[identity.sub] = ch.Listening(data["channel"], data["floor_db"])
        try:  # who they are (name, role, language) the channels read from the room
            await self.run(live, ch.Arrive(identity.sub))
        except ClassroomError as error:
            conn.send(error_message(error.code, error.message))
        conn.send({"type": "interpretation_state", **state.snapshot(identity.sub)})

    async def left(self, conn: Connection, live: LiveRoom) -> None:
        """The page holding the presence (and media) closed: an interpreter goes off air.
        This runs before the room marks them disconnected (or hands the presence to a side
        page): the channels show them disconnected from now on, whatever the room says."""
        if live.connections.get(conn.pid) is not conn or live.interpretation is None:
            return  # replaced by a newer connection of the same participant
        await self.run(live, ch.Depart(conn.pid))

    def plug(self, live: LiveRoom, router: MediaRouter) -> None:
        """A media router hook: every room's router asks the channels who hears what."""
        router.add_policy(policy(live))

    async def timeline(self, room: str) -> list[dict[str, Any]]:
        """The room's on-air segments so far, including what the room was just told."""
        await self.writes.join()
        entries = await self.store().range(journal_key(room))
        return timeline_from_journal(entries, self.hub.clock())


def timeline_from_journal(entries: list[str], now: float) -> list[dict[str, Any]]:
    """On-air segments from the journal of changes (a still open one ends ``now``)."""
    segments: list[dict[str, Any]] = []
    open_: dict[str, dict[str, Any]] = {}
    for line in entries:
        change = json.loads(line)
        current = open_.pop(change["channel"], None)
        if current is not None:
            current["end"] = change["at"]
        if change["id"] is not None:
            segment = {**change, "start": change.pop("at"), "end": None}
            open_[change["channel"]] = segment
            segments.append(segment)
    for segment in open_.values():
        segment["end"] = now
    return segments
