"""Websocket messages of the room itself: chat, hands, moderation, lobby, session."""

from __future__ import annotations

import pydantic
from aiohttp import web

from classroom import room as core
from classroom.errors import InvalidCommand
from live.hub import CLASSROOM_PAGE, CLOSE_REMOVED, CLOSE_REPLACED, Connection, LiveRoom
from web.context import CATALOGUE, HUB, SETTINGS, STORE
from web.ws import ClientMessage, Dispatcher, error_message, greet_admitted, take_presence

Id = pydantic.Field(min_length=1, max_length=200)
OptionalId = pydantic.Field(default=None, min_length=1, max_length=200)


class Ping(ClientMessage):
    pass


class Chat(ClientMessage):
    text: str = pydantic.Field(min_length=1, max_length=core.CHAT_MAX_CHARS)


class RaiseHand(ClientMessage):
    raised: bool
    target: str | None = OptionalId


class Mute(ClientMessage):
    target: str | None = OptionalId  # null or absent: everyone but the sender
    muted: bool = True


class Microphone(ClientMessage):
    on: bool


class Target(ClientMessage):
    target: str = Id


class OptionalTarget(ClientMessage):
    target: str | None = OptionalId


class Flag(ClientMessage):
    value: bool


class SessionStart(ClientMessage):
    title: str | None = pydantic.Field(default=None, max_length=200)
    module: str | None = pydantic.Field(default=None, max_length=100)


class Leave(ClientMessage):
    pass


def last_module_key(room: str) -> str:
    """Where the store keeps the training module a room's last session was of."""
    return f"room-module:{room}"


class JoinHere(ClientMessage):
    pass


def setup(app: web.Application, dispatcher: Dispatcher) -> None:
    """The room's own messages; a session's module is checked in the catalogue and kept."""
    settings = app[SETTINGS]
    app[HUB].room_options = {
        "max_participants": settings.room_max_participants,
        "lobby_max_knocks": settings.lobby_max_knocks,
    }
    register(dispatcher, app)


def register(dispatcher: Dispatcher, app: web.Application | None = None) -> None:
    route = dispatcher.route

    @route("ping", Ping)
    async def ping(conn: Connection, live: LiveRoom, msg: Ping) -> None:
        reply: dict[str, object] = {"type": "pong", "at": live.hub.clock()}
        if msg.ref is not None:
            reply["ref"] = msg.ref
        conn.send(reply)

    @route("chat", Chat)
    async def chat(conn: Connection, live: LiveRoom, msg: Chat) -> None:
        live.apply(core.SendChat(conn.pid, msg.text))

    @route("raise_hand", RaiseHand)
    async def raise_hand(conn: Connection, live: LiveRoom, msg: RaiseHand) -> None:
        live.apply(core.RaiseHand(conn.pid, msg.raised, msg.target))

    @route("mute", Mute)
    async def mute(conn: Connection, live: LiveRoom, msg: Mute) -> None:
        live.apply(core.Mute(conn.pid, msg.target, msg.muted))

    @route("microphone", Microphone)
    async def microphone(conn: Connection, live: LiveRoom, msg: Microphone) -> None:
        live.apply(core.SetMicrophone(conn.pid, msg.on))

    @route("decline_unmute", Ping)
    async def decline_unmute(conn: Connection, live: LiveRoom, msg: Ping) -> None:
        live.apply(core.DeclineUnmute(conn.pid))

    @route("remove", Target)
    async def remove(conn: Connection, live: LiveRoom, msg: Target) -> None:
        await live.execute(core.Remove(conn.pid, msg.target))
        live.close_pages(msg.target, CLOSE_REMOVED, "removed by the trainer")

    @route("lift_ban", Target)
    async def lift_ban(conn: Connection, live: LiveRoom, msg: Target) -> None:
        await live.execute(core.LiftBan(conn.pid, msg.target))

    @route("admit", Target)
    async def admit(conn: Connection, live: LiveRoom, msg: Target) -> None:
        await greet_admitted(live.apply(core.Admit(conn.pid, msg.target)), live, dispatcher)

    @route("deny", Target)
    async def deny(conn: Connection, live: LiveRoom, msg: Target) -> None:
        await live.execute(core.Deny(conn.pid, msg.target))
        live.close_pages(msg.target, CLOSE_REMOVED, "not admitted")

    @route("lock", Flag)
    async def lock(conn: Connection, live: LiveRoom, msg: Flag) -> None:
        await greet_admitted(live.apply(core.LockRoom(conn.pid, msg.value)), live, dispatcher)

    @route("pin", OptionalTarget)
    async def pin(conn: Connection, live: LiveRoom, msg: OptionalTarget) -> None:
        live.apply(core.Pin(conn.pid, msg.target))

    @route("allow_screen_share", Flag)
    async def allow_screen_share(conn: Connection, live: LiveRoom, msg: Flag) -> None:
        live.apply(core.AllowScreenShare(conn.pid, msg.value))

    @route("start_session", SessionStart)
    async def start_session(conn: Connection, live: LiveRoom, msg: SessionStart) -> None:
        if msg.module is not None and app is not None:
            app[CATALOGUE].module(msg.module)  # an unknown module: not_found
        await live.execute(core.StartSession(conn.pid, msg.title, msg.module))
        if msg.module is not None and app is not None:
            # The room's last module: offered first when its next session starts.
            await app[STORE].set(last_module_key(live.name), msg.module)

    @route("end_session", Ping)
    async def end_session(conn: Connection, live: LiveRoom, msg: Ping) -> None:
        await live.execute(core.EndSession(conn.pid))

    @route("leave", Leave)
    async def leave(conn: Connection, live: LiveRoom, msg: Leave) -> None:
        if live.connections.get(conn.pid) is conn:  # the page holding the presence
            live.apply(core.Leave(conn.pid))
            del live.connections[conn.pid]
        conn.close(1000, "left")  # a side page (or one on standby) only closes itself

    @route("join_here", JoinHere)
    async def join_here(conn: Connection, live: LiveRoom, msg: JoinHere) -> None:
        """A classroom page on standby takes the class over from the person's other page."""
        if not conn.standby:
            raise InvalidCommand("this page is not waiting to join here")
        previous = live.connections.get(conn.pid)
        if previous is not None and not previous.closing:
            if previous.page == CLASSROOM_PAGE:
                previous.send(error_message("replaced", "this identity joined on another page"))
                previous.close(CLOSE_REPLACED, "joined on another page")
            else:
                live.add_other(previous)
        await take_presence(conn, live, dispatcher)
