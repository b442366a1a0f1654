"""HTML pages (jinja2 templates) and the health check."""

from __future__ import annotations

import time

import jinja2
from aiohttp import web

from classroom.errors import TokenError
from classroom.identity import verify_token
from web import __version__
from web.context import CATALOGUE, KEYS, SETTINGS
from web.i18n import TEMPLATES, negotiate

routes = web.RouteTableDef()


def render(request: web.Request, name: str, status: int = 200, **context: object) -> web.Response:
    lang = negotiate(request, context.pop("lang", None))  # type: ignore[arg-type]
    env: jinja2.Environment = request.app[TEMPLATES]
    html = env.get_template(name).render(lang=lang, **context)
    headers = {
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob:; connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    return web.Response(text=html, content_type="text/html", status=status, headers=headers)


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return web.json_response({"status": "ok", "version": __version__, "node": settings.node_id})


@routes.get("/")
async def landing(request: web.Request) -> web.Response:
    return render(request, "landing.html", catalogue=request.app[CATALOGUE].by_topic())


@routes.get("/join")
async def join(request: web.Request) -> web.Response:
    token = request.query.get("token", "")
    if not token:
        # A reload after join.js took the token out of the address bar: the tab
        # still holds it, and the page fetches it back from there.
        return render(request, "rejoin.html")
    try:
        identity = verify_token(token, request.app[KEYS].policy, int(time.time()))
    except TokenError as error:
        return render(request, "refused.html", status=401, reason=error.message)
    return render(
        request,
        "classroom.html",
        lang=identity.lang,
        identity=identity,
        autojoin=request.query.get("autojoin") == "1",
    )
