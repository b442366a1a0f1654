"""What a room keeps across restarts, written before anyone is told of it: its sessions
(started, ended) and who is banned from it (removed or refused, until a trainer lifts it).

``save`` is the room's repository step of ``LiveRoom.execute``: the events of a command
are stored first, then delivered, so a session a trainer was told has started, or a
removal they were told has happened, survives a crash. ``restore`` gives a room that a
process opens again what it had.
"""

from __future__ import annotations

import json

from classroom.ports import Store
from classroom.room import BanChanged, Event, Room, SessionChanged


def session_key(session_id: str) -> str:
    return f"sessions:{session_id}"


def room_sessions_key(room: str) -> str:
    return f"room-sessions:{room}"


def bans_key(room: str) -> str:
    return f"room-bans:{room}"


async def save_session(store: Store, value: str) -> None:
    """One session, by its id and in its room's list (a report reads either)."""
    session = json.loads(value)
    await store.set(session_key(session["id"]), value)
    await store.hset(room_sessions_key(session["room"]), session["id"], value)


async def save(store: Store, room: str, events: list[Event]) -> None:
    """Store what of these events must survive the process, in order."""
    for event in events:
        if isinstance(event, SessionChanged):
            await save_session(store, json.dumps(event.session))
        elif isinstance(event, BanChanged):
            if event.banned:
                await store.hset(bans_key(room), event.id, event.name)
            else:
                await store.hdel(bans_key(room), event.id)


async def load_bans(store: Store, room: str) -> dict[str, str]:
    """Who is banned from the room (id -> name)."""
    return await store.hgetall(bans_key(room))


async def resync(store: Store, room: str, core: Room) -> None:
    """Write back what a live room holds that must be kept (its session, who is banned),
    after the store lost its data; writing it twice changes nothing."""
    if core.session is not None:
        await save_session(store, json.dumps(core.session.to_json()))
    for pid, name in core.banned.items():
        await store.hset(bans_key(room), pid, name)
