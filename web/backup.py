"""``classroom backup DIR`` and ``classroom restore DIR``: a consistent copy of the data.

A backup holds the database (copied with SQLite's online backup, so a server may keep
running and writing), the recordings (raw tracks, journals and what was made of them;
intermediate ``work/`` files are left out, processing makes them again) and the
generated secrets (the copy signs and checks the same links: keep it as safe as the
server). With ``redis_url`` the classroom's state is in Redis: back it up with Redis's
own tools; the command copies the recordings and secrets.

A restore needs the server stopped. What the data directory held before is kept aside
in ``<data_dir>/before-restore-<time>/`` rather than deleted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from config import SettingsError, load_settings
from live.sqlite_store import DATABASE_FILE, SCHEMA_VERSION, is_locked

MANIFEST = "backup.json"
RECORDINGS = "recordings"
SECRETS = ("token_secret", "media_secret")
SKIPPED = {"work", ".processing.lock"}


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _recording_files(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not SKIPPED & set(relative.parts):
            yield relative


def _copy_recordings(source: Path, target: Path) -> tuple[int, int]:
    files = list(_recording_files(source))
    total = sum((source / f).stat().st_size for f in files) or 1
    copied = 0
    shown = -1
    for number, relative in enumerate(files, 1):
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / relative, destination)
        copied += destination.stat().st_size
        percent = copied * 100 // total
        if percent // 10 != shown // 10 or number == len(files):
            shown = percent
            _say(f"recordings: {number} of {len(files)} files, {percent}%")
    return len(files), copied


def backup(data_dir: Path, target: Path, uses_redis: bool) -> dict[str, object]:
    """Copy the data directory's state into ``target`` (new or empty); returns the manifest."""
    if target.exists() and any(target.iterdir()):
        raise SettingsError(f"{target} is not empty: back up into a new directory")
    target.mkdir(parents=True, exist_ok=True)
    database = data_dir / DATABASE_FILE
    has_database = not uses_redis and database.exists()
    if has_database:
        _say("database: copying")
        with (
            contextlib.closing(sqlite3.connect(database)) as source,
            contextlib.closing(sqlite3.connect(target / DATABASE_FILE)) as copy,
        ):
            source.backup(copy)  # a consistent snapshot while the server writes
        _say("database: done")
    files, size = _copy_recordings(data_dir / RECORDINGS, target / RECORDINGS)
    for name in SECRETS:
        if (data_dir / name).exists():
            shutil.copy2(data_dir / name, target / name)
    manifest: dict[str, object] = {
        "created_at": time.time(),
        "schema_version": SCHEMA_VERSION if has_database else None,
        "database": has_database,
        "recording_files": files,
        "recording_bytes": size,
        "redis": uses_redis,
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def restore(source: Path, data_dir: Path) -> Path | None:
    """Put a backup in place of the data directory's state; returns where the old state went."""
    try:
        manifest = json.loads((source / MANIFEST).read_text())
    except (OSError, ValueError):
        raise SettingsError(
            f"{source} is not a classroom backup (no readable {MANIFEST})"
        ) from None
    database = data_dir / DATABASE_FILE
    if is_locked(database):
        raise SettingsError(f"a classroom server is running on {data_dir}: stop it, then restore")
    if manifest.get("database"):
        with contextlib.closing(sqlite3.connect(source / DATABASE_FILE)) as copy:
            version = int(copy.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise SettingsError(
                f"the backup's database has schema version {version}, newer than this "
                f"classroom knows ({SCHEMA_VERSION}): restore it with the version that made it"
            )
    kept = data_dir / time.strftime("before-restore-%Y%m%d-%H%M%S")
    moved = False
    names = [DATABASE_FILE, f"{DATABASE_FILE}-wal", f"{DATABASE_FILE}-shm", RECORDINGS, *SECRETS]
    for name in names:
        if (data_dir / name).exists():
            kept.mkdir(parents=True, exist_ok=True)
            shutil.move(data_dir / name, kept / name)
            moved = True
    data_dir.mkdir(parents=True, exist_ok=True)
    if manifest.get("database"):
        shutil.copy2(source / DATABASE_FILE, database)
        _say("database: restored")
    _copy_recordings(source / RECORDINGS, data_dir / RECORDINGS)
    for name in SECRETS:
        if (source / name).exists():
            shutil.copy2(source / name, data_dir / name)
    return kept if moved else None


def _backup(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    manifest = backup(settings.data_dir, Path(args.directory).absolute(), bool(settings.redis_url))
    if settings.redis_url:
        _say("the classroom's state is in Redis: back it up with Redis (BGSAVE, its AOF)")
    _say(f"backed up {settings.data_dir} into {args.directory}")
    print(json.dumps(manifest))
    return 0


def _restore(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    kept = restore(Path(args.directory).absolute(), settings.data_dir)
    if kept is not None:
        _say(f"what {settings.data_dir} held before is in {kept}")
    _say(f"restored {args.directory} into {settings.data_dir}")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    made = commands.add_parser(
        "backup", help="copy the database, recordings and secrets (the server may run)"
    )
    made.add_argument("directory", help="a new or empty directory")
    made.add_argument("--config", dest="config_sub", help=argparse.SUPPRESS)
    made.set_defaults(run=_backup)
    back = commands.add_parser("restore", help="put a backup in place (the server stopped)")
    back.add_argument("directory", help="a directory made by classroom backup")
    back.add_argument("--config", dest="config_sub", help=argparse.SUPPRESS)
    back.set_defaults(run=_restore)
