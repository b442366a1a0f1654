"""Resumable uploads over HTTP: the tus protocol 1.0.0 (core, creation, termination).

A trainer's browser (tus-js-client on the library page) or any tus client sends a
file in as many PATCH requests as its link allows and, after a broken link, asks
where the upload stands (HEAD) and goes on from there. Every reply carries
``Tus-Resumable``; errors are the API's JSON errors with tus's status codes
(409 wrong offset, 412 unsupported version, 413 too large, 415 wrong content type).
The rules themselves are ``recordings.uploads``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web

from classroom.errors import ClassroomError, InvalidCommand
from classroom.permissions import Action
from recordings.uploads import OffsetMismatch, TooLarge, Upload, UploadStore, parse_metadata
from web.api import authorize
from web.context import SETTINGS
from web.errors import error_reply, json_error

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination"
UPLOADS = web.AppKey("uploads", UploadStore)
ACTIVE = web.AppKey("upload_appends", dict)  # upload id -> the request adding to it
IDLE_S = 60.0  # an append that receives nothing for this long ends, keeping what it got
TAKEOVER_S = 5.0
routes = web.RouteTableDef()
log = logging.getLogger("classroom.web")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _tus(handler: Handler) -> Handler:
    """Check the client speaks our tus version; reply with tus headers, errors included."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        given = request.headers.get("Tus-Resumable")
        if request.method != "OPTIONS" and given != TUS_VERSION:
            response: web.StreamResponse = json_error(
                412, "tus_version", f"Tus-Resumable must be {TUS_VERSION}, not {given!r}"
            )
            response.headers["Tus-Version"] = TUS_VERSION
        else:
            try:
                response = await handler(request)
            except OffsetMismatch as error:
                response = json_error(409, error.code, error.message)
            except TooLarge as error:
                response = json_error(413, error.code, error.message)
            except ClassroomError as error:
                response = error_reply(error)
        response.headers["Tus-Resumable"] = TUS_VERSION
        response.headers["Cache-Control"] = "no-store"
        return response

    return wrapped


def _store(request: web.Request) -> UploadStore:
    return request.app[UPLOADS]


def _owner(request: web.Request) -> str:
    return authorize(request, Action.MANAGE_LIBRARY).sub


def _int_header(request: web.Request, name: str) -> int:
    value = request.headers.get(name, "")
    if not value.isdigit() or len(value) > 18:
        raise InvalidCommand(f"{name} must be a whole number of bytes, not {value[:20]!r}")
    return int(value)


def _described(response: web.StreamResponse, upload: Upload) -> web.StreamResponse:
    response.headers["Upload-Offset"] = str(upload.offset)
    response.headers["Upload-Length"] = str(upload.length)
    return response


@routes.options("/api/uploads")
@_tus
async def capabilities(request: web.Request) -> web.StreamResponse:
    headers = {
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": EXTENSIONS,
        "Tus-Max-Size": str(_store(request).max_bytes),
    }
    return web.Response(status=204, headers=headers)


@routes.post("/api/uploads")
@_tus
async def create(request: web.Request) -> web.StreamResponse:
    owner = _owner(request)
    if "Upload-Defer-Length" in request.headers:
        raise InvalidCommand("the length of the file must be given (Upload-Length)")
    length = _int_header(request, "Upload-Length")
    metadata = parse_metadata(request.headers.get("Upload-Metadata", ""))
    store = _store(request)
    upload = await asyncio.to_thread(store.create, length, metadata, owner, time.time())
    location = f"/api/uploads/{upload.id}"
    return _described(web.Response(status=201, headers={"Location": location}), upload)


@routes.head("/api/uploads/{id}")
@_tus
async def where(request: web.Request) -> web.StreamResponse:
    upload = await asyncio.to_thread(_store(request).get, request.match_info["id"], _owner(request))
    return _described(web.Response(status=200), upload)


@routes.patch("/api/uploads/{id}")
@_tus
async def append(request: web.Request) -> web.StreamResponse:
    owner = _owner(request)
    if request.content_type != "application/offset+octet-stream":
        return json_error(
            415, "unsupported_media_type", "send the bytes as application/offset+octet-stream"
        )
    offset = _int_header(request, "Upload-Offset")
    store = _store(request)
    upload_id = request.match_info["id"]
    active = request.app[ACTIVE]
    previous = active.get(upload_id)
    if previous is not None and not previous.done():
        # The client came back while its last request still hangs here (a broken link the
        # server has not noticed): that one ends, keeping what it got, and this one goes on.
        previous.cancel()
        await asyncio.wait([previous], timeout=TAKEOVER_S)
        if not previous.done():
            return json_error(423, "upload_locked", "another request is adding to this upload")
    task = asyncio.current_task()
    assert task is not None
    active[upload_id] = task
    try:
        upload = await asyncio.to_thread(store.get, upload_id, owner)

        async def chunks() -> AsyncIterator[bytes]:
            while True:
                async with asyncio.timeout(IDLE_S):  # a link silent this long is gone
                    chunk = await request.content.readany()
                if not chunk:
                    return
                yield chunk

        try:
            upload = await store.append(upload, offset, chunks(), time.time())
        except (ConnectionError, TimeoutError, aiohttp.ClientPayloadError):
            # The client is gone (or silent): what was written is kept; it asks with HEAD.
            log.info("an upload's request broke off", extra={"upload": upload_id})
            return json_error(400, "upload_interrupted", "the request broke off")
    finally:
        if active.get(upload_id) is task:
            del active[upload_id]
    return _described(web.Response(status=204), upload)


@routes.delete("/api/uploads/{id}")
@_tus
async def terminate(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    upload = await asyncio.to_thread(store.get, request.match_info["id"], _owner(request))
    await asyncio.to_thread(store.delete, upload)
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    settings = app[SETTINGS]
    app[UPLOADS] = UploadStore(settings.data_dir / "uploads", settings.max_upload_mb << 20)
    app[ACTIVE] = {}
    app.router.add_routes(routes)
