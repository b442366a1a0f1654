"""WHEP egress (draft-ietf-wish-whep): any WHEP player watches a room's programme.

``POST /whep/{room}`` with a viewer's join token (``Authorization: Bearer``; any role
that may receive media, an observer's for a lobby screen) and the player's SDP offer
(``application/sdp``) answers with the programme: the stage's video (a shared screen,
the pinned participant, else the active speaker) and one voice, the speaker's
microphone, or with ``?lang=`` the interpreter on air in that channel (``?lang=sq``).
The player is not a participant: it appears in no list and sends nothing. ``DELETE``
on the ``Location`` ends it. No trickle ICE (PATCH is 405); CORS is open, as for WHIP.
"""

from __future__ import annotations

import contextlib
import secrets

from aiohttp import web

from classroom.channel import SOURCE_INTERPRETATION
from classroom.errors import ClassroomError, Forbidden, InvalidValue, NotFound
from classroom.permissions import Action, require
from live.hub import LiveRoom
from media.description import BadDescription
from media.forwarding import PublishedTrack
from media.whep import Voice
from web.api import authenticate
from web.context import HUB
from web.errors import error_reply, json_error
from web.media_handlers import MEDIA
from web.whip import CORS, MAX_OFFER_BYTES

routes = web.RouteTableDef()
Sessions = dict[str, tuple[str, str]]  # resource id -> (room, the viewer's pid in the router)
SESSIONS: web.AppKey[Sessions] = web.AppKey("whep_sessions", dict)


def _with_cors(response: web.StreamResponse) -> web.StreamResponse:
    response.headers.update(CORS)
    return response


def voice_of(live: LiveRoom, lang: str | None) -> Voice:
    """What the programme plays: the active speaker's microphone (before anyone has spoken,
    the voice of whoever is on the stage), or ``lang``'s interpreter on air (between two
    voices, the last one heard stays)."""
    if lang is None:

        def speaker(tracks: list[PublishedTrack]) -> PublishedTrack | None:
            who = live.media.active_speaker if live.media is not None else None
            if who is None:
                stage = next((t for t in tracks if t.info.kind == "video"), None)
                who = stage.info.participant if stage is not None else None
            return next(
                (t for t in tracks if t.info.participant == who and t.info.source == "microphone"),
                None,
            )

        return speaker

    def interpreter(tracks: list[PublishedTrack]) -> PublishedTrack | None:
        state = live.interpretation
        channel = state.channels.get(lang) if state is not None else None
        who = channel.on_air if channel is not None else None
        return next(
            (
                t
                for t in tracks
                if t.info.participant == who and t.info.source == SOURCE_INTERPRETATION
            ),
            None,
        )

    return interpreter


@routes.route("OPTIONS", "/whep/{room}")
@routes.route("OPTIONS", "/whep/{room}/{resource}")
async def preflight(request: web.Request) -> web.StreamResponse:
    return _with_cors(web.Response(status=204, headers={"Accept-Post": "application/sdp"}))


@routes.post("/whep/{room}")
async def watch(request: web.Request) -> web.StreamResponse:
    try:
        response = await _watch(request)
    except BadDescription as error:
        response = json_error(400, error.code, error.message)
    except ClassroomError as error:
        response = error_reply(error)
    return _with_cors(response)


async def _watch(request: web.Request) -> web.StreamResponse:
    identity = authenticate(request)
    room = request.match_info["room"]
    if identity.room != room:
        raise Forbidden(f"this token is for room {identity.room!r}, not {room!r}")
    require(identity.role, Action.SUBSCRIBE_MEDIA)
    if request.content_type != "application/sdp":
        return json_error(415, "unsupported_media_type", "send the SDP offer as application/sdp")
    if (request.content_length or 0) > MAX_OFFER_BYTES:
        raise InvalidValue(f"an SDP offer is at most {MAX_OFFER_BYTES} bytes")
    offer = (await request.content.read(MAX_OFFER_BYTES + 1)).decode(errors="replace")
    live = request.app[HUB].room(room)
    lang = request.query.get("lang") or None
    if lang is not None and (
        live.interpretation is None or lang not in live.interpretation.channels
    ):
        raise NotFound(f"room {room} has no {lang!r} interpretation channel now")
    router = request.app[MEDIA].router(live)
    resource = secrets.token_urlsafe(18)
    viewer = await router.watch(f"whep:{resource}", offer, voice_of(live, lang))
    request.app[SESSIONS][resource] = (room, viewer.pid)
    headers = {"Location": f"/whep/{room}/{resource}", "ETag": f'"{resource}"'}
    return web.Response(
        status=201, text=viewer.sdp, content_type="application/sdp", headers=headers
    )


@routes.delete("/whep/{room}/{resource}")
async def stop(request: web.Request) -> web.StreamResponse:
    try:
        identity = authenticate(request)
        found = request.app[SESSIONS].get(request.match_info["resource"])
        if found is None or found[0] != request.match_info["room"] or identity.room != found[0]:
            raise NotFound("no such WHEP session")
        _end(request.app, request.match_info["resource"])
        response: web.StreamResponse = web.Response(status=200)
    except ClassroomError as error:
        response = error_reply(error)
    return _with_cors(response)


@routes.patch("/whep/{room}/{resource}")
async def trickle(request: web.Request) -> web.StreamResponse:
    return _with_cors(json_error(405, "method_not_allowed", "this server takes no trickle ICE"))


def _end(app: web.Application, resource: str) -> None:
    room, pid = app[SESSIONS].pop(resource)
    live = app[HUB].rooms.get(room)
    if live is not None and live.media is not None:
        live.media.remove(pid)


async def _close_all(app: web.Application) -> None:
    sessions: Sessions = app[SESSIONS]
    for resource in list(sessions):
        with contextlib.suppress(Exception):
            _end(app, resource)


def setup(app: web.Application) -> None:
    app[SESSIONS] = {}
    app.on_shutdown.append(_close_all)
    app.router.add_routes(routes)
