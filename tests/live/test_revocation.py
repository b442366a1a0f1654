"""Revoked tokens in one process: kept in the store for the others, learned from the bus,
forgotten once the token itself has expired."""

from __future__ import annotations

import json

import pytest

from classroom.errors import TokenError
from classroom.identity import Identity
from classroom.permissions import Role
from live.revocation import PREFIX, Revocations
from live.store import MemoryStore


class Announcements:
    """A bus that keeps what is published."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str]] = []

    async def publish(self, channel: str, message: str) -> None:
        self.published.append((channel, message))


def guest(jti: str) -> Identity:
    return Identity("g", "Guest", "demo", Role.TRAINEE, None, 2000, 900, jti=jti)


async def test_a_revocation_is_stored_until_the_token_expires_and_announced() -> None:
    store, bus, now = MemoryStore(), Announcements(), [1000.0]
    here = Revocations(lambda: store, lambda: bus, clock=lambda: now[0])  # type: ignore[arg-type, return-value]
    there = Revocations(lambda: store, clock=lambda: now[0])
    learned: list[tuple[str, str]] = []
    there.on_learned.append(lambda room, jti: learned.append((room, jti)))
    await here.revoke("link-1", 2000.0, 1000.0, "demo")
    ((channel, message),) = bus.published
    assert channel == "revocations"
    there.learn(message)
    assert learned == [("demo", "link-1")]
    assert await store.get(PREFIX + "link-1") == "2000.0"
    with pytest.raises(TokenError):
        there.check(guest("link-1"))
    assert await there.is_revoked(guest("link-1"))
    there.learn(json.dumps({"jti": "link-1", "until": 2000.0, "room": "demo"}))
    assert learned == [("demo", "link-1")]  # known already: told once

    now[0] = 2001.0  # the token has expired by itself: nothing to remember
    there.learn(json.dumps({"jti": "link-2", "until": 3000.0, "room": "demo"}))
    assert set(there.known) == {"link-2"}
    there.learn("not json")  # ignored, logged


async def test_a_restarted_process_loads_them_and_writes_them_back_when_the_store_lost_them() -> (
    None
):
    store = MemoryStore()
    first = Revocations(lambda: store, clock=lambda: 1000.0)
    await first.revoke("link-1", 2000.0, 1000.0)
    restarted = Revocations(lambda: store, clock=lambda: 1000.0)
    assert await restarted.load()
    assert restarted.known == {"link-1": 2000.0}
    await store.delete(PREFIX + "link-1")  # as if Redis came back empty
    await restarted.write_back()
    assert await store.get(PREFIX + "link-1") == "2000.0"
