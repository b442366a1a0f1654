"""The recording service without a web server: start and stop over a room, its disk work in
threads (never on the event loop that forwards media), refusals that change nothing."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import tomllib
from collections.abc import Callable
from typing import Any

import pytest

from classroom.catalogue import Catalogue
from classroom.errors import InsufficientStorage, InvalidCommand
from classroom.identity import Identity
from classroom.permissions import Role
from config import Settings
from live.hub import Hub, LiveRoom
from live.recording import Recordings, RoomRecording
from recordings.library import Library


class Tap:
    def __init__(self) -> None:
        self.closed = False

    def request_keyframe(self, track_id: str) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class Router:
    """What the service needs of a media router: a tap for the recorder."""

    def __init__(self) -> None:
        self.taps: list[Tap] = []

    def add_tap(self, consumer: Any, pid: str = "recorder") -> Tap:
        self.taps.append(Tap())
        return self.taps[-1]


class Conn:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


def trainer(name: str = "Tea") -> Identity:
    now = int(time.time())
    return Identity(
        sub="t", name=name, role=Role.TRAINER, room="demo", lang="sr", iat=now, exp=now + 3600
    )


@pytest.fixture
def service(settings: Settings) -> tuple[Recordings, Router]:
    with settings.catalogue_path.open("rb") as file:
        catalogue = Catalogue.from_dict(tomllib.load(file))
    router = Router()
    return Recordings(Hub(), settings, catalogue, lambda live: router), router  # type: ignore[arg-type,return-value]


def off_the_loop(monkeypatch: pytest.MonkeyPatch, *names: str) -> list[str]:
    """Record the thread that runs each of ``Library``'s methods ``names``."""
    threads: list[str] = []
    for name in names:
        original: Callable[..., Any] = getattr(Library, name)

        def spy(*args: Any, _original: Callable[..., Any] = original, **kw: Any) -> Any:
            threads.append(threading.current_thread().name)
            return _original(*args, **kw)

        monkeypatch.setattr(Library, name, spy)
    return threads


async def test_a_recording_starts_and_stops_its_files_written_in_threads(
    service: tuple[Recordings, Router], monkeypatch: pytest.MonkeyPatch
) -> None:
    recordings, router = service
    threads = off_the_loop(monkeypatch, "create", "update", "load")
    live = recordings.hub.room("demo")
    status = await recordings.start(live, trainer(), "Borders", None)
    part = live.recording
    assert isinstance(part, RoomRecording) and part.state.recording and part.capture is not None
    assert (status.status, status.title, status.trainer) == ("recording", "Borders", "Tea")
    newcomer = Conn()
    await recordings.joined(newcomer, live)  # type: ignore[arg-type]
    assert newcomer.sent[0]["type"] == "recording_started" and newcomer.sent[0]["id"] == status.id

    stopped = await recordings.stop(live, trainer())
    assert (stopped.status, stopped.stop_reason) == ("processing", "stopped")
    assert not part.state.recording and part.capture is None and router.taps[0].closed
    assert (await recordings.load(status.id)).status == "processing"
    journal = recordings.library.directory(status.id) / "journal.jsonl"
    kinds = [json.loads(line)["kind"] for line in journal.read_text().splitlines()]
    assert kinds[0] == "started" and kinds[-1] == "stopped"
    assert threads and threading.main_thread().name not in threads


async def test_no_room_on_the_disk_is_a_domain_error_that_changes_nothing(
    service: tuple[Recordings, Router],
) -> None:
    recordings, router = service
    recordings.min_free_bytes = 1 << 62
    live = recordings.hub.room("demo")
    with pytest.raises(InsufficientStorage, match="free"):
        await recordings.start(live, trainer(), None, None)
    assert recordings.library.all() == [] and not router.taps
    assert live.recording is None or not live.recording.state.recording


async def test_a_stop_during_the_start_waits_for_the_recorder(
    service: tuple[Recordings, Router], monkeypatch: pytest.MonkeyPatch
) -> None:
    recordings, _ = service
    entered, release = threading.Event(), threading.Event()
    create = recordings._create

    def slow_create(*args: Any) -> Any:
        entered.set()
        release.wait(5)
        return create(*args)

    monkeypatch.setattr(recordings, "_create", slow_create)
    live = recordings.hub.room("demo")
    starting = asyncio.create_task(recordings.start(live, trainer(), None, None))
    assert await asyncio.to_thread(entered.wait, 5)
    assert live.recording is not None and live.recording.starting is not None
    newcomer = Conn()
    await recordings.joined(newcomer, live)  # type: ignore[arg-type]
    assert newcomer.sent == []  # the room is not told yet: nor is a newcomer
    with pytest.raises(InvalidCommand, match="already"):
        await recordings.start(live, trainer(), None, None)
    stopping = asyncio.create_task(recordings.stop(live, trainer()))
    await asyncio.sleep(0.05)
    assert not stopping.done()
    release.set()
    started, stopped = await starting, await stopping
    assert stopped.id == started.id and stopped.status == "processing"


async def test_a_start_that_fails_leaves_the_room_unrecorded(
    service: tuple[Recordings, Router],
) -> None:
    recordings, _ = service

    def no_router(live: LiveRoom) -> Any:
        raise OSError("no router")

    recordings.router_for = no_router
    live = recordings.hub.room("demo")
    with pytest.raises(OSError):
        await recordings.start(live, trainer(), None, None)
    assert live.recording is not None and not live.recording.state.recording
    assert live.recording.starting is None
