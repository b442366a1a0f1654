"""The journal of a recording: append-only JSON lines, each flushed to disk before it counts.

Everything the pipeline needs to rebuild a session is in it: when the recording
started, every track, every segment file with its timing, sender reports and the
room's events. A crash can tear at most the line being written; ``read_journal``
skips such a line and keeps the rest.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("classroom.recordings")

JOURNAL_FILE = "journal.jsonl"


class Journal:
    """An open journal file; every ``append`` is written and fsync'd before it returns.

    ``durable=False`` skips the fsync, for generated recordings only (benchmarks, tests).
    """

    def __init__(self, path: Path, durable: bool = True) -> None:
        self.path = path
        self.durable = durable
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        if path.stat().st_size and not _ends_with_newline(path):
            # The previous writer died mid-line: start on a fresh line.
            os.write(self._fd, b"\n")

    def append(self, kind: str, t: float, **fields: Any) -> None:
        """Write one line ``{"kind", "t", ...fields}`` (raises OSError, e.g. disk full)."""
        if self._fd is None:
            raise ValueError("the journal is closed")
        line = json.dumps({"kind": kind, "t": round(t, 6), **fields}, ensure_ascii=False)
        data = (line + "\n").encode()
        written = os.write(self._fd, data)
        if written != len(data):
            raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes")
        if self.durable:
            os.fsync(self._fd)

    @property
    def closed(self) -> bool:
        return self._fd is None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every intact line of a journal, in order; a torn or garbled line is skipped."""
    entries: list[dict[str, Any]] = []
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return entries
    for number, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            log.warning("skipping a torn journal line", extra={"file": str(path), "line": number})
            continue
        if isinstance(entry, dict) and isinstance(entry.get("kind"), str):
            entries.append(entry)
    return entries
