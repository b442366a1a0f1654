"""Revoked tokens, by their ``jti``: an unpaired phone's, or any join link a trainer withdraws.

A revocation is kept in the store (``revoked-token:{jti}``, expiring when the token would
have) so that every node and a restarted one refuse the token at the websocket; this
process also keeps them in memory, so HTTP requests are checked without a store round trip.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from classroom.errors import StoreUnavailable, TokenError
from classroom.identity import Identity
from classroom.ports import Store
from live.hub import CLOSE_REMOVED, Hub

log = logging.getLogger("classroom.revocation")

PREFIX = "revoked-token:"
WITHDRAWN = "this link has been withdrawn by the trainer"
StoreRef = Callable[[], Store]


class Revocations:
    """The revoked tokens: in the store for every node, and known to this process."""

    def __init__(self, store: StoreRef) -> None:
        self.store = store
        #: Revoked token ids known to this process, with when each token would have expired.
        self.known: dict[str, float] = {}

    async def revoke(self, jti: str, until: float, now: float) -> None:
        """Refuse the token ``jti`` from now until ``until`` (its expiry)."""
        self.known[jti] = until
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
            raise TokenError(WITHDRAWN)
        return identity

    async def load(self) -> None:
        """Learn the revocations the store holds (at start-up)."""
        store = self.store()
        try:
            for key in await store.keys(PREFIX):
                until = await store.get(key)
                if until is not None:
                    self.known[key[len(PREFIX) :]] = float(until)
        except StoreUnavailable:  # the websocket asks the store again for each token
            log.warning("revoked tokens not loaded: the store is unavailable")


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
