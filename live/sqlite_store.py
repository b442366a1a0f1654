"""The embedded default store: SQLite in one file under ``data_dir``, written off the event loop.

One thread owns the connection and runs every operation in order, so a read sees every
write made before it. Operations that arrive together are committed together (group
commit): one transaction and one sync of the write-ahead log for a burst of quiz
answers, not one each. An operation's result is given back only after its transaction
is committed with ``synchronous=FULL``: what the server acknowledges to a user survives a
``kill -9`` and a power cut.

The schema is versioned (``PRAGMA user_version``); missing migrations run at start-up,
and a database written by a newer version of the service is refused with a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from classroom.errors import StoreUnavailable
from config import SettingsError

log = logging.getLogger("classroom.store")

DATABASE_FILE = "classroom.sqlite3"
T = TypeVar("T")

# Each entry migrates from version N to N + 1 (index N); never edit one that shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL);
    CREATE TABLE hashes (
        key TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (key, field)
    ) WITHOUT ROWID;
    CREATE TABLE lists (
        key TEXT NOT NULL, idx INTEGER NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (key, idx)
    ) WITHOUT ROWID;
    CREATE INDEX kv_expiry ON kv (expires_at) WHERE expires_at IS NOT NULL;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
PURGE_EVERY_S = 60.0
_KEY_END = "\U0010ffff"


class DatabaseError(SettingsError):
    """The database cannot be used: newer than this code, locked by another server, damaged."""


def database_path(data_dir: Path) -> Path:
    return data_dir / DATABASE_FILE


def open_database(path: Path) -> sqlite3.Connection:
    """Open (or create) the database, in WAL mode, with every migration applied."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA busy_timeout=5000")
        migrate(connection, path)
    except sqlite3.DatabaseError as error:
        raise DatabaseError(f"database {path}: {error}") from None
    return connection


def migrate(connection: sqlite3.Connection, path: Path) -> None:
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise DatabaseError(
            f"database {path} has schema version {version}, but this version of the classroom "
            f"knows versions up to {SCHEMA_VERSION}: run the newer classroom that wrote it, "
            "or restore a backup made by this one"
        )
    for number in range(version, SCHEMA_VERSION):
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[number]):
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {number + 1}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        log.info("database migrated", extra={"version": number + 1})


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]


