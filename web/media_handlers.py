"""Media signalling over the websocket: publish and subscribe connections, screen share, speakers.

Each participant has two peer connections with the room's ``media.router.MediaRouter``
(kept in ``LiveRoom.media``): on the publish one the client offers
(``publish`` -> ``publish_answer``), on the subscribe one the server offers
(``subscribe`` -> ``subscribe_answer``) and renegotiates when tracks come and go.
A client first says it can receive (``media_ready``) and gets the ICE servers
(``media_config``). docs/protocol.md describes every message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal

import pydantic
from aiohttp import web

from classroom import room as core
from classroom.errors import Forbidden, InvalidCommand
from classroom.permissions import Action, can, require
from live.hub import Connection, LiveRoom
from media.ice import browser_ice_servers
from media.router import MediaRouter, Policy
from web.context import HUB, SETTINGS
from web.ws import ClientMessage, Dispatcher

log = logging.getLogger("classroom.media")

SDP_MAX_CHARS = 60_000

RouterHook = Callable[[LiveRoom, MediaRouter], None]
#: Called with each room's router when it is created (features add their policies).
ROUTER_HOOKS: web.AppKey[list[RouterHook]] = web.AppKey("media_router_hooks")
#: Which connection of a participant owns their media: (room, participant) -> connection id.
OWNERS: web.AppKey[dict[tuple[str, str], str]] = web.AppKey("media_owners")

Source = Literal["camera", "microphone", "screen", "interpretation", "booth"]
Mid = Annotated[str, pydantic.Field(min_length=1, max_length=64)]
CodecName = Annotated[str, pydantic.Field(min_length=1, max_length=32)]
Sdp = Annotated[str, pydantic.Field(min_length=1, max_length=SDP_MAX_CHARS)]


class MediaReady(ClientMessage):
    codecs: list[CodecName] = pydantic.Field(default_factory=list, max_length=32)


class Publish(ClientMessage):
    sdp: Sdp
    sources: dict[Mid, Source] = pydantic.Field(max_length=16)


class SubscribeAnswer(ClientMessage):
    sdp: Sdp


class ShareScreen(ClientMessage):
    sharing: bool


class RoomSignalling:
    """Carries a router's offers and announcements to the room's connections."""

    def __init__(self, live: LiveRoom) -> None:
        self.live = live

    def subscribe_offer(self, pid: str, sdp: str, tracks: dict[str, Any]) -> None:
        self.live.send({"type": "subscribe", "sdp": sdp, "tracks": tracks}, (pid,))

    def subscribe_tracks(self, pid: str, tracks: dict[str, Any]) -> None:
        self.live.send({"type": "subscribe", "sdp": None, "tracks": tracks}, (pid,))

    def active_speaker(self, pid: str | None) -> None:
        self.live.send({"type": "active_speaker", "id": pid})

    def republish(self, pid: str, sources: list[str]) -> None:
        self.live.send({"type": "republish", "sources": sources}, (pid,))

    def media_failed(self, pid: str, connection: str, reason: str) -> None:
        self.live.send({"type": "media_failed", "connection": connection, "reason": reason}, (pid,))


def room_policy(live: LiveRoom) -> Policy:
    """The room core's part of forwarding: a trainer's mute, and screens only while shared."""

    def allowed(publisher: str, source: str, subscriber: str) -> bool:
        participant = live.core.participants.get(publisher)
        if participant is None:
            return False
        if source == "microphone" and participant.audio_muted:
            return False
        return source != "screen" or participant.screen_sharing

    return allowed


def add_router_hook(app: web.Application, hook: RouterHook) -> None:
    """Call ``hook(live, router)`` for every room's router when it is created
    (for example to ``router.add_policy(...)``); call it from a feature's ``setup``."""
    if ROUTER_HOOKS not in app:
        app[ROUTER_HOOKS] = []
    app[ROUTER_HOOKS].append(hook)


def router_for(app: web.Application, live: LiveRoom) -> MediaRouter:
    """The room's media router, created on first use."""
    if live.media is not None:
        return live.media
    router = live.media = MediaRouter(live.name, app[SETTINGS], RoomSignalling(live))
    router.add_policy(room_policy(live))
    for hook in app[ROUTER_HOOKS]:
        try:
            hook(live, router)
        except Exception:
            log.exception("media router hook failed", extra={"room": live.name})
    router.pin(live.core.pinned)
    return router


