"""Interpretation over the websocket: channel messages, listener choices that persist, the timeline.

Each live room keeps its ``classroom.interpretation.Interpretation`` in
``LiveRoom.interpretation``. Its events go to the addressed connections
and to the hub's listeners (the recorder journals ``on_air_changed``); each
on-air change is also appended to the store, so ``GET
/api/rooms/{room}/interpretation`` can give the timeline after the room is gone.
Listener choices are kept in the store too, so they survive reconnects and restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pydantic
from aiohttp import web

from classroom import channel as ch
from classroom.errors import ClassroomError
from classroom.interpretation import Interpretation
from classroom.room import Event, ParticipantLeft
from config import SettingsError
from live.hub import Connection, LiveRoom
from media.router import MediaRouter
from web.api import authorize
from web.context import HUB, SETTINGS, STORE
from web.media_handlers import add_router_hook
from web.ws import ClientMessage, Dispatcher, error_message

log = logging.getLogger("classroom.interpretation")

Lang = pydantic.Field(min_length=2, max_length=3, pattern=r"^[a-z]{2,3}$")
ChannelName = pydantic.Field(min_length=2, max_length=8, pattern=r"^[a-z]{2,8}$")
Message = TypeVar("Message", bound=ClientMessage)


def listening_key(room: str) -> str:
    return f"interpretation:{room}:listening"


def journal_key(room: str) -> str:
    return f"interpretation:{room}:on_air"


# --- client messages ----------------------------------------------------------


class LangMessage(ClientMessage):
    lang: str = Lang


class FloorLanguage(ClientMessage):
    lang: str | None = Lang


class TakeAir(ClientMessage):
    channel: str = Lang


class Empty(ClientMessage):
    pass


class OfferHandover(ClientMessage):
    to: str | None = pydantic.Field(default=None, min_length=1, max_length=200)


class SetRelay(ClientMessage):
    source: str = ChannelName  # "floor" or a channel


class SelectChannel(ClientMessage):
    channel: str = ChannelName  # "original" or a channel


class FloorLevel(ClientMessage):
    floor_db: float = pydantic.Field(allow_inf_nan=False)

    @pydantic.field_validator("floor_db", mode="before")
    @classmethod
    def number(cls, value: Any) -> Any:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


class BoothMessage(ClientMessage):
    text: str = pydantic.Field(min_length=1, max_length=ch.BOOTH_TEXT_MAX_CHARS)


# --- the room's interpretation state ------------------------------------------


def policy(live: LiveRoom) -> Callable[[str, str, str], bool]:
    """The media router's forwarding hook for this room: who may hear which source."""

    def allowed(publisher: str, source: str, subscriber: str) -> bool:
        state = live.interpretation
        if state is None:
            return source not in (ch.SOURCE_INTERPRETATION, ch.SOURCE_BOOTH)
        return state.forwards(publisher, source, subscriber)

    return allowed


def refresh_media(live: LiveRoom) -> None:
    """Make the media router apply the new forwarding rules (if this room has one yet)."""
    if live.media is not None:
        live.media.refresh()


def _plug_policy(live: LiveRoom, router: MediaRouter) -> None:
    router.add_policy(policy(live))


class Channels:
    """Runs commands through a room's interpretation state and delivers their events.

    What must outlive the process (on-air changes, listener choices) is written to
    the store by one background task, in order; ``run`` waits until it is written.
    """

    def __init__(self, app: web.Application, channels: tuple[str, ...]) -> None:
        self.app = app
        self.channels = channels
        self.writes: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()  # key, field, value

    def state(self, live: LiveRoom) -> Interpretation:
        if live.interpretation is None:
            live.interpretation = Interpretation(self.channels)
        return live.interpretation

    def apply(self, live: LiveRoom, command: ch.Command) -> list[Event]:
        events = self.state(live).handle(command, live.hub.clock())
        self.emit(live, events)
        return events

    def emit(self, live: LiveRoom, events: list[Event]) -> None:
        if not events:
            return
        live.deliver(events)
        live.tell_listeners(events)
        for event in events:
            if isinstance(event, ch.OnAirChanged):
                entry = {"channel": event.channel, "id": event.id, "name": event.name}
                line = json.dumps({**entry, "at": event.at})
                self.writes.put_nowait((journal_key(live.name), "", line))
            elif isinstance(event, ch.ListeningChanged) and event.to:
                choice = json.dumps({"channel": event.channel, "floor_db": event.floor_db})
                self.writes.put_nowait((listening_key(live.name), event.to[0], choice))
        if ch.changes_forwarding(events):
            refresh_media(live)

    async def write(self) -> None:
        """The background writer: store what ``emit`` queued, in order."""
        while True:
            key, field, value = await self.writes.get()
            store = self.app[STORE]  # opened by a start-up step that may run after this one
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
        self.apply(live, command)
        await self.writes.join()

    async def joined(self, conn: Connection, live: LiveRoom) -> None:
        """A connection joined: restore the listener's choice, take the booth, send the state."""
        state = self.state(live)
        identity = conn.identity
        if identity.sub not in state.listening:
            # A channel chosen before may not be open yet (its interpreter not back):
            # the choice stands, and the browser plays the floor until it is live.
            stored = await self.app[STORE].hget(listening_key(live.name), identity.sub)
            if stored is not None:
                data = json.loads(stored)
                state.listening[identity.sub] = ch.Listening(data["channel"], data["floor_db"])
        command = ch.Arrive(identity.sub, identity.name, identity.role, identity.lang)
        try:
            await self.run(live, command)
        except ClassroomError as error:
            conn.send(error_message(error.code, error.message))
        conn.send({"type": "interpretation_state", **state.snapshot(identity.sub)})

    async def left(self, conn: Connection, live: LiveRoom) -> None:
        if live.connections.get(conn.pid) is not conn or live.interpretation is None:
            return  # replaced by a newer connection of the same participant
        await self.run(live, ch.Depart(conn.pid))

    def forget(self, live: LiveRoom, events: list[Event]) -> None:
        """A room listener: whoever leaves the room for good leaves their booth."""
        if live.interpretation is None:
            return
        for event in events:
            if isinstance(event, ParticipantLeft):
                self.apply(live, ch.Forget(event.id))


