"""Attendance records: every arrival and departure journaled, sessions kept, reports served.

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
import contextlib
import csv
import datetime
import io
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

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
from classroom.errors import NotFound
from classroom.identity import Identity
from classroom.permissions import Action, Role, can
from classroom.ports import Store
from classroom.session import Session, SessionState
from live.charts import timeline_svg
from live.hub import Hub, LiveRoom
from live.room_records import room_sessions_key, save_session, session_key
from web.api import authorize, own_room
from web.context import CATALOGUE, HUB, SETTINGS, STORE
from web.ws import Dispatcher

log = logging.getLogger("classroom.attendance")
routes = web.RouteTableDef()
WRITER: web.AppKey[AttendanceWriter] = web.AppKey("attendance_writer")
MARK_EVERY_S = 15.0  # how often each room this process serves is marked live
STALE_AFTER_S = 4 * MARK_EVERY_S  # a mark older than this: no process serves the room


def journal_key(room: str) -> str:
    return f"attendance:{room}"


def alive_key(room: str) -> str:
    return f"room-alive:{room}"


def liveness_mark(at: float, node: str) -> str:
    return json.dumps({"at": at, "node": node})


class AttendanceWriter:
    """Stores attendance changes and liveness marks in the order they happened (sessions are
    stored by the room before it is told: ``live.room_records``)."""

    def __init__(self, hub: Hub, node: str) -> None:
        self.hub, self.node = hub, node
        self.queue: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()  # op, key, value

    def put(self, op: str, key: str, value: str) -> None:
        self.queue.put_nowait((op, key, value))

    async def run(self, store: Store) -> None:
        while True:
            op, key, value = await self.queue.get()
            try:
                if op == "append":
                    await store.append(key, value)
                elif op == "mark":
                    await store.set(alive_key(key), value)
                elif op == "recover":
                    await recover(store, key, self.hub.clock(), self.node)
            except Exception:
                log.exception("could not store attendance", extra={"key": key})
            finally:
                self.queue.task_done()

    async def flush(self) -> None:
        await self.queue.join()


def _viewers(live: LiveRoom) -> tuple[str, ...]:
    return tuple(p.id for p in live.core.present() if can(p.role, Action.VIEW_ATTENDANCE))


def listener(writer: AttendanceWriter) -> Any:
    """A hub listener: room events in, attendance changes journaled and told to trainers."""

    def on_events(live: LiveRoom, events: list[rooms.Event]) -> None:
        now = live.hub.clock()
        for event in events:
            command: MarkPresent | MarkAbsent | None = None
            if isinstance(event, rooms.ParticipantJoined):
                who = event.participant
                conn = live.connections.get(who["id"])
                device = conn.identity.device if conn is not None else None
                role = Role(who["role"])
                command = MarkPresent(who["id"], who["name"], role, device, _viewers(live))
            elif isinstance(event, rooms.ParticipantDisconnected | rooms.ParticipantLeft):
                command = MarkAbsent(event.id, _viewers(live))
            if command is None:
                continue
            attendance = live.attendance
            if attendance is None:
                # The first arrival here: this process serves the room from now on. What a
                # stopped server left open is closed before anything new is journaled (the
                # writer keeps this order), then the room is marked live.
                attendance = live.attendance = Attendance(live.name)
                writer.put("recover", live.name, "")
            changed = attendance.handle(command, now)
            if changed:
                entry = {"at": now, **{k: v for k, v in vars(command).items() if k != "viewers"}}
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


async def stopped_at(app: web.Application, attendance: Attendance) -> float | None:
    """When the room's last server stopped, if no process serves the room now; None while
    one does: this one, or one whose liveness mark is fresh."""
    live = app[HUB].rooms.get(attendance.room)
    if live is not None and live.attendance is not None:
        return None
    mark = await last_mark(app[STORE], attendance.room)
    if mark is not None and app[HUB].clock() - mark["at"] < STALE_AFTER_S:
        return None
    return last_alive(mark, attendance)


async def settled(app: web.Application, room: str) -> tuple[Attendance, float | None]:
    """The room's attendance as reports see it, and when its server stopped (None: it did
    not, or is still live somewhere). Closings happen in memory only: the process that
    next serves the room journals the same ones (the mark and journal have not moved)."""
    attendance = await replay(app[STORE], room)
    at = await stopped_at(app, attendance)
    if at is None or not close_open(attendance, at, app[HUB].clock()):
        return attendance, None
    return attendance, at


async def session_for(request: web.Request, action: Action) -> tuple[Identity, Session]:
    """The session named in the path, if the caller may see it (their room, their role)."""
    identity = authorize(request, action)
    await request.app[WRITER].flush()  # the session as last changed, and what came before
    stored = await request.app[STORE].get(session_key(request.match_info["session"]))
    if stored is None:
        raise NotFound("no such session")
    session = Session.from_json(json.loads(stored))
    own_room(identity, session.room)
    return identity, session


def min_presence(request: web.Request, session: Session) -> float | None:
    if session.module_id is None:
        return None
    try:
        return request.app[CATALOGUE].module(session.module_id).min_presence
    except NotFound:
        return None


async def report(request: web.Request, session: Session) -> dict[str, Any]:
    """The session's attendance; a session its stopped server left live ends (here, in
    memory) when that server stopped, with the reason."""
    attendance, stopped = await settled(request.app, session.room)
    if stopped is not None and session.state is SessionState.LIVE:
        session.end(stopped, SERVER_STOPPED)
    now = request.app[HUB].clock()
    rule = min_presence(request, session)
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


@routes.get("/api/rooms/{room}/sessions")
async def room_sessions(request: web.Request) -> web.Response:
    identity = authorize(request, Action.VIEW_ATTENDANCE)
    await request.app[WRITER].flush()
    stored = await request.app[STORE].hgetall(room_sessions_key(identity.room))
    sessions = [Session.from_json(json.loads(v)) for v in stored.values()]
    if any(s.state is SessionState.LIVE for s in sessions):
        _, stopped = await settled(request.app, identity.room)
        for session in sessions:
            if stopped is not None and session.state is SessionState.LIVE:
                session.end(stopped, SERVER_STOPPED)
    sessions.sort(key=lambda s: s.started_at or 0)
    return web.json_response({"sessions": [s.to_json() for s in sessions]})


@routes.get("/api/sessions/{session}/attendance")
async def attendance_json(request: web.Request) -> web.Response:
    _, session = await session_for(request, Action.VIEW_ATTENDANCE)
    return web.json_response(await report(request, session))


ATTENDANCE_COLUMNS = [
    "session_id",
    "participant_id",
    "name",
    "role",
    "device",
    "joins",
    "first_joined",
    "last_left",
    "seconds_present",
    "share",
    "completed",
    "server_stops",
]


@routes.get("/api/sessions/{session}/attendance.csv")
async def attendance_csv(request: web.Request) -> web.Response:
    _, session = await session_for(request, Action.VIEW_ATTENDANCE)
    data = await report(request, session)
    rows = [
        [
            session.id,
            row["id"],
            row["name"],
            row["role"],
            row["device"] or "",
            row["joins"],
            iso(row["first_joined"]),
            iso(row["last_left"]),
            f"{row['seconds_present']:.0f}",
            f"{row['share']:.4f}",
            {True: "yes", False: "no", None: ""}[row["completed"]],
            row["server_stops"],
        ]
        for row in data["rows"]
    ]
    return csv_response(f"attendance-{session.id}.csv", ATTENDANCE_COLUMNS, rows)


@routes.get("/api/sessions/{session}/timeline.svg")
async def attendance_svg(request: web.Request) -> web.Response:
    _, session = await session_for(request, Action.VIEW_ATTENDANCE)
    data = await report(request, session)
    start, end = session_window(session, request.app[HUB].clock())
    svg = timeline_svg(data["timeline"], start, end, title=session.title)
    return web.Response(text=svg, content_type="image/svg+xml")


def iso(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat(timespec="seconds")


#: What starts a formula in a spreadsheet cell, and what may end a field before one: the
#: list separators a spreadsheet might split on (Excel in sr, bs, mk, sq, fr, tr uses ";").
_FORMULA_START = frozenset("=+-@\t\r")
_SEPARATORS = frozenset(",;|\t\r\n")


def csv_cell(value: Any) -> str:
    """A cell no spreadsheet runs as a formula, whatever its list separator: a ``'`` goes
    before every formula character that could start a field (at the start, or after a
    separator and spaces). Free text comes from participants; ``csv_response`` also
    quotes every cell."""
    out: list[str] = []
    field_start = True
    for char in str(value):
        if field_start and char in _FORMULA_START:
            out.append("'")
        out.append(char)
        field_start = char in _SEPARATORS or (field_start and char == " ")
    return "".join(out)


def csv_response(filename: str, columns: list[str], rows: list[list[Any]]) -> web.Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    writer.writerow(columns)
    writer.writerows([[csv_cell(v) for v in row] for row in rows])
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def setup(app: web.Application, dispatcher: Dispatcher) -> None:
    """Plug attendance into the app: the hub listener, its writer, the liveness marks, the
    reports."""
    hub = app[HUB]
    writer = app[WRITER] = AttendanceWriter(hub, app[SETTINGS].node_id)
    hub.listeners.append(listener(writer))

    async def mark_served_rooms() -> None:
        while True:
            await asyncio.sleep(MARK_EVERY_S)
            for live in list(hub.rooms.values()):
                if live.attendance is not None:
                    writer.put("mark", live.name, liveness_mark(hub.clock(), writer.node))

    async def writer_ctx(app: web.Application) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(writer.run(app[STORE])), loop.create_task(mark_served_rooms())]
        yield
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.flush(), 5)  # what happened before shutdown is kept
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.cleanup_ctx.append(writer_ctx)
    app.router.add_routes(routes)
