"""Resumable uploads on disk: the files a trainer sends in before they go into the library.

The rules are those of the tus protocol (1.0.0, with its creation and termination
extensions): an upload is made with its full length and some metadata, then filled
by appends that each start exactly where the last one stopped, in as many requests
as the link needs; an append cut off half-way keeps every byte that arrived, and
the offset a client reads back is always the length of what is on disk. Nothing
here speaks HTTP (``web.uploads`` does); the store only checks and writes.

Layout under ``<data_dir>/uploads/<id>/``: ``info.json`` (length, metadata, owner,
times) and ``data`` (the bytes received so far). An upload nobody appended to for
``EXPIRES_S`` is removed by ``expire``; a finished one stays until it is imported.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import json
import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from classroom.errors import ClassroomError, Forbidden, InvalidCommand, InvalidValue, NotFound

INFO_FILE = "info.json"
DATA_FILE = "data"
EXPIRES_S = 24 * 3600.0  # an unfinished upload nobody touched for a day is given up
FREE_MARGIN_BYTES = 500 * 1024 * 1024  # the disk keeps this much free for recordings
_ID = re.compile(r"^[a-f0-9]{32}$")
_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_METADATA_VALUE = 1024


class OffsetMismatch(ClassroomError):
    """An append that does not start where the upload stands (409 in tus)."""

    code = "upload_offset_mismatch"


class TooLarge(ClassroomError):
    """Longer than allowed, or than the disk can hold (413 in tus)."""

    code = "upload_too_large"


class FileRefused(InvalidValue):
    """A file that is not what it should be: ``reason`` says what, as a code pages translate
    (not_media, no_length, no_picture, no_sound, not_subtitles, no_cues, too_large,
    unfinished, bad_chapter), ``file`` names it (a chapter: its line)."""

    def __init__(self, reason: str, file: str, message: str) -> None:
        super().__init__(f"{file}: {message}")
        self.reason, self.file = reason, file


def parse_metadata(header: str) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64(value)`` pairs (value optional)."""
    found: dict[str, str] = {}
    for item in header.split(","):
        item = item.strip()
        if not item:
            continue
        key, _, encoded = item.partition(" ")
        if not _KEY.match(key) or key in found:
            raise InvalidCommand(f"Upload-Metadata has a bad or repeated key {key[:64]!r}")
        try:
            value = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidCommand(f"Upload-Metadata: {key!r} is not base64 of UTF-8 text") from None
        if len(value) > MAX_METADATA_VALUE:
            raise InvalidCommand(f"Upload-Metadata: {key!r} is too long")
        found[key] = value
    return found


def encode_metadata(metadata: dict[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in metadata.items())


@dataclasses.dataclass
class Upload:
    """One upload as stored; ``offset`` is read from the data file's length."""

    id: str
    length: int
    owner: str  # who made it (the token's subject): only they may append, read or import it
    metadata: dict[str, str]
    created_at: float
    touched_at: float
    offset: int = 0

    @property
    def complete(self) -> bool:
        return self.offset == self.length

    @property
    def filename(self) -> str:
        return self.metadata.get("filename", "")

    def info(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        del data["offset"]
        return data


class UploadStore:
    """Uploads under ``root``; ``max_bytes`` bounds one upload."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def directory(self, upload_id: str) -> Path:
        if not _ID.match(upload_id):
            raise NotFound(f"no upload {upload_id[:40]!r}")
        return self.root / upload_id

    def create(self, length: int, metadata: dict[str, str], owner: str, now: float) -> Upload:
        if length < 0:
            raise InvalidCommand("Upload-Length must be a whole number of bytes")
        if length > self.max_bytes:
            raise TooLarge(f"this file is larger than the {self.max_bytes} bytes allowed")
        self.root.mkdir(parents=True, exist_ok=True)
        if length > shutil.disk_usage(self.root).free - FREE_MARGIN_BYTES:
            raise TooLarge("the server's disk has no room for this file")
        upload = Upload(secrets.token_hex(16), length, owner, metadata, now, now)
        directory = self.directory(upload.id)
        directory.mkdir()
        (directory / DATA_FILE).touch()
        self._save(upload)
        return upload

    def get(self, upload_id: str, owner: str) -> Upload:
        directory = self.directory(upload_id)
        try:
            data = json.loads((directory / INFO_FILE).read_text())
            offset = (directory / DATA_FILE).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"no upload {upload_id!r}") from None
        upload = Upload(**data, offset=offset)
        if upload.owner != owner:
            raise Forbidden("this upload belongs to someone else")
        return upload

    async def append(
        self, upload: Upload, offset: int, chunks: AsyncIterator[bytes], now: float
    ) -> Upload:
        """Write ``chunks`` at ``offset`` (which must be where the upload stands); every byte
        that arrives is kept, even when the stream breaks (the error is raised after)."""
        if offset != upload.offset:
            raise OffsetMismatch(f"the upload stands at {upload.offset}, not {offset}")
        path = self.directory(upload.id) / DATA_FILE
        with path.open("ab", buffering=0) as file:  # the offset read back is what was written
            try:
                async for chunk in chunks:
                    if upload.offset + len(chunk) > upload.length:
                        raise TooLarge("more bytes than the upload's length")
                    file.write(chunk)
                    upload.offset += len(chunk)
            finally:
                # What the client is told it has sent is on disk (off the event loop).
                await asyncio.to_thread(os.fsync, file.fileno())
                upload.touched_at = now
                self._save(upload)
        return upload

    def delete(self, upload: Upload) -> None:
        shutil.rmtree(self.directory(upload.id), ignore_errors=True)

    def forget(self, upload_id: str) -> None:
        """Remove what is left of an upload whose file went into the library."""
        shutil.rmtree(self.directory(upload_id), ignore_errors=True)

    def data(self, upload: Upload) -> Path:
        return self.directory(upload.id) / DATA_FILE

    def expire(self, now: float) -> list[str]:
        """Remove unfinished uploads left untouched for ``EXPIRES_S``; their ids."""
        removed: list[str] = []
        if not self.root.is_dir():
            return removed
        for entry in self.root.iterdir():
            try:
                info = json.loads((entry / INFO_FILE).read_text())
                size = (entry / DATA_FILE).stat().st_size
            except (OSError, ValueError):
                continue
            if size < info["length"] and now - float(info["touched_at"]) > EXPIRES_S:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
        return removed

    def _save(self, upload: Upload) -> None:
        path = self.directory(upload.id) / INFO_FILE
        temporary = path.with_name(INFO_FILE + ".tmp")
        temporary.write_text(json.dumps(upload.info(), ensure_ascii=False))
        temporary.replace(path)