SERVICE = web.AppKey("interpretation", Channels)


async def _writer_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(app[SERVICE].write())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


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


async def channels_api(request: web.Request) -> web.Response:
    """The channels of a room, who is on air, and the on-air timeline so far."""
    room = authorize(request).room
    live = request.app[HUB].rooms.get(room)
    if live is not None and live.interpretation is not None:
        snapshot = request.app[SERVICE].state(live).snapshot()
    else:
        snapshot = Interpretation(request.app[SERVICE].channels).snapshot()
    # What the room was told is in the timeline: wait for the writer to store it.
    await request.app[SERVICE].writes.join()
    entries = await request.app[STORE].range(journal_key(room))
    snapshot["timeline"] = timeline_from_journal(entries, request.app[HUB].clock())
    return web.json_response(snapshot)


def setup(app: web.Application, dispatcher: Dispatcher) -> None:
    """Register the interpretation messages, join/leave hooks and the timeline endpoint."""
    channels = app[SETTINGS].interpretation_channels
    try:
        Interpretation(channels)
    except ClassroomError as error:
        raise SettingsError(f"interpretation_channels: {error.message}") from None
    service = app[SERVICE] = Channels(app, channels)
    app.cleanup_ctx.append(_writer_ctx)
    add_router_hook(app, _plug_policy)  # every room's media router asks the channels
    app[HUB].listeners.append(service.forget)
    dispatcher.on_join.append(service.joined)
    dispatcher.on_leave.append(service.left)
    app.router.add_get("/api/rooms/{room}/interpretation", channels_api)
    route = dispatcher.route

    @route("get_interpretation", Empty)
    async def get_interpretation(conn: Connection, live: LiveRoom, msg: Empty) -> None:
        state = service.state(live).snapshot(conn.pid)
        reply: dict[str, Any] = {"type": "interpretation_state", **state}
        if msg.ref is not None:
            reply["ref"] = msg.ref
        conn.send(reply)

    def command(
        type_: str, model: type[Message], make: Callable[[str, Message], ch.Command]
    ) -> None:
        """Route a message to the command ``make`` builds of its sender and itself."""

        @route(type_, model)
        async def run_command(conn: Connection, live: LiveRoom, msg: Message) -> None:
            await service.run(live, make(conn.pid, msg))

    command("open_channel", LangMessage, lambda pid, msg: ch.OpenChannel(pid, msg.lang))
    command("close_channel", LangMessage, lambda pid, msg: ch.CloseChannel(pid, msg.lang))
    command("take_air", TakeAir, lambda pid, msg: ch.TakeAir(pid, msg.channel))
    command("leave_air", Empty, lambda pid, _: ch.LeaveAir(pid))
    command("offer_handover", OfferHandover, lambda pid, msg: ch.OfferHandover(pid, msg.to))
    command("cancel_handover", Empty, lambda pid, _: ch.CancelHandover(pid))
    command("set_relay", SetRelay, lambda pid, msg: ch.SetRelay(pid, msg.source))
    command(
        "set_floor_language", FloorLanguage, lambda pid, msg: ch.SetFloorLanguage(pid, msg.lang)
    )
    command("select_channel", SelectChannel, lambda pid, msg: ch.SelectChannel(pid, msg.channel))
    command("set_floor_level", FloorLevel, lambda pid, msg: ch.SetFloorLevel(pid, msg.floor_db))
    command("booth_message", BoothMessage, lambda pid, msg: ch.SendBoothMessage(pid, msg.text))
