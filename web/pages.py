"""HTML pages (jinja2 templates) and the health check."""

from __future__ import annotations

import asyncio
import time

import jinja2
from aiohttp import web

from classroom.errors import TokenError
from classroom.identity import claimed_language, verify_token
from web import __version__
from web.context import CATALOGUE, KEYS, REVOCATIONS, SETTINGS, STORE
from web.i18n import TEMPLATES, negotiate

routes = web.RouteTableDef()


def render(request: web.Request, name: str, status: int = 200, **context: object) -> web.Response:
    """A page in its reader's language (``web.i18n.negotiate``): ``?lang=``, else the
    language the page's caller knows (``lang``: a verified token's), else the one the
    join link in ``?token=`` names (only to choose words: the page's script presents
    the token itself), else the browser's."""
    preferred = context.pop("lang", None) or claimed_language(request.query.get("token", ""))
    lang = negotiate(request, preferred)  # type: ignore[arg-type]
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


STORE_CHECK_S = 1.0


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Up, and whether the store answers: without it the live class goes on (media, chat),
    but what must be kept cannot be written, so the node is ``degraded``."""
    settings = request.app[SETTINGS]
    body: dict[str, object] = {"status": "ok", "version": __version__, "node": settings.node_id}
    try:
        await asyncio.wait_for(request.app[STORE].get("healthz"), STORE_CHECK_S)
    except Exception as error:  # unreachable, paused, refusing: all say the same to operators
        body["status"] = "degraded"
        body["problems"] = [f"the store does not answer: {type(error).__name__}"]
    return web.json_response(body)


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
        request.app[REVOCATIONS].check(identity)  # a link the trainer withdrew
    except TokenError as error:
        # Said by its reason's code, in the page's language: ?lang=, else the one the
        # link names (even an expired link names it), else the browser's (render).
        return render(request, "refused.html", status=401, reason=error.reason)
    return render(
        request,
        "classroom.html",
        lang=identity.lang,
        identity=identity,
        autojoin=request.query.get("autojoin") == "1",
    )