class _Operation:
    __slots__ = ("function", "future", "loop")

    def __init__(
        self,
        function: Callable[[sqlite3.Connection], Any],
        future: asyncio.Future[Any],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.function, self.future, self.loop = function, future, loop


def _unavailable(error: Exception) -> Exception:
    """A database error of one operation (disk full, I/O error, locked past the busy
    timeout) is the store being unavailable; any other error is the operation's own."""
    if isinstance(error, sqlite3.DatabaseError) and not isinstance(
        error, sqlite3.IntegrityError | sqlite3.ProgrammingError
    ):
        log.error("a database operation failed", extra={"why": str(error)})
        return StoreUnavailable("storage could not be written: nothing was saved, try again")
    return error


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class SqliteStore:
    """The ``classroom.ports.Store`` in one SQLite file; one server process per file."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path, self.clock = path, clock
        self._lock = _lock_file(path)
        try:
            self._connection = open_database(path)
        except BaseException:
            os.close(self._lock)
            raise
        self._queue: queue.SimpleQueue[_Operation | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sqlite-store", daemon=True)
        self._thread.start()
        self.commits = 0  # transactions committed (for the benchmarks)

    async def _call(self, function: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Operation(function, future, loop))
        return await future

    def _run(self) -> None:
        """The writer thread: take what has arrived, run it in one transaction, commit."""
        connection, purged = self._connection, 0.0
        while True:
            first = self._queue.get()
            if first is None:
                break
            batch, stopping = [first], False
            while True:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self._run_batch(connection, batch)
            if self.clock() - purged > PURGE_EVERY_S:
                purged = self.clock()
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("DELETE FROM kv WHERE expires_at <= ?", (purged,))
            if stopping:
                break
        with contextlib.suppress(sqlite3.Error):
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()

    def _run_batch(self, connection: sqlite3.Connection, batch: list[_Operation]) -> None:
        outcomes: list[tuple[_Operation, Any, BaseException | None]] = []
        try:
            connection.execute("BEGIN IMMEDIATE")
            for number, operation in enumerate(batch):
                # A savepoint each: one failing operation leaves the others' writes whole.
                connection.execute(f"SAVEPOINT op{number}")
                try:
                    result = operation.function(connection)
                except Exception as error:
                    connection.execute(f"ROLLBACK TO op{number}")
                    outcomes.append((operation, None, _unavailable(error)))
                else:
                    outcomes.append((operation, result, None))
                connection.execute(f"RELEASE op{number}")
            connection.execute("COMMIT")
            self.commits += 1
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            log.error("a database write failed", extra={"why": str(error)})
            failure = StoreUnavailable("storage could not be written: nothing was saved, try again")
            outcomes = [(operation, None, failure) for operation in batch]
        for operation, result, problem in outcomes:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                operation.loop.call_soon_threadsafe(_settle, operation.future, result, problem)

    # --- strings -------------------------------------------------------------------

    async def get(self, key: str) -> str | None:
        now = self.clock()
        return await self._call(lambda db: _live_value(db, key, now))

    async def set(self, key: str, value: str, *, ttl_s: float | None = None) -> None:
        expires = self.clock() + ttl_s if ttl_s else None

        def run(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) "
                "DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                (key, value, expires),
            )

        await self._call(run)

    async def set_if_absent(self, key: str, value: str, *, ttl_s: float | None = None) -> bool:
        now = self.clock()
        expires = now + ttl_s if ttl_s else None

        def run(db: sqlite3.Connection) -> bool:
            db.execute("DELETE FROM kv WHERE key = ? AND expires_at <= ?", (key, now))
            cursor = db.execute(
                "INSERT OR IGNORE INTO kv (key, value, expires_at) VALUES (?, ?, ?)",
                (key, value, expires),
            )
            return cursor.rowcount == 1

        return await self._call(run)

    async def delete(self, key: str) -> None:
        def run(db: sqlite3.Connection) -> None:
            for table in ("kv", "hashes", "lists"):
                db.execute(f"DELETE FROM {table} WHERE key = ?", (key,))

        await self._call(run)

    async def incr(self, key: str, by: int = 1) -> int:
        now = self.clock()

        def run(db: sqlite3.Connection) -> int:
            current = _live_value(db, key, now)
            if current is None:  # absent or expired: starts again, without an expiry
                db.execute("DELETE FROM kv WHERE key = ?", (key,))
                db.execute("INSERT INTO kv (key, value) VALUES (?, ?)", (key, str(by)))
                return by
            value = int(current) + by
            db.execute("UPDATE kv SET value = ? WHERE key = ?", (str(value), key))
            return value

        return await self._call(run)

    # --- hashes --------------------------------------------------------------------

    async def hset(self, key: str, field: str, value: str) -> bool:
        def run(db: sqlite3.Connection) -> bool:
            cursor = db.execute("SELECT 1 FROM hashes WHERE key = ? AND field = ?", (key, field))
            new = cursor.fetchone() is None
            db.execute(
                "INSERT INTO hashes (key, field, value) VALUES (?, ?, ?) "
                "ON CONFLICT (key, field) DO UPDATE SET value = excluded.value",
                (key, field, value),
            )
            return new

        return await self._call(run)

    async def hsetnx(self, key: str, field: str, value: str) -> bool:
        def run(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "INSERT OR IGNORE INTO hashes (key, field, value) VALUES (?, ?, ?)",
                (key, field, value),
            )
            return cursor.rowcount == 1

        return await self._call(run)

    async def hget(self, key: str, field: str) -> str | None:
        def run(db: sqlite3.Connection) -> str | None:
            row = db.execute(
                "SELECT value FROM hashes WHERE key = ? AND field = ?", (key, field)
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._call(run)

    async def hgetall(self, key: str) -> dict[str, str]:
        def run(db: sqlite3.Connection) -> dict[str, str]:
            rows = db.execute("SELECT field, value FROM hashes WHERE key = ?", (key,))
            return {str(field): str(value) for field, value in rows}

        return await self._call(run)

    async def hdel(self, key: str, field: str) -> bool:
        def run(db: sqlite3.Connection) -> bool:
            cursor = db.execute("DELETE FROM hashes WHERE key = ? AND field = ?", (key, field))
            return cursor.rowcount > 0

        return await self._call(run)

    # --- lists ---------------------------------------------------------------------

    async def append(self, key: str, value: str) -> int:
        def run(db: sqlite3.Connection) -> int:
            length = _length(db, key)
            db.execute("INSERT INTO lists (key, idx, value) VALUES (?, ?, ?)", (key, length, value))
            return length + 1

        return await self._call(run)

    async def range(self, key: str, start: int = 0, stop: int = -1) -> list[str]:
        def run(db: sqlite3.Connection) -> list[str]:
            length = _length(db, key)
            first = max(start + length if start < 0 else start, 0)
            last = min(stop + length if stop < 0 else stop, length - 1)
            if first > last:
                return []
            rows = db.execute(
                "SELECT value FROM lists WHERE key = ? AND idx BETWEEN ? AND ? ORDER BY idx",
                (key, first, last),
            )
            return [str(row[0]) for row in rows]

        return await self._call(run)

    async def keys(self, prefix: str) -> list[str]:
        now, end = self.clock(), prefix + _KEY_END

        def run(db: sqlite3.Connection) -> list[str]:
            found: set[str] = set()
            between = "key >= ? AND key < ?"
            for sql, args in (
                (
                    f"SELECT key FROM kv WHERE {between} "
                    "AND (expires_at IS NULL OR expires_at > ?)",
                    (prefix, end, now),
                ),
                (f"SELECT DISTINCT key FROM hashes WHERE {between}", (prefix, end)),
                (f"SELECT DISTINCT key FROM lists WHERE {between}", (prefix, end)),
            ):
                found.update(str(row[0]) for row in db.execute(sql, args))
            return sorted(found)

        return await self._call(run)

    async def close(self) -> None:
        """Finish what was queued, checkpoint the log into the file, and let the file go."""
        if self._thread.is_alive():
            self._queue.put(None)
            await asyncio.to_thread(self._thread.join)
        with contextlib.suppress(OSError):
            os.close(self._lock)


def _live_value(db: sqlite3.Connection, key: str, now: float) -> str | None:
    row = db.execute(
        "SELECT value FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
        (key, now),
    ).fetchone()
    return None if row is None else str(row[0])


def _length(db: sqlite3.Connection, key: str) -> int:
    row = db.execute("SELECT MAX(idx) FROM lists WHERE key = ?", (key,)).fetchone()
    return 0 if row[0] is None else int(row[0]) + 1


def _lock_file(path: Path) -> int:
    """Hold ``<database>.lock`` while the store is open: one server per data directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DatabaseError(
            f"another classroom server is using {path.parent}: run one server per data "
            "directory (several servers share state through redis_url)"
        ) from None
    return fd


def is_locked(path: Path) -> bool:
    """Whether a running server holds the database (for backup and restore)."""
    lock = path.with_name(path.name + ".lock")
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
