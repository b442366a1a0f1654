"""WHIP ingest (RFC 9725): a hardware encoder, OBS or a camera gateway joins a room.

``POST /whip/{room}`` with a join token (``Authorization: Bearer``) and an SDP offer
(``application/sdp``) makes the token's holder a participant of the room whose camera
and microphone are what the offer sends; the reply is the SDP answer (201) with the
session's resource in ``Location``. The media go through the room's router like a
browser's: forwarded as they come (never transcoded), recorded, shown as a tile.
``DELETE`` on the resource ends it: the participant leaves. No trickle ICE (the
answer carries every candidate; PATCH is 405, as RFC 9725 allows). CORS is open, as
WHIP asks of servers that browsers publish to: the token, not a cookie, authorizes.

The participant has no websocket: a connection whose messages go nowhere holds its
place in the room, as a page's does.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from typing import Any

from aiohttp import web

from classroom.errors import ClassroomError, Forbidden, InvalidCommand, NotFound
from classroom.identity import Identity
from classroom.permissions import Action, require
from classroom.room import Leave
from live.hub import Connection, LiveRoom
from media.description import BadDescription, answer_passive, parse_description
from web.api import authenticate
from web.context import HUB
from web.errors import error_reply, json_error
from web.media_handlers import MEDIA
from web.ws import DISPATCHER, depart, take_presence

log = logging.getLogger("classroom.web")
routes = web.RouteTableDef()
MAX_OFFER_BYTES = 64 * 1024
Sessions = dict[str, tuple[str, Connection]]  # resource id -> (room, its connection)
SESSIONS: web.AppKey[Sessions] = web.AppKey("whip_sessions", dict)
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, DELETE, PATCH, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Expose-Headers": "Location, Link, ETag, Accept-Patch",
}
#: What each kind of m-line a WHIP client sends is in the room.
SOURCE_OF_KIND = {"audio": "microphone", "video": "camera"}


class _Nowhere:
    """The socket of a participant without one: room messages go nowhere."""

    async def send_str(self, data: str) -> None:
        return None

    async def close(self, *, code: int = 1000, message: bytes = b"") -> Any:
        return None


def _sources(sdp: str) -> dict[str, str]:
    """mid -> source for each m-line the encoder sends on (one camera, one microphone)."""
    description = parse_description(sdp)
    sources: dict[str, str] = {}
    for media in description.media:
        if not description.sending(media):
            continue
        source = SOURCE_OF_KIND[media.kind]
        if source in sources.values():
            raise BadDescription(f"one {media.kind} m-line only: the room takes one {source}")
        sources[str(media.rtp.muxId)] = source
    if not sources:
        raise BadDescription("the offer sends nothing (every m-line is recvonly or inactive)")
    return sources


def _with_cors(response: web.StreamResponse) -> web.StreamResponse:
    response.headers.update(CORS)
    return response


@routes.route("OPTIONS", "/whip/{room}")
@routes.route("OPTIONS", "/whip/{room}/{resource}")
async def preflight(request: web.Request) -> web.StreamResponse:
    return _with_cors(web.Response(status=204, headers={"Accept-Post": "application/sdp"}))


@routes.post("/whip/{room}")
async def ingest(request: web.Request) -> web.StreamResponse:
    """Take an encoder's offer: it joins the room as the token's participant."""
    try:
        response = await _ingest(request)
    except BadDescription as error:
        response = json_error(400, error.code, error.message)
    except ClassroomError as error:
        response = error_reply(error)
    return _with_cors(response)


async def _ingest(request: web.Request) -> web.StreamResponse:
    identity = authenticate(request)
    room = request.match_info["room"]
    if identity.room != room:
        raise Forbidden(f"this token is for room {identity.room!r}, not {room!r}")
    require(identity.role, Action.PUBLISH_MEDIA)
    if request.content_type != "application/sdp":
        return json_error(415, "unsupported_media_type", "send the SDP offer as application/sdp")
    if (request.content_length or 0) > MAX_OFFER_BYTES:
        raise InvalidCommand(f"an SDP offer is at most {MAX_OFFER_BYTES} bytes")
    offer = (await request.content.read(MAX_OFFER_BYTES + 1)).decode(errors="replace")
    sources = _sources(offer)
    offer = answer_passive(offer)  # the encoder starts DTLS once it has the answer
    live = request.app[HUB].room(room)
    await _end_previous(request.app, identity)
    conn = Connection(_Nowhere(), identity, f"whip-{secrets.token_hex(8)}")
    answer = await _join_and_publish(request.app, live, conn, offer, sources)
    resource = secrets.token_urlsafe(18)
    request.app[SESSIONS][resource] = (room, conn)
    log.info("WHIP ingest started", extra={"room": room, "participant": identity.sub})
    location = f"/whip/{room}/{resource}"
    headers = {"Location": location, "ETag": f'"{resource}"'}
    return web.Response(status=201, text=answer, content_type="application/sdp", headers=headers)


async def _join_and_publish(
    app: web.Application, live: LiveRoom, conn: Connection, offer: str, sources: dict[str, str]
) -> str:
    identity = conn.identity
    await take_presence(conn, live, app[DISPATCHER])  # a page's way in: bans, lobby, caps
    if live.connections.get(conn.pid) is not conn:  # refused (a ban, a full room)
        raise Forbidden(f"{identity.name} may not join room {live.name} now")
    if identity.sub in live.core.lobby:
        _leave(live, conn)
        raise Forbidden("the room is locked: this identity waits in the lobby; let it in first")
    try:
        return await app[MEDIA].publish(conn, live, offer, sources)
    except BaseException:
        _leave(live, conn)
        raise


def _leave(live: LiveRoom, conn: Connection) -> None:
    depart(conn, live)
    with contextlib.suppress(ClassroomError):
        live.apply(Leave(conn.pid))


async def _end_previous(app: web.Application, identity: Identity) -> None:
    """An encoder that publishes again (after a restart) replaces its last session."""
    for resource, (room, conn) in list(app[SESSIONS].items()):
        if conn.pid == identity.sub and room == identity.room:
            await _end(app, resource)


async def _end(app: web.Application, resource: str) -> None:
    room, conn = app[SESSIONS].pop(resource)
    live = app[HUB].rooms.get(room)
    if live is None:
        return
    await app[MEDIA].left(conn, live)
    _leave(live, conn)
    conn.close(1000, "WHIP session ended")


@routes.delete("/whip/{room}/{resource}")
async def end(request: web.Request) -> web.StreamResponse:
    """The encoder stops: its participant leaves the room."""
    try:
        identity = authenticate(request)
        found = request.app[SESSIONS].get(request.match_info["resource"])
        if found is None or found[0] != request.match_info["room"]:
            raise NotFound("no such WHIP session")
        if found[1].pid != identity.sub:
            raise Forbidden("this WHIP session belongs to someone else")
        await _end(request.app, request.match_info["resource"])
        response: web.StreamResponse = web.Response(status=200)
    except ClassroomError as error:
        response = error_reply(error)
    return _with_cors(response)


@routes.patch("/whip/{room}/{resource}")
async def trickle(request: web.Request) -> web.StreamResponse:
    """No trickle ICE nor ICE restart: the answer carries every candidate."""
    return _with_cors(json_error(405, "method_not_allowed", "this server takes no trickle ICE"))


async def _close_all(app: web.Application) -> None:
    sessions: Sessions = app[SESSIONS]
    for resource in list(sessions):
        with contextlib.suppress(Exception):
            await _end(app, resource)


def setup(app: web.Application) -> None:
    app[SESSIONS] = {}
    app.on_shutdown.append(_close_all)
    app.router.add_routes(routes)
