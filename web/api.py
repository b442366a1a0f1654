"""The JSON API under /api, authenticated with a bearer join token."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from classroom.identity import Identity, verify_token
from classroom.permissions import PERMISSIONS
from web.context import CATALOGUE, KEYS
from web.ws import bearer_token

OPENAPI_FILE = Path(__file__).with_name("openapi.json")
routes = web.RouteTableDef()


def authenticate(request: web.Request) -> Identity:
    """The identity of the request's bearer token (TokenError -> 401 by the middleware)."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.startswith("Bearer ") else bearer_token(request)
    return verify_token(token, request.app[KEYS].policy, int(time.time()))


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    identity = authenticate(request)
    body: dict[str, Any] = identity.to_json()
    body["permissions"] = sorted(a.value for a in PERMISSIONS[identity.role])
    return web.json_response(body)


@routes.get("/api/modules")
async def modules(request: web.Request) -> web.Response:
    authenticate(request)
    catalogue = request.app[CATALOGUE]
    return web.json_response(
        {
            "topics": [
                {"id": topic.id, "title": topic.title, "modules": [m.to_json() for m in mods]}
                for topic, mods in catalogue.by_topic()
            ]
        }
    )


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(json.loads(OPENAPI_FILE.read_text()))
