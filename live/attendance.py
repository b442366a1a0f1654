"""Attendance: every arrival and departure journaled, sessions kept, reports built.

The hub's listener turns room events into attendance commands (``classroom.attendance``);
what they change is appended, in order, to ``attendance:{room}`` by one background
writer; sessions are kept by the room itself before it is told (``live.room_records``).
Reports replay the journal, so they outlive the process.

A process that serves a room marks it live every ``MARK_EVERY_S`` at ``room-alive:{room}``
(one write a room, not a participant). If the process dies unseen, nobody's departure
is journaled: the next process to serve the room first closes what was left open at the
last sign of life (the latest of the mark and the journal), journaled with the reason
``server_stopped``; and a report for a room that no process serves any more (its mark
is older than ``STALE_AFTER_S``) closes them the same way, in memory. One room is served
by one process at a time: a fresh mark means another process may be serving it, and a
report then leaves its intervals open.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from classroom import room as rooms
from classroom.attendance import (
    SERVER_STOPPED,
    Attendance,
    CloseOpen,
    MarkAbsent,
    MarkPresent,
    PresenceRecorded,
    session_window,
)
from classroom.catalogue import Catalogue
from classroom.errors import NotFound, StoreUnavailable
from classroom.permissions import Role
from classroom.ports import Store
from classroom.session import Session, SessionState
from live.hub import Hub, LiveRoom
from live.room_records import room_sessions_key, save_session, session_key

log = logging.getLogger("classroom.attendance")
MARK_EVERY_S = 15.0  # how often each room this process serves is marked live
STALE_AFTER_S = 4 * MARK_EVERY_S  # a mark older than this: no process serves the room


def journal_key(room: str) -> str:
    return f"attendance:{room}"


def alive_key(room: str) -> str:
    return f"room-alive:{room}"


def liveness_mark(at: float, node: str) -> str:
    return json.dumps({"at": at, "node": node})


#: How long the writer waits before trying the store again after it was unavailable.
RETRY_S = 1.0


class AttendanceWriter:
    """Stores attendance changes and liveness marks in the order they happened (sessions are
    stored by the room before it is told: ``live.room_records``).

    While the store is unavailable, nothing is dropped: the change at the head of the
    queue is tried again every ``retry_s`` and those after it wait in memory, in order,
    until the store answers again (what trainers were told of arrivals and departures is
    then journaled as it happened)."""

    def __init__(self, hub: Hub, node: str, retry_s: float = RETRY_S) -> None:
        self.hub, self.node, self.retry_s = hub, node, retry_s
        self.queue: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()  # op, key, value
        self.held = False  # waiting for the store to come back

    def put(self, op: str, key: str, value: str) -> None:
        self.queue.put_nowait((op, key, value))

    async def run(self, store: Store) -> None:
        while True:
            op, key, value = await self.queue.get()
            try:
                await self._write_when_possible(store, op, key, value)
            finally:
                self.queue.task_done()

    async def _write_when_possible(self, store: Store, op: str, key: str, value: str) -> None:
        while True:
            try:
                await self._write(store, op, key, value)
            except StoreUnavailable:
                if not self.held:
                    log.warning("attendance held in memory until the store is back",
                                extra={"key": key, "waiting": self.queue.qsize() + 1})  # fmt: skip
                self.held = True
                await asyncio.sleep(self.retry_s)
                continue
            except Exception:
                log.exception("could not store attendance", extra={"key": key})
            if self.held:
                log.warning("the store is back: attendance held in memory is being written",
                            extra={"waiting": self.queue.qsize()})  # fmt: skip
            self.held = False
            return

    async def _write(self, store: Store, op: str, key: str, value: str) -> None:
        if op == "append":
            await store.append(key, value)
        elif op == "mark":
            await store.set(alive_key(key), value)
        elif op == "recover":  # replayed again when tried again: it closes nothing twice
            await recover(store, key, self.hub.clock(), self.node)

    async def flush(self) -> None:
        """Wait until every change is stored; StoreUnavailable at once while the store is
        away (the changes stay queued)."""
        if self.held:
            raise StoreUnavailable("attendance is waiting for the store")
        await self.queue.join()


def listener(writer: AttendanceWriter) -> Any:
    """A hub listener: room events in, attendance changes journaled and told to trainers
    (whom ``Attendance`` finds in the room's roster, the room core)."""

    def on_events(live: LiveRoom, events: list[rooms.Event]) -> None:
        now = live.hub.clock()
        for event in events:
            command: MarkPresent | MarkAbsent | None = None
            if isinstance(event, rooms.ParticipantJoined):
                who = event.participant
                conn = live.connections.get(who["id"])
                device = conn.identity.device if conn is not None else None
                role = Role(who["role"])
                command = MarkPresent(who["id"], who["name"], role, device)
            elif isinstance(event, rooms.ParticipantDisconnected | rooms.ParticipantLeft):
                command = MarkAbsent(event.id)
            if command is None:
                continue
            attendance = live.attendance
            if attendance is None:
                # The first arrival here: this process serves the room from now on. What a
                # stopped server left open is closed before anything new is journaled (the
                # writer keeps this order), then the room is marked live.
                attendance = live.attendance = Attendance(live.name, live.core)
                writer.put("recover", live.name, "")
            changed = attendance.handle(command, now)
            if changed:
                entry = {"at": now, **vars(command)}
                entry["present"] = isinstance(command, MarkPresent)
                writer.put("append", journal_key(live.name), json.dumps(entry))
                live.deliver(changed)

    return on_events


async def replay(store: Store, room: str) -> Attendance:
    """The room's attendance rebuilt from its journal."""
    attendance = Attendance(room)
    for line in await store.range(journal_key(room)):
        entry = json.loads(line)
        if entry.pop("present"):
            at = entry.pop("at")
            attendance.handle(MarkPresent(**{**entry, "role": Role(entry["role"])}), at)
        else:
            attendance.handle(MarkAbsent(entry["id"], reason=entry.get("reason")), entry["at"])
    return attendance


async def last_mark(store: Store, room: str) -> dict[str, Any] | None:
    stored = await store.get(alive_key(room))
    return json.loads(stored) if stored is not None else None


def last_alive(mark: dict[str, Any] | None, attendance: Attendance) -> float | None:
    """The last moment the room's server is known to have been up: its latest liveness
    mark, or a later arrival or departure it journaled."""
    moments = [float(mark["at"])] if mark is not None else []
    if attendance.last_change is not None:
        moments.append(attendance.last_change)
    return max(moments, default=None)


def close_open(attendance: Attendance, at: float, now: float) -> list[PresenceRecorded]:
    """Close what a stopped server left open at ``at``: the departures it never saw."""
    closed = attendance.handle(CloseOpen(at, SERVER_STOPPED), now)
    return [e for e in closed if isinstance(e, PresenceRecorded)]


async def recover(store: Store, room: str, now: float, node: str) -> None:
    """Take the room over: close and journal what its last server left open, end a session
    it left live, and mark the room live here.

    Runs before this process journals anything of the room (the writer's order). One room
    is served by one process, so a process that has the room's participants is its only
    server: whatever is still open was left by a server that stopped unseen.
    """
    attendance = await replay(store, room)
    mark = await last_mark(store, room)
    at = last_alive(mark, attendance)
    closed = close_open(attendance, at, now) if at is not None else []
    for event in closed:
        entry = {"at": event.at, "id": event.id, "present": False, "reason": SERVER_STOPPED}
        await store.append(journal_key(room), json.dumps(entry))
    if closed and at is not None:
        for value in (await store.hgetall(room_sessions_key(room))).values():
            session = Session.from_json(json.loads(value))
            if session.state is SessionState.LIVE:
                session.end(at, SERVER_STOPPED)
                await save_session(store, json.dumps(session.to_json()))
        fresh = mark is not None and now - mark["at"] < STALE_AFTER_S
        log.warning(
            "the room's last server stopped unseen: its open attendance closed at its last "
            "sign of life",
            extra={"room": room, "closed": len(closed), "at": at, "fresh_mark": fresh},
        )
    await store.set(alive_key(room), liveness_mark(now, node))


class AttendanceService:
    """Attendance of this process's rooms: the hub listener and its writer, the liveness
    marks, and the reports. The store is opened at start-up, after this service is made:
    ``store()`` gives it."""

    def __init__(
        self, hub: Hub, node: str, store: Callable[[], Store], catalogue: Catalogue
    ) -> None:
        self.hub, self.store, self.catalogue = hub, store, catalogue
        self.writer = AttendanceWriter(hub, node)
        hub.listeners.append(listener(self.writer))

    async def mark_served_rooms(self) -> None:
        """Every ``MARK_EVERY_S``, mark each room this process serves as live (runs until
        cancelled)."""
        while True:
            await asyncio.sleep(MARK_EVERY_S)
            for live in list(self.hub.rooms.values()):
                if live.attendance is not None:
                    mark = liveness_mark(self.hub.clock(), self.writer.node)
                    self.writer.put("mark", live.name, mark)

    async def stopped_at(self, attendance: Attendance) -> float | None:
        """When the room's last server stopped, if no process serves the room now; None
        while one does: this one, or one whose liveness mark is fresh."""
        live = self.hub.rooms.get(attendance.room)
        if live is not None and live.attendance is not None:
            return None
        mark = await last_mark(self.store(), attendance.room)
        if mark is not None and self.hub.clock() - mark["at"] < STALE_AFTER_S:
            return None
        return last_alive(mark, attendance)

    async def settled(self, room: str) -> tuple[Attendance, float | None]:
        """The room's attendance as reports see it, and when its server stopped (None: it
        did not, or is still live somewhere). Closings happen in memory only: the process
        that next serves the room journals the same ones (the mark and journal have not
        moved)."""
        attendance = await replay(self.store(), room)
        at = await self.stopped_at(attendance)
        if at is None or not close_open(attendance, at, self.hub.clock()):
            return attendance, None
        return attendance, at

    async def session(self, session_id: str) -> Session:
        """A session as last changed (NotFound if there is none)."""
        await self.writer.flush()  # the session as last changed, and what came before
        stored = await self.store().get(session_key(session_id))
        if stored is None:
            raise NotFound("no such session")
        return Session.from_json(json.loads(stored))

    async def sessions(self, room: str) -> list[Session]:
        """The room's sessions, oldest first; one its stopped server left live ends then."""
        await self.writer.flush()
        stored = await self.store().hgetall(room_sessions_key(room))
        sessions = [Session.from_json(json.loads(v)) for v in stored.values()]
        if any(s.state is SessionState.LIVE for s in sessions):
            _, stopped = await self.settled(room)
            for session in sessions:
                if stopped is not None and session.state is SessionState.LIVE:
                    session.end(stopped, SERVER_STOPPED)
        sessions.sort(key=lambda s: s.started_at or 0)
        return sessions

    def min_presence(self, session: Session) -> float | None:
        """The share of the session its module asks a trainee to attend, if any."""
        if session.module_id is None:
            return None
        try:
            return self.catalogue.module(session.module_id).min_presence
        except NotFound:
            return None

    async def report(self, session: Session) -> dict[str, Any]:
        """The session's attendance; a session its stopped server left live ends (here, in
        memory) when that server stopped, with the reason."""
        attendance, stopped = await self.settled(session.room)
        if stopped is not None and session.state is SessionState.LIVE:
            session.end(stopped, SERVER_STOPPED)
        now = self.hub.clock()
        rule = self.min_presence(session)
        rows = attendance.report(session, now, rule)
        start, end = session_window(session, now)
        timeline = [
            {
                "id": p.id,
                "name": p.name,
                "role": p.role.value,
                "spans": [[s.began, s.left] for s in spans],
                "reasons": [s.reason for s in spans],
            }
            for p, spans in attendance.timeline(start, end)
        ]
        return {
            "session": session.to_json(),
            "min_presence": rule,
            "rows": [row.to_json() for row in rows],
            "timeline": timeline,
        }
