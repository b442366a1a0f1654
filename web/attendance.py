"""Attendance records: every arrival and departure journaled, sessions kept, reports served.

The hub's listener turns room events into attendance commands (``classroom.attendance``);
what they change is appended, in order, to ``attendance:{room}`` by one background
writer, and each session is kept at ``sessions:{id}`` (its room's sessions in the hash
``room-sessions:{room}``). Reports replay the journal, so they outlive the process.
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
from classroom.attendance import Attendance, MarkAbsent, MarkPresent, session_window
from classroom.errors import Forbidden, NotFound
from classroom.identity import Identity
from classroom.permissions import Action, Role, can, require
from classroom.ports import Store
from classroom.session import Session
from web.api import authenticate
from web.charts import timeline_svg
from web.context import CATALOGUE, HUB, STORE
from web.hub import LiveRoom
from web.ws import Dispatcher

log = logging.getLogger("classroom.attendance")
PART = "attendance"
routes = web.RouteTableDef()
WRITER: web.AppKey[AttendanceWriter] = web.AppKey("attendance_writer")


def journal_key(room: str) -> str:
    return f"attendance:{room}"


class AttendanceWriter:
    """Stores attendance changes and sessions in the order they happened."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()  # op, key, value

    def put(self, op: str, key: str, value: str) -> None:
        self.queue.put_nowait((op, key, value))

    async def run(self, store: Store) -> None:
        while True:
            op, key, value = await self.queue.get()
            try:
                if op == "append":
                    await store.append(key, value)
                elif op == "session":
                    session = json.loads(value)
                    await store.set(f"sessions:{session['id']}", value)
                    await store.hset(f"room-sessions:{key}", session["id"], value)
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
        attendance = live.parts.get(PART)
        if not isinstance(attendance, Attendance):
            attendance = live.parts[PART] = Attendance(live.name)
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
            elif isinstance(event, rooms.SessionChanged):
                writer.put("session", live.name, json.dumps(event.session))
            if command is None:
                continue
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
            attendance.handle(MarkAbsent(entry["id"]), entry["at"])
    return attendance


async def session_for(request: web.Request, action: Action) -> tuple[Identity, Session]:
    """The session named in the path, if the caller may see it (their room, their role)."""
    identity = authenticate(request)
    require(identity.role, action)
    stored = await request.app[STORE].get(f"sessions:{request.match_info['session']}")
    if stored is None:
        raise NotFound("no such session")
    session = Session.from_json(json.loads(stored))
    if session.room != identity.room:
        raise Forbidden("that session is another room's")
    await request.app[WRITER].flush()
    return identity, session


def min_presence(request: web.Request, session: Session) -> float | None:
    if session.module_id is None:
        return None
    try:
        return request.app[CATALOGUE].module(session.module_id).min_presence
    except NotFound:
        return None


async def report(request: web.Request, session: Session) -> dict[str, Any]:
    attendance = await replay(request.app[STORE], session.room)
    now = request.app[HUB].clock()
    rule = min_presence(request, session)
    rows = attendance.report(session, now, rule)
    start, end = session_window(session, now)
    timeline = [
        {"id": p.id, "name": p.name, "role": p.role.value, "spans": [list(s) for s in spans]}
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
    identity = authenticate(request)
    require(identity.role, Action.VIEW_ATTENDANCE)
    if request.match_info["room"] != identity.room:
        raise Forbidden("you may see only your own room")
    await request.app[WRITER].flush()
    stored = await request.app[STORE].hgetall(f"room-sessions:{identity.room}")
    sessions = sorted((json.loads(v) for v in stored.values()), key=lambda s: s["started_at"] or 0)
    return web.json_response({"sessions": sessions})


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


def csv_cell(value: Any) -> str:
    """A cell a spreadsheet will not run as a formula (free text comes from participants)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_response(filename: str, columns: list[str], rows: list[list[Any]]) -> web.Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([[csv_cell(v) for v in row] for row in rows])
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def setup(app: web.Application, dispatcher: Dispatcher) -> None:
    """Plug attendance into the app: the hub listener, its writer, the reports."""
    writer = app[WRITER] = AttendanceWriter()
    app[HUB].listeners.append(listener(writer))

    async def writer_ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(writer.run(app[STORE]))
        yield
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.flush(), 5)  # what happened before shutdown is kept
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(writer_ctx)
    app.router.add_routes(routes)
