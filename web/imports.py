"""Into the library without a live session: imports of uploaded material, and subtitles.

``POST /api/library/imports`` turns finished uploads (``web.uploads``) into a library
entry processed like a recording: every file is checked first, and a file that is
wrong is named in the error while every upload stays where it was. ``PUT`` and
``DELETE /api/recordings/{id}/subtitles/{lang}`` add, replace or remove a language's
subtitles on any recording of one's room, a live or imported one, before or after it
is processed (a recording still processing takes them when it is packaged).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pydantic
from aiohttp import web

from classroom.errors import Forbidden, InvalidCommand, InvalidValue
from classroom.identity import Identity
from classroom.permissions import Action
from recordings import imports, subtitles
from recordings.library import OUT_DIR, Library, RecordingStatus, new_recording_id
from recordings.pipeline import MANIFEST
from recordings.uploads import FileRefused, Upload, UploadStore
from web.api import authorize
from web.context import CATALOGUE, SETTINGS
from web.errors import json_error, read_json
from web.library import manages_recording
from web.recording_handlers import RECORDINGS
from web.uploads import UPLOADS

routes = web.RouteTableDef()
LANGUAGE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$"
Language = pydantic.Field(min_length=2, max_length=12, pattern=LANGUAGE)
UploadId = pydantic.Field(min_length=32, max_length=32, pattern=r"^[a-f0-9]{32}$")


class LanguageFile(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    language: str = Language
    upload: str = UploadId


class ImportRequest(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    title: str = pydantic.Field(min_length=1, max_length=200)
    module: str | None = pydantic.Field(default=None, min_length=1, max_length=100)
    language: str = Language
    video: str = UploadId
    audio: list[LanguageFile] = pydantic.Field(default_factory=list, max_length=16)
    subtitles: list[LanguageFile] = pydantic.Field(default_factory=list, max_length=16)
    chapters: str = pydantic.Field(default="", max_length=20000)


class Unfinished(InvalidCommand):
    reason = "unfinished"

    def __init__(self, file: str, offset: int) -> None:
        super().__init__(f"{file}: the upload is not finished ({offset} bytes)")
        self.file = file


def _refusal(error: FileRefused | Unfinished) -> web.Response:
    """The error with the file it is about, for the page to say it in the person's language."""
    status = 409 if isinstance(error, Unfinished) else 400
    return json_error(status, error.code, error.message, reason=error.reason, file=error.file)


def _checked(
    store: UploadStore, body: ImportRequest, owner: str
) -> tuple[imports.ImportSpec, dict[str, Path]]:
    """In a thread: every upload finished, each file what it should be; the spec and the
    files to move (named in ``input/``). Raises naming the first file that is wrong."""
    chapters = imports.parse_chapters(body.chapters)
    languages = [body.language] + [a.language for a in body.audio]
    if len(set(languages)) != len(languages):
        raise InvalidValue("each language's sound can be given once")
    if len({s.language for s in body.subtitles}) != len(body.subtitles):
        raise InvalidValue("each language's subtitles can be given once")

    def finished(upload_id: str) -> tuple[Upload, Path, str]:
        upload = store.get(upload_id, owner)
        name = upload.filename or upload.id
        if not upload.complete:
            raise Unfinished(name, upload.offset)
        return upload, store.data(upload), name

    files: dict[str, Path] = {}
    _, path, name = finished(body.video)
    probed = imports.check_video(path, name)
    files["video"] = path
    audio = []
    for index, given in enumerate(body.audio):
        _, path, name = finished(given.upload)
        imports.check_audio(path, name)
        files[f"audio{index}"] = path
        audio.append(imports.Language(given.language, f"audio{index}"))
    captions = []
    for index, given in enumerate(body.subtitles):
        _, path, name = finished(given.upload)
        subtitles.check(path, name)
        files[f"subtitles{index}"] = path
        captions.append(imports.Language(given.language, f"subtitles{index}"))
    if chapters and chapters[-1][0] >= probed.duration_s:
        raise InvalidValue(f"a chapter starts after the video's end ({probed.duration_s:.0f} s)")
    spec = imports.ImportSpec(
        body.title, body.language, "video", tuple(audio), tuple(captions), chapters
    )
    return spec, files


