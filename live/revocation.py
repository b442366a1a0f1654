"""Revoked tokens, by their ``jti``: an unpaired phone's, or any join link a trainer withdraws.

A revocation is kept in the store (``revoked-token:{jti}``, expiring when the token would
have), so every node and a restarted one refuse the token: the websocket asks the store
for each token this process does not know revoked. Each process also keeps the
revocations in memory (``Revocations.known``, forgotten once the token has expired), so
HTTP requests are checked without a store round trip; it learns the other nodes' on the
bus (``revocations`` channel) as they are made, and reads them all from the store at
start-up and whenever it subscribes again after the bus was away. When the store lost its
data (Redis restarted empty), the revocations known here are written back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

from classroom.errors import StoreUnavailable, TokenError
from classroom.identity import Identity
from classroom.ports import Bus, Store
from live.hub import CLOSE_REMOVED, Hub

log = logging.getLogger("classroom.revocation")

PREFIX = "revoked-token:"
CHANNEL = "revocations"
WITHDRAWN = "this link has been withdrawn by the trainer"
#: How long to wait before subscribing to the bus again after it failed.
RETRY_S = 1.0
StoreRef = Callable[[], Store]
BusRef = Callable[[], Bus]


class Revocations:
    """The revoked tokens: in the store for every node, and known to this process."""

    def __init__(
        self, store: StoreRef, bus: BusRef | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.store, self.bus, self.clock = store, bus, clock
        #: Revoked token ids known to this process, with when each token would have expired.
        self.known: dict[str, float] = {}
        #: Called with (room, jti) for each revocation learned from another node.
        self.on_learned: list[Callable[[str, str], None]] = []

    async def revoke(self, jti: str, until: float, now: float, room: str = "") -> None:
        """Refuse the token ``jti`` from now until ``until`` (its expiry), on every node."""
        self._remember(jti, until, now)
        await self.store().set(PREFIX + jti, str(until), ttl_s=max(1.0, until - now))
        if self.bus is None:
            return
        message = json.dumps({"jti": jti, "until": until, "room": room})
        try:
            await self.bus().publish(CHANNEL, message)
        except Exception as error:  # the others read it in the store (websocket, restart)
            log.warning("revocation not announced to the other nodes", extra={"why": str(error)})

    def _remember(self, jti: str, until: float, now: float) -> None:
        for expired in [j for j, u in self.known.items() if u <= now]:
            del self.known[expired]  # the token itself is refused now: forget it
        if until > now:
            self.known[jti] = until

    def learn(self, message: str) -> None:
        """Another node's revocation, as announced on the bus."""
        try:
            data = json.loads(message)
            jti, until, room = str(data["jti"]), float(data["until"]), str(data.get("room", ""))
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable revocation on the bus")
            return
        if jti in self.known:  # this node's own, or known already
            return
        self._remember(jti, until, self.clock())
        for hook in self.on_learned:
            hook(room, jti)

    async def follow(self, retry_s: float = RETRY_S) -> None:
        """Learn the other nodes' revocations until cancelled: as they are announced, and
        from the store each time the subscription is made again after the bus failed."""
        if self.bus is None:
            return
        failing = False
        while True:
            try:
                async for message in self.bus().subscribe(CHANNEL):
                    self.learn(message)
            except Exception as error:
                if not failing:
                    log.warning("revocations bus unavailable", extra={"why": str(error)})
                failing = True
            await asyncio.sleep(retry_s)
            if await self.load():
                failing = False

    async def write_back(self) -> None:
        """The store lost its data: write back the revocations still in force."""
        now = self.clock()
        for jti, until in list(self.known.items()):
            if until > now:
                await self.store().set(PREFIX + jti, str(until), ttl_s=max(1.0, until - now))

    async def is_revoked(self, identity: Identity) -> bool:
        """Whether the identity's token was revoked here or on another node."""
        if identity.jti is None:
            return False
        if identity.jti in self.known:
            return True
        try:
            return await self.store().get(PREFIX + identity.jti) is not None
        except StoreUnavailable:  # joining goes on: what this process knows decides meanwhile
            log.warning("revocations unchecked in the store", extra={"room": identity.room})
            return False

    def check(self, identity: Identity) -> Identity:
        """The identity, or TokenError when this process knows its token is revoked."""
        if identity.jti is not None and identity.jti in self.known:
            raise TokenError(WITHDRAWN, "withdrawn")
        return identity

    async def load(self) -> bool:
        """Learn the revocations the store holds (at start-up, and after the bus was
        away); False when the store could not be read."""
        store, now = self.store(), self.clock()
        try:
            for key in await store.keys(PREFIX):
                until = await store.get(key)
                if until is not None:
                    self._remember(key[len(PREFIX) :], float(until), now)
        except StoreUnavailable:  # the websocket asks the store again for each token
            log.warning("revoked tokens not loaded: the store is unavailable")
            return False
        return True


def close_pages_of_token(hub: Hub, room: str, jti: str) -> None:
    """Close every open page of ``room`` that came in with the token ``jti``."""
    live = hub.rooms.get(room)
    if live is None:
        return
    pages = [*live.connections.values(), *(c for cs in live.others.values() for c in cs)]
    for connection in pages:
        if connection.identity.jti == jti:
            connection.send({"type": "error", "code": "unauthorized", "message": WITHDRAWN})
            connection.close(CLOSE_REMOVED, "token withdrawn")
