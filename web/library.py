"""The on-demand library: its pages, its JSON API, and the recordings' media files.

Everything needs a join token of a role that may replay (trainees, trainers). The
API hands out media URLs with a ticket in the path: short-lived, signed, good
for one recording's ``out/`` files only, so a player (hls.js, a download link)
needs no token of its own and relative playlist URLs keep working. Nothing
outside a recording's ``out/`` directory is reachable through them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

import pydantic
from aiohttp import web

from classroom.catalogue import Catalogue
from classroom.channel import LANGUAGES, SIGNED
from classroom.errors import Forbidden, NotFound, TokenError
from classroom.identity import Identity, verify_token
from classroom.permissions import Action, can, require
from recordings.library import Library, RecordingStatus, search
from recordings.pipeline import MANIFEST, THUMBS_DIR
from web.api import authenticate
from web.context import CATALOGUE, KEYS, SETTINGS, STORE
from web.errors import read_json
from web.pages import render
from web.recording_handlers import RECORDINGS
from web.ws import Dispatcher

TICKET_TTL_S = 6 * 3600
SECRET_FILE = "media_secret"
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".vtt": "text/vtt",
    ".jpg": "image/jpeg",
    ".json": "application/json",
}
MEDIA_KEY = web.AppKey("media_key", bytes)
routes = web.RouteTableDef()


def media_key(data_dir: Path) -> bytes:
    """The key that signs media tickets, made once (mode 0600) and shared by all nodes."""
    path = data_dir / SECRET_FILE
    if path.exists() and len(path.read_bytes().strip()) >= 32:
        return path.read_bytes().strip()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_urlsafe(48) + "\n")
    return path.read_bytes().strip()


def _signature(key: bytes, recording_id: str, expires: int) -> str:
    digest = hmac.new(key, f"{recording_id}:{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def make_ticket(key: bytes, recording_id: str, now: float) -> str:
    expires = int(now) + TICKET_TTL_S
    return f"{expires}-{_signature(key, recording_id, expires)}"


def check_ticket(key: bytes, recording_id: str, ticket: str, now: float) -> None:
    expires, _, signature = ticket.partition("-")
    # ASCII digits, an epoch in seconds: str.isdigit() would take "²" and 5,000 digits.
    if not re.fullmatch(r"[0-9]{1,12}", expires) or not hmac.compare_digest(
        signature, _signature(key, recording_id, int(expires))
    ):
        raise Forbidden("this media link is not valid; open the recording from the library")
    if int(expires) < now:
        raise Forbidden("this media link has expired; open the recording from the library again")


def _library(request: web.Request) -> Library:
    return request.app[RECORDINGS].library


def replayer(request: web.Request) -> Identity:
    identity = authenticate(request)
    require(identity.role, Action.REPLAY)
    return identity


def _manifest(library: Library, status: RecordingStatus) -> dict[str, Any] | None:
    if status.status != "ready":
        return None
    path = library.directory(status.id) / "out" / MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return manifest


def summary(
    status: RecordingStatus,
    catalogue: Catalogue,
    media: str | None,
    manifest: dict[str, Any] | None,
    viewer: Identity | None = None,
) -> dict[str, Any]:
    """What the list shows of a recording (``media``: its ticketed URL prefix, once ready).

    Why processing failed (a step, ffmpeg's words, paths on the server) is for the
    trainers of the recording's room, who can retry it; others only learn that it failed."""
    manages = viewer is not None and manages_recording(viewer, status)
    modules = {m.id: m for m in catalogue.modules}
    topics = {t.id: t for t in catalogue.topics}
    module = modules.get(status.module_id or "")
    topic = topics.get(module.topic) if module else None
    poster = manifest and manifest["files"].get("poster")
    return {
        "id": status.id,
        "room": status.room,
        "title": status.title,
        "module": status.module_id,
        "module_title": module.title if module else None,
        "module_titles": dict(module.titles) if module else {},  # by language
        "topic": topic.id if topic else None,
        "topic_title": topic.title if topic else None,
        "topic_titles": dict(topic.titles) if topic else {},
        "trainer": status.trainer,
        "started_at": status.started_at,
        "status": status.status,
        "progress": status.progress,
        "step": status.step,
        "error": status.error if manages else None,
        "can_retry": manages and status.status == "failed",
        "can_edit": manages,  # add or replace its subtitles
        "duration_s": status.duration_s,
        "languages": status.languages,
        "poster": f"{media}/{poster}" if media and poster else None,
    }


def manages_recording(identity: Identity, status: RecordingStatus) -> bool:
    """Trainers (and operators with a trainer link) of the room it was recorded in."""
    return can(identity.role, Action.RECORD) and identity.room == status.room


def _media_prefix(request: web.Request, status: RecordingStatus) -> str | None:
    if status.status != "ready":
        return None
    ticket = make_ticket(request.app[MEDIA_KEY], status.id, time.time())
    return f"/media/recordings/{status.id}/{ticket}"


def _listing(
    library: Library, catalogue: Catalogue, criteria: dict[str, str]
) -> list[tuple[RecordingStatus, dict[str, Any] | None]]:
    """In a thread: the recordings matching ``criteria``, each with its manifest if ready."""
    found = search(library.all(), catalogue, **criteria)
    return [(status, _manifest(library, status)) for status in found]


def _with_manifest(
    library: Library, recording_id: str
) -> tuple[RecordingStatus, dict[str, Any] | None]:
    """In a thread: one recording's status and, if ready, its manifest."""
    status = library.load(recording_id)
    return status, _manifest(library, status)


@routes.get("/api/recordings")
async def list_recordings(request: web.Request) -> web.Response:
    """Recordings, newest first, filtered by ?q=&topic=&trainer=&language=&module=."""
    identity = replayer(request)
    library, catalogue = _library(request), request.app[CATALOGUE]
    criteria = {key: request.query.get(key, "")[:200] for key in ("topic", "trainer", "language")}
    criteria.update(text=request.query.get("q", "")[:200])
    criteria.update(module=request.query.get("module", "")[:100])
    found = await asyncio.to_thread(_listing, library, catalogue, criteria)
    items = []
    for status, manifest in found:
        prefix = _media_prefix(request, status) if manifest else None
        items.append(summary(status, catalogue, prefix, manifest, identity))
    return web.json_response({"recordings": items})


@routes.get("/api/recordings/{id}")
async def get_recording(request: web.Request) -> web.Response:
    """One recording: its stream, download, chapters, audio and sign languages, and where to
    resume."""
    identity = replayer(request)
    library, catalogue = _library(request), request.app[CATALOGUE]
    status, manifest = await asyncio.to_thread(_with_manifest, library, request.match_info["id"])
    prefix = _media_prefix(request, status) if manifest else None
    body = summary(status, catalogue, prefix, manifest, identity)
    body.update(hls=None, download=None, chapters_vtt=None, chapters=[], audio=[], signed=[])
    body.update(subtitles=[])
    body.update(thumbnails=[])
    if manifest is not None and prefix is not None:
        files = manifest["files"]
        thumbs = manifest["thumbnails"]
        body.update(
            hls=f"{prefix}/{files['hls']}",
            download=f"{prefix}/{files['download']}",
            chapters_vtt=f"{prefix}/{files['chapters']}",
            chapters=manifest["chapters"],
            audio=manifest["audio"],
            signed=manifest.get("signed", []),  # (processed before sign languages: none)
            subtitles=[
                {"language": s["language"], "url": f"{prefix}/{s['file']}"}
                for s in manifest.get("subtitles", [])
            ],
            video=manifest["video"],
            thumbnails=[
                {"t": i * thumbs["every_s"], "url": f"{prefix}/{THUMBS_DIR}/{i:05d}.jpg"}
                for i in range(thumbs["count"])
            ],
            warnings=manifest["warnings"],
        )
    stored = await request.app[STORE].hget(position_key(identity), status.id)
    body["resume_s"] = float(stored) if stored else 0.0
    return web.json_response(body)


def position_key(identity: Identity) -> str:
    return f"recordings:positions:{identity.sub}"


class Position(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    position_s: float = pydantic.Field(ge=0, le=7 * 24 * 3600, allow_inf_nan=False)


@routes.put("/api/recordings/{id}/position")
async def save_position(request: web.Request) -> web.Response:
    """Where this learner stopped watching; ``GET`` gives it back as ``resume_s``."""
    identity = replayer(request)
    status = await asyncio.to_thread(_library(request).load, request.match_info["id"])
    body = await read_json(request, Position)
    await request.app[STORE].hset(position_key(identity), status.id, f"{body.position_s:.1f}")
    return web.Response(status=204)


@routes.get("/media/recordings/{id}/{ticket}/{path:.+}")
async def media(request: web.Request) -> web.StreamResponse:
    """A file of a ready recording's out/ directory, for a valid ticket."""
    recording_id = request.match_info["id"]
    library = _library(request)
    try:
        check_ticket(
            request.app[MEDIA_KEY], recording_id, request.match_info["ticket"], time.time()
        )
        relative = request.match_info["path"]
        if any(part in ("", ".", "..") for part in relative.split("/")):
            raise NotFound("no such file")
        path = await asyncio.to_thread(library.media_file, recording_id, relative)
    except Forbidden as error:
        raise web.HTTPForbidden(text=error.message) from None
    except NotFound as error:
        raise web.HTTPNotFound(text=error.message) from None
    headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
    content_type = CONTENT_TYPES.get(path.suffix)
    if content_type:
        headers["Content-Type"] = content_type
    if request.query.get("download") == "1":
        headers["Content-Disposition"] = f'attachment; filename="{recording_id}.mp4"'
    return web.FileResponse(path, headers=headers)


def _token_language(request: web.Request) -> str | None:
    """The language of the token a library link carries (the page then speaks it)."""
    token = request.query.get("token")
    if not token:
        return None
    try:
        return verify_token(token, request.app[KEYS].policy, int(time.time())).lang
    except TokenError:
        return None  # the page's script says what to do


@routes.get("/library")
async def library_page(request: web.Request) -> web.Response:
    catalogue = request.app[CATALOGUE]
    return render(
        request,
        "library.html",
        lang=_token_language(request),
        topics=catalogue.topics,
        languages=await _languages(request),
    )


@routes.get("/library/upload")
async def upload_page(request: web.Request) -> web.Response:
    """Trainers: a module's video, its languages' sound and subtitles, into the library."""
    catalogue = request.app[CATALOGUE]
    spoken = [code for code in LANGUAGES if code not in SIGNED]
    return render(
        request,
        "upload.html",
        lang=_token_language(request),
        modules=catalogue.modules,
        languages=spoken,
        max_bytes=request.app[SETTINGS].max_upload_mb << 20,
    )


@routes.get("/library/{id}")
async def player_page(request: web.Request) -> web.Response:
    _library(request).directory(request.match_info["id"])  # a malformed id: 404
    spoken = [code for code in LANGUAGES if code not in SIGNED]
    return render(
        request,
        "player.html",
        lang=_token_language(request),
        recording_id=request.match_info["id"],
        languages=spoken,
    )


async def _languages(request: web.Request) -> list[str]:
    recordings = await asyncio.to_thread(_library(request).all)
    found = {lang for s in recordings for lang in s.languages}
    found |= {lang for m in request.app[CATALOGUE].modules for lang in m.languages}
    return sorted(found)


def setup(app: web.Application, dispatcher: Dispatcher) -> None:
    app[MEDIA_KEY] = media_key(app[SETTINGS].data_dir)
    app.router.add_routes(routes)
