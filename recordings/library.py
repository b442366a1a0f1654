"""The recordings on disk: each one's status record, its files, and search over them.

Layout under ``<data_dir>/recordings/<id>/``: ``status.json`` (what the library
lists), ``journal.jsonl`` and ``tracks/`` (the raw recording, never deleted by
processing), ``work/`` (intermediate files) and ``out/`` (what learners get:
HLS, the MP4 download, poster, thumbnails, chapters). Only ``out/`` is served.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import time
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from classroom.catalogue import Catalogue
from classroom.errors import InvalidCommand, NotFound

STATUS_FILE = "status.json"
OUT_DIR = "out"
STATES = ("recording", "processing", "ready", "failed")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def new_recording_id(now: float) -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + "-" + secrets.token_hex(3)


def valid_id(recording_id: str) -> bool:
    return bool(_ID.match(recording_id))


@dataclasses.dataclass
class RecordingStatus:
    """What the library knows of one recording; times are epoch seconds."""

    id: str
    room: str
    title: str
    module_id: str | None
    trainer: str  # the name of who started it
    started_at: float
    owner: str = ""  # the node that records it (only that node recovers it after a crash)
    stopped_at: float | None = None
    status: str = "recording"  # one of STATES
    progress: float = 0.0  # percent of processing done
    step: str | None = None  # the processing step under way
    error: str | None = None  # why it failed (or why the last attempt failed)
    attempts: int = 0
    stop_reason: str | None = None  # stopped, disk_full, write_error, recovered
    duration_s: float | None = None
    languages: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    updated_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordingStatus:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class Library:
    """Recordings under one directory; safe for several processes sharing it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def directory(self, recording_id: str) -> Path:
        if not valid_id(recording_id):
            raise NotFound(f"no recording {recording_id!r}")
        return self.root / recording_id

    def create(self, status: RecordingStatus) -> Path:
        directory = self.directory(status.id)
        directory.mkdir(parents=True, exist_ok=False)
        self.save(status)
        return directory

    def load(self, recording_id: str) -> RecordingStatus:
        path = self.directory(recording_id) / STATUS_FILE
        try:
            return RecordingStatus.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            raise NotFound(f"no recording {recording_id!r}") from None
        except (ValueError, TypeError) as error:
            message = f"recording {recording_id} has a damaged status: {error}"
            raise InvalidCommand(message) from None

    def save(self, status: RecordingStatus) -> None:
        """Write the status atomically (a reader sees the old or the new one, never half)."""
        if status.status not in STATES:
            raise ValueError(f"unknown recording status {status.status!r}")
        status.updated_at = time.time()
        path = self.directory(status.id) / STATUS_FILE
        temporary = path.with_name(f".{STATUS_FILE}.{os.getpid()}.tmp")
        with temporary.open("w") as file:
            json.dump(status.to_json(), file, ensure_ascii=False)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)

    def update(self, recording_id: str, **changes: Any) -> RecordingStatus:
        status = self.load(recording_id)
        for key, value in changes.items():
            setattr(status, key, value)
        self.save(status)
        return status

    def all(self) -> list[RecordingStatus]:
        """Every recording, newest first (a damaged one is left out, not fatal)."""
        found = []
        if self.root.is_dir():
            for entry in self.root.iterdir():
                if entry.is_dir() and valid_id(entry.name):
                    try:
                        found.append(self.load(entry.name))
                    except (NotFound, InvalidCommand):
                        continue
        return sorted(found, key=lambda s: s.started_at, reverse=True)

    def media_file(self, recording_id: str, relative: str) -> Path:
        """A file under the recording's ``out/``; anything else (``..``, links out) is NotFound."""
        out = (self.directory(recording_id) / OUT_DIR).resolve()
        if "\x00" in relative or "\\" in relative:
            raise NotFound("no such file")
        candidate = (out / relative).resolve()
        if not candidate.is_relative_to(out) or not candidate.is_file():
            raise NotFound("no such file")
        return candidate


def _fold(text: str) -> str:
    """Lower case without accents, so "petrovic" finds "Petrović"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("đ", "dj")


def search(
    recordings: Iterable[RecordingStatus],
    catalogue: Catalogue,
    *,
    text: str = "",
    topic: str = "",
    trainer: str = "",
    language: str = "",
    module: str = "",
) -> list[RecordingStatus]:
    """Recordings matching every criterion given: free text in the title, module or topic."""
    modules = {m.id: m for m in catalogue.modules}
    topics = {t.id: t for t in catalogue.topics}
    found = []
    for status in recordings:
        mod = modules.get(status.module_id or "")
        top = topics.get(mod.topic) if mod else None
        haystack = " ".join(
            x for x in (status.title, mod and mod.title, top and top.title, status.trainer) if x
        )
        if text and not all(word in _fold(haystack) for word in _fold(text).split()):
            continue
        if topic and not (top and (topic == top.id or _fold(topic) in _fold(top.title))):
            continue
        if trainer and _fold(trainer) not in _fold(status.trainer):
            continue
        if language and language.lower() not in [lang.lower() for lang in status.languages]:
            continue
        if module and status.module_id != module:
            continue
        found.append(status)
    return found
