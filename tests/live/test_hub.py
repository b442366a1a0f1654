"""A live room's background work: kept, its failures logged, ended with the room; and a
forgotten room closes what it holds (the media router)."""

from __future__ import annotations

import asyncio

import pytest

from live.hub import Hub


class Router:
    """A part holding resources, as the media router does."""

    idle = True

    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


async def test_a_failing_task_is_logged_with_its_room(caplog: pytest.LogCaptureFixture) -> None:
    live = Hub().room("demo")

    async def fails() -> None:
        raise RuntimeError("disk gone")

    task = live.spawn(fails(), "quiz question deadline")
    assert task in live.tasks
    with pytest.raises(RuntimeError):
        await task
    await asyncio.sleep(0)  # the done callback runs
    assert not live.tasks
    record = next(r for r in caplog.records if r.message == "room task failed")
    assert record.room == "demo" and "quiz question deadline" in record.task  # type: ignore[attr-defined]


async def test_a_forgotten_room_ends_its_tasks_and_closes_its_router() -> None:
    hub = Hub()
    live = hub.room("demo")
    router = live.media = Router()
    waiting = live.spawn(asyncio.Event().wait(), "a timer")
    hub.expire()  # nobody there: the room is forgotten
    assert "demo" not in hub.rooms
    await asyncio.gather(*hub.closing)
    assert waiting.cancelled() and router.closed and not live.tasks
