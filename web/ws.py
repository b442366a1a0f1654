"""The websocket endpoint: authenticate at the handshake, then check and dispatch messages.

Every client message is a JSON object with a ``type``; each type is registered
with a pydantic model (unknown fields refused) and a handler. A message that is
not JSON, has a duplicated key, an unknown type or invalid fields gets an
``error`` reply and the connection stays up. docs/protocol.md lists them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pydantic
from aiohttp import WSCloseCode, WSMsgType, web

from classroom.errors import ClassroomError, TokenError
from classroom.identity import verify_token
from classroom.room import Disconnect, Join
from web.context import HUB, KEYS, SETTINGS, WEBSOCKETS
from web.errors import json_error, parse_json, validation_message
from web.hub import CLOSE_REPLACED, Connection, LiveRoom

log = logging.getLogger("classroom.ws")

Handler = Callable[[Connection, LiveRoom, Any], Awaitable[None]]
CLOSE_POLICY = 1008


class ClientMessage(pydantic.BaseModel):
    """Base of every client message model: unknown fields are refused."""

    model_config = pydantic.ConfigDict(extra="forbid", strict=True)
    ref: str | None = pydantic.Field(default=None, max_length=64)  # echoed in replies


@dataclasses.dataclass(frozen=True)
class Route:
    model: type[ClientMessage]
    handler: Handler


class Dispatcher:
    """Message types to their model and handler; features register theirs at start-up."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        # Called when a connection has joined its room, and when it has closed.
        self.on_join: list[Callable[[Connection, LiveRoom], Awaitable[None]]] = []
        self.on_leave: list[Callable[[Connection, LiveRoom], Awaitable[None]]] = []

    def route(self, type_: str, model: type[ClientMessage]) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if type_ in self.routes:
                raise ValueError(f"message type {type_!r} registered twice")
            self.routes[type_] = Route(model, handler)
            return handler

        return register

    async def dispatch(self, conn: Connection, live: LiveRoom, text: str) -> None:
        try:
            data = parse_json(text)
        except ValueError as error:
            conn.send(error_message("bad_json", f"malformed JSON: {error}"))
            return
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            conn.send(error_message("bad_message", "a message is a JSON object with a 'type'"))
            return
        type_ = data.pop("type")
        ref = data.get("ref") if isinstance(data.get("ref"), str) else None
        route = self.routes.get(type_)
        if route is None:
            conn.send(error_message("unknown_type", f"unknown message type {type_!r}", ref))
            return
        try:
            message = route.model.model_validate(data)
        except pydantic.ValidationError as error:
            conn.send(error_message("bad_message", f"{type_}: {validation_message(error)}", ref))
            return
        try:
            await route.handler(conn, live, message)
        except ClassroomError as error:
            conn.send(error_message(error.code, error.message, ref))


def error_message(code: str, message: str, ref: str | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if ref is not None:
        reply["ref"] = ref
    return reply


class RateLimiter:
    """A token bucket: ``rate`` messages a second sustained, ``burst`` at once."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, float(burst), clock
        self.tokens, self.stamp = float(burst), clock()

    def allow(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def origin_allowed(request: web.Request, public_url: str, allowed: tuple[str, ...]) -> bool:
    """Browsers send Origin: it must be this service's own, or in the allow-list."""
    origin = request.headers.get("Origin")
    if origin is None:  # not a browser; the token still decides
        return True
    own = {f"{request.scheme}://{request.host}", public_url.rstrip("/")}
    return origin.rstrip("/") in own | {o.rstrip("/") for o in allowed}


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    return request.query.get("token", "")


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if not origin_allowed(request, settings.public_url, settings.allowed_origins):
        return json_error(403, "bad_origin", "websocket Origin is not allowed")
    try:
        identity = verify_token(bearer_token(request), request.app[KEYS].policy, int(time.time()))
    except TokenError as error:
        return json_error(401, error.code, error.message)

    ws = web.WebSocketResponse(
        max_msg_size=settings.ws_max_message_bytes, compress=False, heartbeat=10.0
    )
    await ws.prepare(request)
    hub, dispatcher = request.app[HUB], request.app[DISPATCHER]
    live = hub.room(identity.room)
    conn = Connection(ws, identity, uuid.uuid4().hex)
    request.app[WEBSOCKETS].add(ws)
    previous = live.connections.get(conn.pid)
    if previous is not None:
        previous.send(error_message("replaced", "this identity connected again elsewhere"))
        previous.close(CLOSE_REPLACED, "replaced by a new connection")
    live.connections[conn.pid] = conn
    limiter = RateLimiter(settings.ws_rate_per_s, settings.ws_rate_burst)
    refused = 0
    log.info("connected", extra={"room": live.name, "participant": conn.pid})
    try:
        try:
            live.apply(Join(identity.sub, identity.name, identity.role, identity.lang))
        except ClassroomError as error:
            conn.send(error_message(error.code, error.message))
            conn.close(CLOSE_POLICY, error.message[:100])
        else:
            conn.send(live.welcome(identity))
            for hook in dispatcher.on_join:
                await hook(conn, live)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                if not limiter.allow():
                    refused += 1
                    conn.send(error_message("rate_limited", "too many messages; slow down"))
                    if refused > settings.ws_rate_burst:
                        conn.close(CLOSE_POLICY, "message rate limit exceeded")
                    continue
                refused = 0
                await dispatcher.dispatch(conn, live, msg.data)
            elif msg.type is WSMsgType.BINARY:
                conn.send(error_message("bad_message", "binary messages are not accepted"))
            elif msg.type is WSMsgType.ERROR:
                break
    finally:
        request.app[WEBSOCKETS].discard(ws)
        for hook in dispatcher.on_leave:  # features drop what this connection held
            try:
                await hook(conn, live)
            except Exception:
                log.exception("leave hook failed", extra={"room": live.name})
        if live.connections.get(conn.pid) is conn:
            del live.connections[conn.pid]
            with contextlib.suppress(ClassroomError):  # already gone (left or removed)
                live.apply(Disconnect(conn.pid))
        if not conn.closing:
            conn.closing = True
            conn.writer.cancel()
        log.info("disconnected", extra={"room": live.name, "participant": conn.pid})
    return ws


DISPATCHER = web.AppKey("dispatcher", Dispatcher)


async def close_websockets(app: web.Application) -> None:
    """On shutdown: close every open websocket so clients reconnect elsewhere."""
    tracked: set[web.WebSocketResponse] = app[WEBSOCKETS]
    open_sockets = list(tracked)
    await asyncio.gather(
        *(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown") for ws in open_sockets),
        return_exceptions=True,
    )
