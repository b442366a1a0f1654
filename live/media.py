"""The media service: each live room's router, whose connection owns a person's media, and
the signalling the router's offers travel by.

Each participant has two peer connections with the room's ``media.router.MediaRouter``
(kept in ``LiveRoom.media``, made on first use): on the publish one the client offers,
on the subscribe one the server offers and renegotiates when tracks come and go. A
person's media belongs to one connection at a time (their classroom page); a new one
starts it afresh. The transport (``web.media_handlers``) checks the messages and calls
this service; other features reach a room's router through ``router(live)`` and add
their forwarding rules with ``add_router_hook``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from classroom import forwarding
from classroom import room as core
from classroom.errors import InvalidCommand
from classroom.permissions import Action, require
from classroom.publishing import check_publish, room_lets_through
from config import Settings
from live.hub import Connection, Hub, LiveRoom
from media.ice import browser_ice_servers
from media.router import MediaRouter, Policy

log = logging.getLogger("classroom.media")

RouterHook = Callable[[LiveRoom, MediaRouter], None]


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
    """The room core's part of forwarding (``classroom.publishing.room_lets_through``)."""

    def allowed(publisher: str, source: str, subscriber: str) -> bool:
        return room_lets_through(live.core.participants.get(publisher), source)

    return allowed


class Media:
    """The media of this process's live rooms."""

    def __init__(self, hub: Hub, settings: Settings) -> None:
        self.hub = hub
        self.settings = settings
        #: Called with each room's router when it is made (features add their policies).
        self.hooks: list[RouterHook] = []
        #: Which connection owns a participant's media: (room, participant) -> connection id.
        self.owners: dict[tuple[str, str], str] = {}
        hub.listeners.append(self.on_events)

    def add_router_hook(self, hook: RouterHook) -> None:
        """Call ``hook(live, router)`` for every room's router when it is made (for example
        to ``router.add_policy(...)``)."""
        self.hooks.append(hook)

    def router(self, live: LiveRoom) -> MediaRouter:
        """The room's media router, made on first use."""
        if live.media is not None:
            return live.media
        router = live.media = MediaRouter(live.name, self.settings, RoomSignalling(live))
        router.add_policy(room_policy(live))
        for hook in self.hooks:
            try:
                hook(live, router)
            except Exception:
                log.exception("media router hook failed", extra={"room": live.name})
        router.pin(live.core.pinned)
        return router

    def _claim(self, conn: Connection, live: LiveRoom, router: MediaRouter) -> None:
        """A participant's media belongs to one connection: a new one starts afresh."""
        key = (live.name, conn.pid)
        if self.owners.get(key) != conn.id:
            if key in self.owners:
                router.remove(conn.pid)
            self.owners[key] = conn.id

    async def ready(self, conn: Connection, live: LiveRoom, codecs: list[str]) -> list[Any]:
        """The client can receive (decoding ``codecs``): its media starts afresh. Returns the
        ICE servers for the browser; the router's subscribe offer follows."""
        require(conn.identity.role, Action.SUBSCRIBE_MEDIA)
        live.core.member(conn.pid)
        router = self.router(live)
        self._claim(conn, live, router)
        if conn.pid in router.publishers or conn.pid in router.subscribers:
            log.info(
                "media of %s starts afresh",
                conn.pid,
                extra={"participant": conn.pid, "room": live.name},
            )
            router.remove(conn.pid)  # the client starts its media afresh
        settings = self.settings
        servers: list[Any] = browser_ice_servers(
            settings.ice_servers, settings.turn_username, settings.turn_password.reveal()
        )
        return servers

    async def receive(self, conn: Connection, live: LiveRoom, codecs: list[str]) -> None:
        """After ``ready`` has been answered: the router offers what this viewer receives."""
        await self.router(live).ready(conn.pid, codecs)

    async def publish(
        self, conn: Connection, live: LiveRoom, sdp: str, sources: dict[str, str]
    ) -> str:
        """Take the client's publish offer (mid -> source); returns the answer."""
        check_publish(conn.identity.role, live.core.member(conn.pid), sources.values())
        router = self.router(live)
        self._claim(conn, live, router)
        return await router.publish(conn.pid, sdp, sources)

    async def answer(self, conn: Connection, live: LiveRoom, sdp: str) -> None:
        """The client's answer to the subscribe offer it was sent."""
        router = live.media
        if router is None or self.owners.get((live.name, conn.pid)) != conn.id:
            raise InvalidCommand("no subscribe offer is waiting for an answer")
        await router.answer(conn.pid, sdp)

    def on_events(self, live: LiveRoom, events: list[core.Event]) -> None:
        """Hub listener: departures drop media, a pin changes videos, and events that
        change who receives what make the router look again."""
        router = live.media
        if router is None:
            return
        for event in events:
            if isinstance(event, core.ParticipantLeft | core.Removed):
                router.remove(event.id)
                self.owners.pop((live.name, event.id), None)
            elif isinstance(event, core.PinChanged):
                router.pin(event.id)
        if scope := forwarding.room_scope(events):  # none for a chat line, a hand, an answer
            router.refresh(scope)

    async def left(self, conn: Connection, live: LiveRoom) -> None:
        """A connection closed: if it owned its participant's media, that media ends."""
        key = (live.name, conn.pid)
        if self.owners.get(key) == conn.id:
            del self.owners[key]
            if live.media is not None:
                live.media.remove(conn.pid)

    async def close(self) -> None:
        """On shutdown: every room's router closes its peer connections."""
        for live in list(self.hub.rooms.values()):
            if live.media is not None:
                await live.media.close()
