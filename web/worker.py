"""The ``classroom worker`` command: processes recordings taken from the Redis job queue.

Run as many as the machine allows, on hosts that share the server's data directory
(the recordings are files). Each takes one job at a time; one that dies leaves its
job to be claimed by another. Without ``redis_url`` the server processes recordings
itself (``recording_workers``) and this command refuses to start.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import Any

from config import Settings, SettingsError, load_settings
from recordings.jobs import RedisQueue
from recordings.library import Library
from recordings.worker import Worker
from web.logs import setup_logging

log = logging.getLogger("classroom.recordings")


async def run(settings: Settings, jobs: int) -> None:
    """Run ``jobs`` workers until SIGTERM or SIGINT; a job cut short runs again elsewhere."""
    queue = RedisQueue(settings.redis_url)
    library = Library(settings.data_dir / "recordings")
    loop = asyncio.get_running_loop()
    workers = [Worker(library, queue) for _ in range(jobs)]
    tasks = [loop.create_task(worker.run()) for worker in workers]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", extra={"jobs": jobs, "consumer": queue.consumer})
    waiting = loop.create_task(stop.wait())
    await asyncio.wait([waiting, *tasks], return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    try:  # a worker that crashed raises its error here
        await asyncio.gather(*(w.stop(t) for w, t in zip(workers, tasks, strict=True)))
    finally:
        await queue.close()


def _command(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if not settings.redis_url:
        raise SettingsError(
            "classroom worker takes jobs from Redis: set redis_url "
            "(without it the server processes recordings itself)"
        )
    if args.jobs < 1:
        raise SettingsError("--jobs must be at least 1")
    setup_logging(settings.log_level, settings.log_format)
    asyncio.run(run(settings, args.jobs))
    return 0


def register(commands: Any) -> None:
    """Add ``worker`` to the CLI's subcommands."""
    worker = commands.add_parser("worker", help="process recordings from the Redis job queue")
    worker.add_argument("--jobs", type=int, default=1, help="recordings processed at once")
    worker.add_argument("--config", dest="config_sub", help=argparse.SUPPRESS)
    worker.set_defaults(run=_command)
