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
from classroom.room import Admitted, Disconnect, Join
from live.hub import (
    CLASSROOM_PAGE,
    CLOSE_REPLACED,
    PAGES,
    SIDE_PAGE,
    Connection,
    LiveRoom,
    error_message,
)
from live.revocation import WITHDRAWN
from web.context import HUB, KEYS, REVOCATIONS, SETTINGS, WEBSOCKETS
from web.errors import json_error, parse_json, validation_message

log = logging.getLogger("classroom.ws")

Handler = Callable[[Connection, LiveRoom, Any], Awaitable[None]]
CLOSE_POLICY = 1008
CLIENT_ID_MAX = 64

#: What only a classroom page may send: its own media. Side pages get ``invalid_state``.
CLASSROOM_ONLY = frozenset(
    {"media_ready", "publish", "subscribe_answer", "share_screen", "video_sizes"}
)
#: What a classroom page on standby (in the class elsewhere) may send before ``join_here``.
STANDBY_ALLOWED = frozenset({"ping", "join_here"})


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
        if conn.standby and type_ not in STANDBY_ALLOWED:
            reason = "you are in the class on another page: send join_here to join here"
            conn.send(error_message("invalid_state", reason, ref))
            return
        if conn.page != CLASSROOM_PAGE and type_ in CLASSROOM_ONLY:
            reason = f"{type_}: media belongs to the classroom page, not a side page"
            conn.send(error_message("invalid_state", reason, ref))
            return
        try:
            message = route.model.model_validate(data)
        except pydantic.ValidationError as error:
            conn.send(error_message("bad_message", f"{type_}: {validation_message(error)}", ref))
            return
        try:
            await route.handler(conn, live, message)
        except Exception as error:  # the connection stays up whatever a handler raises
            conn.send(failure_message(error, type_, live, ref))


def failure_message(
    error: Exception, what: str, live: LiveRoom, ref: str | None = None
) -> dict[str, Any]:
    """The ``error`` reply for what a handler or join hook raised: a domain error's code
    (``store_unavailable`` when the store cannot be reached: nothing was stored), else
    ``internal``, logged."""
    if isinstance(error, ClassroomError):
        return error_message(error.code, error.message, ref)
    log.error("handler failed", exc_info=error, extra={"room": live.name, "what": what})
    return error_message("internal", f"{what}: internal error; the event is logged", ref)


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
    if await request.app[REVOCATIONS].is_revoked(identity):
        return json_error(401, "unauthorized", WITHDRAWN)

    page = request.query.get("page", CLASSROOM_PAGE)
    client = request.query.get("client") or None
    if page not in PAGES:
        return json_error(400, "bad_request", f"page is one of {', '.join(PAGES)}")
    if client is not None and len(client) > CLIENT_ID_MAX:
        return json_error(400, "bad_request", f"client is at most {CLIENT_ID_MAX} characters")

    ws = web.WebSocketResponse(
        max_msg_size=settings.ws_max_message_bytes, compress=False, heartbeat=10.0
    )
    await ws.prepare(request)
    hub, dispatcher = request.app[HUB], request.app[DISPATCHER]
    live = hub.room(identity.room)
    conn = Connection(ws, identity, uuid.uuid4().hex, page, client)
    request.app[WEBSOCKETS].add(ws)
    limiter = RateLimiter(settings.ws_rate_per_s, settings.ws_rate_burst)
    refused = 0
    log.info("connected", extra={"room": live.name, "participant": conn.pid, "page": page})
    try:
        await arrive(conn, live, dispatcher)
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
        # The handler may be cancelled as the peer goes: leaving runs to its end anyway,
        # so the room is told and what the connection held is dropped.
        await asyncio.shield(leave(conn, live, dispatcher))
    return ws


async def leave(conn: Connection, live: LiveRoom, dispatcher: Dispatcher) -> None:
    """A connection closed: features drop what it held, then its participant departs."""
    for hook in dispatcher.on_leave:
        try:
            await hook(conn, live)
        except Exception:
            log.exception("leave hook failed", extra={"room": live.name})
    depart(conn, live)
    if not conn.closing:
        conn.closing = True
        conn.writer.cancel()
    log.info("disconnected", extra={"room": live.name, "participant": conn.pid})


