"""Attendance over HTTP: a room's sessions, a session's report as JSON, CSV and a timeline
picture. What is journaled and how reports are built is ``live.attendance``.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from classroom.attendance import session_window
from classroom.identity import Identity
from classroom.permissions import Action
from classroom.session import Session
from live.attendance import AttendanceService
from live.charts import timeline_svg
from live.results import iso
from web.api import authorize, own_room
from web.context import CATALOGUE, HUB, SETTINGS, STORE
from web.i18n import negotiate, words
from web.ws import Dispatcher

routes = web.RouteTableDef()
ATTENDANCE: web.AppKey[AttendanceService] = web.AppKey("attendance", AttendanceService)


async def session_for(request: web.Request, action: Action) -> tuple[Identity, Session]:
    """The session named in the path, if the caller may see it (their room, their role)."""
    identity = authorize(request, action)
    session = await request.app[ATTENDANCE].session(request.match_info["session"])
    own_room(identity, session.room)
    return identity, session


async def report(request: web.Request, session: Session) -> dict[str, Any]:
    """The session's attendance report (``live.attendance.AttendanceService.report``)."""
    return await request.app[ATTENDANCE].report(session)


@routes.get("/api/rooms/{room}/sessions")
async def room_sessions(request: web.Request) -> web.Response:
    identity = authorize(request, Action.VIEW_ATTENDANCE)
    sessions = await request.app[ATTENDANCE].sessions(identity.room)
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
    identity, session = await session_for(request, Action.VIEW_ATTENDANCE)
    data = await report(request, session)
    start, end = session_window(session, request.app[HUB].clock())
    reader = words(negotiate(request, identity.lang))  # ?lang=, their link's, their browser's
    svg = timeline_svg(data["timeline"], start, end, session.title, reader)
    return web.Response(text=svg, content_type="image/svg+xml")


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
    """Plug attendance into the app: the service (its hub listener and writer), the
    liveness marks, the reports."""
    service = app[ATTENDANCE] = AttendanceService(
        app[HUB], app[SETTINGS].node_id, lambda: app[STORE], app[CATALOGUE]
    )
    writer = service.writer

    async def writer_ctx(app: web.Application) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        tasks = [
            loop.create_task(writer.run(app[STORE])),
            loop.create_task(service.mark_served_rooms()),
        ]
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