@routes.post("/api/library/imports")
async def create_import(request: web.Request) -> web.Response:
    """A library entry from finished uploads, queued for processing (201)."""
    identity = authorize(request, Action.MANAGE_LIBRARY)
    body = await read_json(request, ImportRequest)
    modules = {m.id for m in request.app[CATALOGUE].modules}
    if body.module is not None and body.module not in modules:
        raise InvalidValue(f"no training module {body.module!r}")
    store, recordings = request.app[UPLOADS], request.app[RECORDINGS]
    try:
        spec, files = await asyncio.to_thread(_checked, store, body, identity.sub)
    except (FileRefused, Unfinished) as error:
        return _refusal(error)
    now = time.time()
    status = RecordingStatus(
        id=new_recording_id(now),
        room=identity.room,
        title=body.title,
        module_id=body.module,
        trainer=identity.name,
        started_at=now,
        owner=request.app[SETTINGS].node_id,
        stopped_at=now,
        status="processing",
        stop_reason="uploaded",
        languages=[body.language, *(a.language for a in body.audio)],
    )
    await asyncio.to_thread(_create, recordings.library, status, spec, files, store)
    if recordings.queue is not None:  # else it is found (processing) when the queue opens
        await recordings.queue.submit(status.id)
    return web.json_response({"id": status.id, "status": status.status}, status=201)


def _create(
    library: Library,
    status: RecordingStatus,
    spec: imports.ImportSpec,
    files: dict[str, Path],
    store: UploadStore,
) -> None:
    directory = library.create(status)
    imports.prepare(directory, spec, files)
    for path in files.values():  # the uploads' own folders, emptied by the move
        store.forget(path.parent.name)


def _managed(request: web.Request) -> tuple[Identity, Library, str]:
    identity = authorize(request, Action.MANAGE_LIBRARY)
    return identity, request.app[RECORDINGS].library, request.match_info["id"]


def _own(library: Library, recording_id: str, identity: Identity) -> RecordingStatus:
    status = library.load(recording_id)
    if not manages_recording(identity, status):
        raise Forbidden("only the trainers of the room it was made in may change it")
    return status


@routes.put("/api/recordings/{id}/subtitles/{lang}")
async def put_subtitles(request: web.Request) -> web.Response:
    """Add or replace one language's subtitles (WebVTT or SRT in the body)."""
    identity, library, recording_id = _managed(request)
    language = subtitles.check_language(request.match_info["lang"])
    if request.content_length is not None and request.content_length > subtitles.MAX_BYTES:
        raise InvalidValue(f"a subtitle file is at most {subtitles.MAX_BYTES} bytes")
    text = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        text += chunk
        if len(text) > subtitles.MAX_BYTES:
            raise InvalidValue(f"a subtitle file is at most {subtitles.MAX_BYTES} bytes")
    try:
        result = await asyncio.to_thread(_put, library, recording_id, identity, language, text)
    except FileRefused as error:
        return _refusal(error)
    return web.json_response({"subtitles": result})


def _put(
    library: Library, recording_id: str, identity: Identity, language: str, text: bytearray
) -> list[dict[str, Any]]:
    status = _own(library, recording_id, identity)
    out = library.directory(status.id) / OUT_DIR
    folder = out / subtitles.SUBTITLES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    given = folder / f".{language}.given"
    given.write_bytes(text)
    try:
        subtitles.check(given, f"{language}.vtt")
        subtitles.to_webvtt(given, folder / f"{language}.vtt")
    finally:
        given.unlink(missing_ok=True)
    return _republish(out, status)


@routes.delete("/api/recordings/{id}/subtitles/{lang}")
async def delete_subtitles(request: web.Request) -> web.Response:
    identity, library, recording_id = _managed(request)
    language = subtitles.check_language(request.match_info["lang"])

    def remove() -> list[dict[str, Any]]:
        status = _own(library, recording_id, identity)
        out = library.directory(status.id) / OUT_DIR
        for suffix in (".vtt", ".m3u8"):
            (out / subtitles.SUBTITLES_DIR / f"{language}{suffix}").unlink(missing_ok=True)
        return _republish(out, status)

    return web.json_response({"subtitles": await asyncio.to_thread(remove)})


def _republish(out: Path, status: RecordingStatus) -> list[dict[str, Any]]:
    """A processed recording offers its subtitles now; one still to be processed takes
    them when it is packaged."""
    if status.status != "ready":
        return [{"language": p.stem, "file": f"{subtitles.SUBTITLES_DIR}/{p.name}"}
                for p in sorted((out / subtitles.SUBTITLES_DIR).glob("*.vtt"))]  # fmt: skip
    manifest_file = out / MANIFEST
    manifest = imports.read_manifest(manifest_file)
    order = [entry["language"] for entry in subtitles.listed(manifest_file)]
    manifest["subtitles"] = subtitles.publish(out, order, float(manifest["duration_s"]))
    imports.write_manifest(manifest_file, manifest)
    return list(manifest["subtitles"])


def setup(app: web.Application) -> None:
    app.router.add_routes(routes)
