"""Jobs run at least once: queues in memory and in a real Redis, retries, recovery, workers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from recordings.jobs import MemoryQueue, RedisQueue
from recordings.journal import read_journal
from recordings.library import Library, RecordingStatus
from recordings.worker import MAX_ATTEMPTS, Worker, exclusive, recover
from tests.recordings.synthetic import generate_session

# Real ffmpeg (and browsers) on a busy 2-core machine: a bound on hanging, not on speed.
pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(params=["memory", "redis"])
async def queue(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "memory":
        yield MemoryQueue()
        return
    url = request.getfixturevalue("redis_url")
    made = RedisQueue(url, stream=f"test:jobs:{uuid.uuid4().hex}", claim_idle_ms=200)
    yield made
    await made.redis.delete(made.stream)
    await made.close()


async def until(condition: Any, within_s: float = 90) -> None:
    async with asyncio.timeout(within_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.05)


async def test_a_queued_job_runs_once_and_the_recording_is_ready(
    queue: Any, library: Library, clips: Path
) -> None:
    made = generate_session(library, clips, duration_s=6, channels=("en",), screen=None)
    await queue.submit(made.status.id)
    worker = Worker(library, queue)
    task = asyncio.get_running_loop().create_task(worker.run())
    try:
        await until(lambda: library.load(made.status.id).status == "ready")
    finally:
        await worker.stop(task)
    status = library.load(made.status.id)
    assert (status.progress, status.attempts, status.error) == (100.0, 1, None)
    assert status.languages == ["sr", "en"] and status.duration_s == pytest.approx(6, abs=0.1)
    if isinstance(queue, RedisQueue):
        assert await queue.pending() == 0


async def test_a_failing_job_is_retried_then_marked_failed_with_its_reason(
    queue: Any, library: Library
) -> None:
    status = RecordingStatus("20240101-000000-badbad", "demo", "Broken", None, "Tea", 1.0)
    status.status = "processing"
    directory = library.create(status)
    (directory / "journal.jsonl").write_text('{"kind": "event", "t": 1, "type": "x"}\n')
    await queue.submit(status.id)
    worker = Worker(library, queue, retry_delays_s=(0.0, 0.0))
    task = asyncio.get_running_loop().create_task(worker.run())
    try:
        await until(lambda: library.load(status.id).status == "failed")
    finally:
        await worker.stop(task)
    failed = library.load(status.id)
    assert failed.attempts == MAX_ATTEMPTS
    assert failed.error is not None and "no start line" in failed.error
    assert (directory / "journal.jsonl").exists()  # the raw recording is kept


async def test_a_job_of_a_worker_that_died_is_claimed_by_another(
    redis_url: str, library: Library, clips: Path
) -> None:
    stream = f"test:jobs:{uuid.uuid4().hex}"
    dead = RedisQueue(redis_url, stream=stream, consumer="dead", claim_idle_ms=300)
    alive = RedisQueue(redis_url, stream=stream, consumer="alive", claim_idle_ms=300)
    made = generate_session(library, clips, duration_s=4, channels=(), screen=None)
    try:
        await dead.submit(made.status.id)
        taken = await dead.take()  # ... and the worker holding it is gone
        assert (
            taken is not None
            and taken.recording_id == made.status.id
            and await alive.pending() == 1
        )
        await asyncio.sleep(0.4)
        claimed = await alive.take()
        assert claimed is not None and claimed == taken
        await Worker(library, alive).handle(claimed)
        assert library.load(made.status.id).status == "ready"
        assert await alive.pending() == 0
    finally:
        await alive.redis.delete(stream)
        await dead.close()
        await alive.close()


async def test_two_workers_do_not_process_one_recording_at_once(library: Library) -> None:
    status = RecordingStatus("20240101-000000-aaaaaa", "demo", "T", None, "Tea", 1.0)
    directory = library.create(status)
    with exclusive(directory) as first, exclusive(directory) as second:
        assert first and not second
    with exclusive(directory) as again:
        assert again


def test_recovery_closes_what_a_crash_cut_off(library: Library) -> None:
    mine = RecordingStatus("20240101-000000-111111", "a", "Mine", None, "Tea", 1.0, owner="node-1")
    other = RecordingStatus(
        "20240101-000000-222222", "b", "Other", None, "Ana", 2.0, owner="node-2"
    )
    queued = RecordingStatus("20240101-000000-333333", "c", "Queued", None, "Ana", 3.0)
    queued.status = "processing"
    for status in (mine, other, queued):
        directory = library.create(status)
        (directory / "journal.jsonl").write_text('{"kind": "started", "t": 1.0}\n')
    todo = recover(library, "node-1")
    assert sorted(todo) == [mine.id, queued.id]
    assert library.load(mine.id).stop_reason == "recovered"
    assert library.load(other.id).status == "recording"  # another node's, still live there
    journal = read_journal(library.directory(mine.id) / "journal.jsonl")
    assert [e["kind"] for e in journal] == ["started", "recovered"]


async def test_the_worker_command_processes_jobs_from_redis(
    redis_url: str, tmp_path: Path, clips: Path
) -> None:
    data = tmp_path / "data"
    library = Library(data / "recordings")
    made = generate_session(library, clips, duration_s=4, channels=("sq",), screen=None)
    queue = RedisQueue(redis_url)  # the command's own stream
    env = {**os.environ, "CLASSROOM_REDIS_URL": redis_url, "CLASSROOM_DATA_DIR": str(data)}
    env["CLASSROOM_LOG_FORMAT"] = "text"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "web.cli",
        "worker",
        "--jobs",
        "2",
        cwd=ROOT,
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await queue.submit(made.status.id)
        await until(lambda: library.load(made.status.id).status == "ready")
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = await asyncio.wait_for(process.communicate(), 30)
        await queue.close()
    assert process.returncode == 0, errors.decode()
    assert library.load(made.status.id).languages == ["sr", "sq"]


def test_the_worker_command_needs_redis(tmp_path: Path) -> None:
    env = {**os.environ, "CLASSROOM_DATA_DIR": str(tmp_path), "CLASSROOM_REDIS_URL": ""}
    result = subprocess.run(
        [sys.executable, "-m", "web.cli", "worker"], cwd=ROOT, env=env, capture_output=True
    )
    assert result.returncode == 2 and b"redis_url" in result.stderr
