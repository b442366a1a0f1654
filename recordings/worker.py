"""The worker: takes processing jobs from a queue and runs the pipeline, retrying what fails.

Each job runs the pipeline in a thread (ffmpeg does the work in its own
processes), writes its progress into the recording's status, and ends ``ready``
or, after ``MAX_ATTEMPTS``, ``failed`` with the reason. A job that is already
done is finished at once, so a job delivered twice does no harm; a lock file
keeps two workers sharing a data directory off the same recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import redis.exceptions

from classroom.errors import ClassroomError
from recordings.imports import is_import, process_import
from recordings.jobs import Delivery, JobQueue
from recordings.journal import JOURNAL_FILE, Journal
from recordings.library import Library, RecordingStatus
from recordings.pipeline import Cancelled, process
from recordings.render import FPS

log = logging.getLogger("classroom.recordings")

MAX_ATTEMPTS = 3
RETRY_DELAYS_S = (2.0, 10.0)  # before the second and third attempt
KEEPALIVE_S = 10.0
PROGRESS_EVERY_S = 1.0
LOCK_FILE = ".processing.lock"
QUEUE_RETRY_S = 2.0


@contextlib.contextmanager
def exclusive(directory: Path) -> Iterator[bool]:
    """Hold the recording's processing lock if nobody else does (yields whether we do)."""
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def recover(library: Library, owner: str) -> list[str]:
    """After a restart of ``owner``: close its recordings cut off mid-way; list what to process.

    A recording still marked "recording" by this owner lost its recorder with the
    previous process: its journal gets a closing line and it goes to processing.
    """
    todo = []
    for status in library.all():
        if status.status == "recording" and status.owner == owner:
            directory = library.directory(status.id)
            journal = Journal(directory / JOURNAL_FILE)
            try:
                journal.append("recovered", time.time())
            finally:
                journal.close()
            status.status, status.stop_reason = "processing", "recovered"
            library.save(status)
            log.warning("recovered a recording cut off by a crash", extra={"recording": status.id})
        if status.status == "processing":
            todo.append(status.id)
    return todo


class Worker:
    """Runs jobs from ``queue`` one at a time (start several for more at once)."""

    def __init__(
        self,
        library: Library,
        queue: JobQueue,
        *,
        fps: int = FPS,
        retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
    ) -> None:
        self.library = library
        self.queue = queue
        self.fps = fps
        self.retry_delays_s = retry_delays_s
        self.cancel = threading.Event()

    async def run(self) -> None:
        """Take and run jobs until ``stop``; a job cut short stays queued for the next start."""
        try:
            while not self.cancel.is_set():
                try:
                    delivery = await self.queue.take()
                except (OSError, redis.exceptions.RedisError):
                    if self.cancel.is_set():
                        break
                    log.exception("the job queue is out of reach; trying again")
                    await asyncio.sleep(QUEUE_RETRY_S)
                    continue
                if delivery is not None:
                    await self.handle(delivery)
        finally:
            self.cancel.set()  # stops the pipeline thread (and its ffmpeg) at once

    async def stop(self, task: asyncio.Task[None]) -> None:
        """End ``task`` (running ``run``). The flag is set first: the Redis client may turn
        a cancellation into an error of its own, and then the flag ends the loop."""
        self.cancel.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def handle(self, delivery: Delivery) -> None:
        try:
            status = await asyncio.to_thread(self.library.load, delivery.recording_id)
        except ClassroomError as error:
            log.error("dropping a job", extra={"job": delivery.recording_id, "why": error.message})
            await self.queue.finish(delivery)
            return
        if status.status != "processing":  # done already, or still recording
            await self.queue.finish(delivery)
            return
        directory = self.library.directory(status.id)
        with exclusive(directory) as mine:
            if not mine:
                log.info("another worker holds this recording", extra={"recording": status.id})
                return  # left unfinished: redelivered if that worker dies
            await self._attempt(delivery, status)

    async def _attempt(self, delivery: Delivery, status: RecordingStatus) -> None:
        if status.attempts and status.error:
            delay = self.retry_delays_s[min(status.attempts, len(self.retry_delays_s)) - 1]
            await asyncio.sleep(delay)
        status = await asyncio.to_thread(
            self.library.update, status.id, attempts=status.attempts + 1, error=None
        )
        loop = asyncio.get_running_loop()
        last = [0.0]

        def progress(step: str, percent: float) -> None:  # called in the pipeline's thread
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY_S:
                last[0] = now
                self.library.update(status.id, step=step, progress=percent)

        keepalive = loop.create_task(self._keepalive(delivery))
        directory = self.library.directory(status.id)
        try:
            run = process_import if is_import(directory) else process
            manifest = await asyncio.to_thread(run, directory, progress, self.cancel, self.fps)
        except Cancelled:
            log.info("processing interrupted", extra={"recording": status.id})
            return  # not finished: it runs again
        except Exception as error:
            await self._failed(delivery, status, error)
            return
        finally:
            keepalive.cancel()
        await asyncio.to_thread(
            self.library.update,
            status.id,
            status="ready",
            progress=100.0,
            step=None,
            error=None,
            duration_s=manifest["duration_s"],
            languages=[a["language"] for a in [*manifest["audio"], *manifest["signed"]]],
            warnings=manifest["warnings"],
        )
        log.info("recording ready", extra={"recording": status.id})
        await self.queue.finish(delivery)

    async def _failed(self, delivery: Delivery, status: RecordingStatus, error: Exception) -> None:
        reason = str(error) or type(error).__name__
        if status.attempts < MAX_ATTEMPTS:
            log.warning("processing failed; will retry", extra={"recording": status.id})
            await asyncio.to_thread(self.library.update, status.id, error=reason)
            await self.queue.submit(status.id)
        else:
            log.error("processing failed for good", extra={"recording": status.id})
            await asyncio.to_thread(
                self.library.update, status.id, status="failed", error=reason, step=None
            )
        await self.queue.finish(delivery)

    async def _keepalive(self, delivery: Delivery) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_S)
            try:
                await self.queue.keepalive(delivery)
            except Exception:
                if self.cancel.is_set():
                    return
                log.exception("could not renew a job's claim")