async def arrive(conn: Connection, live: LiveRoom, dispatcher: Dispatcher) -> None:
    """Place a new connection among the pages of its participant (docs/protocol.md,
    "Several pages of one person").

    - Nobody's page holds the participant's presence yet: this one takes it (joins).
    - A side page, with the participant present already: it listens beside, never
      replacing anything.
    - A classroom page, when a side page holds the presence: it takes the presence over.
    - A classroom page of the same tab (same ``client``), or of a client that keeps no
      id: it is that page coming back, and replaces its stale connection at once.
    - A classroom page of another tab: it waits on standby, told ``in_class_elsewhere``,
      until the person chooses to join there (``join_here``).
    """
    previous = live.connections.get(conn.pid)
    if previous is not None and previous.closing:
        previous = None
    if previous is not None and conn.page == SIDE_PAGE:
        live.add_other(conn)
        conn.send(live.welcome(conn.identity))
        return
    if previous is not None and previous.page == CLASSROOM_PAGE:
        same_tab = conn.client is None or conn.client == previous.client
        if not same_tab:
            conn.standby = True
            live.add_other(conn)
            conn.send({"type": "in_class_elsewhere"})
            return
        previous.send(error_message("replaced", "this identity connected again elsewhere"))
        previous.close(CLOSE_REPLACED, "replaced by a new connection")
    elif previous is not None:  # a side page held the presence: it stays, beside
        live.add_other(previous)
    await take_presence(conn, live, dispatcher)


async def take_presence(conn: Connection, live: LiveRoom, dispatcher: Dispatcher) -> None:
    """This connection now holds its participant's presence: join and say welcome."""
    live.discard_other(conn)
    conn.standby = False
    live.connections[conn.pid] = conn
    identity = conn.identity
    try:
        await live.ready()  # what the room kept (bans) before anyone enters
    except Exception:  # the store is out of reach: the class goes on, tried again later
        log.exception("could not restore the room", extra={"room": live.name})
    try:
        live.apply(Join(identity.sub, identity.name, identity.role, identity.lang, identity.device))
    except ClassroomError as error:
        conn.send(error_message(error.code, error.message))
        conn.close(CLOSE_POLICY, error.message[:100])
        return
    conn.send(live.welcome(identity))
    if identity.sub in live.core.lobby:
        return  # the lobby hears lobby messages only; features greet them once admitted
    await greet(conn, live, dispatcher)


async def greet(conn: Connection, live: LiveRoom, dispatcher: Dispatcher) -> None:
    """Run the features' join hooks for a connection now in the room (its state, polls,
    interpretation, a recording under way)."""
    for hook in dispatcher.on_join:
        try:
            await hook(conn, live)
        except Exception as error:  # the store is out of reach: the class goes on without
            conn.send(failure_message(error, "join", live))


async def greet_admitted(events: list[Any], live: LiveRoom, dispatcher: Dispatcher) -> None:
    """Whoever these events let in from the lobby is greeted by the features now."""
    for event in events:
        if isinstance(event, Admitted):
            conn = live.connections.get(event.id)
            if conn is not None and not conn.closing:
                await greet(conn, live, dispatcher)


def depart(conn: Connection, live: LiveRoom) -> None:
    """A connection closed: another open page keeps the presence, else it is dropped."""
    if live.connections.get(conn.pid) is not conn:
        live.discard_other(conn)
        return
    del live.connections[conn.pid]
    pages = [c for c in live.others.get(conn.pid, ()) if not c.standby and not c.closing]
    if pages:
        # A page still open keeps the person present (no media: that was the classroom's).
        successor = min(pages, key=lambda c: c.page != CLASSROOM_PAGE)
        live.discard_other(successor)
        live.connections[conn.pid] = successor
        return
    with contextlib.suppress(ClassroomError):  # already gone (left or removed)
        live.apply(Disconnect(conn.pid))


DISPATCHER = web.AppKey("dispatcher", Dispatcher)


async def close_websockets(app: web.Application) -> None:
    """On shutdown: close every open websocket so clients reconnect elsewhere."""
    tracked: set[web.WebSocketResponse] = app[WEBSOCKETS]
    open_sockets = list(tracked)
    await asyncio.gather(
        *(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown") for ws in open_sockets),
        return_exceptions=True,
    )
