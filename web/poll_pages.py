"""HTML pages of polls and results: the polls page, and a session's report for trainers.

Both pages carry no token in what the server renders: the browser keeps the join token
(join.js takes it out of the address bar) and the page's script uses it for /ws and /api.
"""

from __future__ import annotations

from aiohttp import web

from web.pages import render
from web.ws import Dispatcher

routes = web.RouteTableDef()


@routes.get("/polls")
async def polls_page(request: web.Request) -> web.Response:
    """Polls and quizzes alone, for any participant: a trainer's second screen, a room device."""
    return render(request, "polls.html")


@routes.get("/sessions/{session}/report")
async def report_page(request: web.Request) -> web.Response:
    """A session's attendance timeline, result charts and downloads (CSV, xAPI)."""
    return render(request, "report.html", session=request.match_info["session"])


def setup(app: web.Application, dispatcher: Dispatcher) -> None:
    """Plug the pages into the app."""
    app.router.add_routes(routes)