def _claim(app: web.Application, conn: Connection, live: LiveRoom, router: MediaRouter) -> None:
    """A participant's media belongs to one connection: a new one starts afresh."""
    owners = app[OWNERS]
    key = (live.name, conn.pid)
    if owners.get(key) != conn.id:
        if key in owners:
            router.remove(conn.pid)
        owners[key] = conn.id


def _check_sources(live: LiveRoom, conn: Connection, sources: set[str]) -> None:
    """Whether this participant may publish these sources now (deny by default)."""
    role = conn.identity.role
    require(role, Action.PUBLISH_MEDIA)
    participant = live.core.member(conn.pid)
    for source in sorted(sources):
        if source == "screen" and not participant.screen_sharing:
            if not (can(role, Action.SHARE_SCREEN) or can(role, Action.REQUEST_SCREEN_SHARE)):
                raise Forbidden(f"a {role} may not share their screen")
            raise Forbidden("send share_screen (and have it accepted) before publishing a screen")
        if source in ("interpretation", "booth"):
            require(role, Action.INTERPRET)


def _reply(conn: Connection, message: dict[str, Any], ref: str | None) -> None:
    if ref is not None:
        message["ref"] = ref
    conn.send(message)


def setup(app: web.Application, dispatcher: Dispatcher) -> None:
    """Register the media messages, the room-event listener and the shutdown step."""
    if ROUTER_HOOKS not in app:
        app[ROUTER_HOOKS] = []
    app[OWNERS] = {}
    route = dispatcher.route
    settings = app[SETTINGS]

    @route("media_ready", MediaReady)
    async def media_ready(conn: Connection, live: LiveRoom, msg: MediaReady) -> None:
        require(conn.identity.role, Action.SUBSCRIBE_MEDIA)
        live.core.member(conn.pid)
        router = router_for(app, live)
        _claim(app, conn, live, router)
        if conn.pid in router.publishers or conn.pid in router.subscribers:
            router.remove(conn.pid)  # the client starts its media afresh
        servers = browser_ice_servers(
            settings.ice_servers, settings.turn_username, settings.turn_password.reveal()
        )
        _reply(conn, {"type": "media_config", "ice_servers": servers}, msg.ref)
        await router.ready(conn.pid, msg.codecs)

    @route("publish", Publish)
    async def publish(conn: Connection, live: LiveRoom, msg: Publish) -> None:
        _check_sources(live, conn, set(msg.sources.values()))
        router = router_for(app, live)
        _claim(app, conn, live, router)
        answer = await router.publish(conn.pid, msg.sdp, msg.sources)
        _reply(conn, {"type": "publish_answer", "sdp": answer}, msg.ref)

    @route("subscribe_answer", SubscribeAnswer)
    async def subscribe_answer(conn: Connection, live: LiveRoom, msg: SubscribeAnswer) -> None:
        router = live.media
        if router is None or app[OWNERS].get((live.name, conn.pid)) != conn.id:
            raise InvalidCommand("no subscribe offer is waiting for an answer")
        await router.answer(conn.pid, msg.sdp)

    @route("share_screen", ShareScreen)
    async def share_screen(conn: Connection, live: LiveRoom, msg: ShareScreen) -> None:
        live.apply(core.ShareScreen(conn.pid, msg.sharing))

    def on_events(live: LiveRoom, events: list[core.Event]) -> None:
        router = live.media
        if router is None:
            return
        for event in events:
            if isinstance(event, core.ParticipantLeft | core.Removed):
                router.remove(event.id)
                app[OWNERS].pop((live.name, event.id), None)
            elif isinstance(event, core.PinChanged):
                router.pin(event.id)
        if core.changes_forwarding(events):  # not after a chat line, a hand, an answer
            router.refresh()

    async def on_leave(conn: Connection, live: LiveRoom) -> None:
        key = (live.name, conn.pid)
        if app[OWNERS].get(key) == conn.id:
            del app[OWNERS][key]
            if live.media is not None:
                live.media.remove(conn.pid)

    async def close_routers(app: web.Application) -> None:
        for live in list(app[HUB].rooms.values()):
            if live.media is not None:
                await live.media.close()

    app[HUB].listeners.append(on_events)
    dispatcher.on_leave.append(on_leave)
    app.on_shutdown.append(close_routers)
