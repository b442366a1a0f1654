"""A session's poll and quiz results over HTTP: JSON, CSV, charts (SVG) and xAPI
statements, built by the results service (``live.results.Results``); the report page."""

from __future__ import annotations

from aiohttp import web

from classroom.permissions import Action
from live.results import RESULT_COLUMNS, Results
from web.attendance import csv_response, report, session_for
from web.i18n import negotiate, words
from web.pages import render
from web.ws import Dispatcher

RESULTS = web.AppKey("results", Results)
routes = web.RouteTableDef()


@routes.get("/sessions/{session}/report")
async def report_page(request: web.Request) -> web.Response:
    """A session's attendance timeline, result charts and downloads (CSV, xAPI), for trainers;
    its script reads everything with this tab's join token."""
    return render(request, "report.html", session=request.match_info["session"])


@routes.get("/api/sessions/{session}/results")
async def results_json(request: web.Request) -> web.Response:
    _, session = await session_for(request, Action.VIEW_RESULTS)
    return web.json_response(await request.app[RESULTS].json(session))


@routes.get("/api/sessions/{session}/results.csv")
async def results_csv(request: web.Request) -> web.Response:
    _, session = await session_for(request, Action.VIEW_RESULTS)
    rows = await request.app[RESULTS].rows(session)
    return csv_response(f"results-{session.id}.csv", RESULT_COLUMNS, rows)


@routes.get("/api/sessions/{session}/charts.svg")
async def results_svg(request: web.Request) -> web.Response:
    identity, session = await session_for(request, Action.VIEW_RESULTS)
    lang = negotiate(request, identity.lang)  # the reader's: ?lang=, their link's, browser's
    svg = await request.app[RESULTS].svg(session, words(lang))
    return web.Response(text=svg, content_type="image/svg+xml")


@routes.get("/api/sessions/{session}/xapi")
async def results_xapi(request: web.Request) -> web.Response:
    """The session's results and attendance as xAPI statements (for a learning record store)."""
    _, session = await session_for(request, Action.VIEW_RESULTS)
    attendance = await report(request, session)
    body = await request.app[RESULTS].xapi(session, attendance["rows"])
    return web.json_response({"statements": body})


def setup(app: web.Application, dispatcher: Dispatcher, service: Results) -> None:
    """Plug the session results into the app (HTTP only)."""
    app[RESULTS] = service
    app.router.add_routes(routes)
