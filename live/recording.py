"""Recording a room: the ``Recordings`` service, and what a live room keeps while it records.

Trainers start and stop a room's recording (``classroom.recording.RecordingState``, kept
with the recorder in ``LiveRoom.recording``, a ``RoomRecording``); the room is told, the
recorder taps the room's media router. While it records, the room's public events go into
the journal (they become chapters). A stopped recording goes to the job queue; this
process runs ``recording_workers`` workers of its own, and on start it closes what a crash
cut off and queues what was left unprocessed.

Disk work (the library's status files, directory creation, disk usage, the journal's
first fsync'd lines) runs in a thread, never on the event loop that forwards media.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from classroom.catalogue import Catalogue
from classroom.errors import ClassroomError, InsufficientStorage, InvalidCommand
from classroom.identity import Identity
from classroom.permissions import Action, require
from classroom.recording import InterruptRecording, RecordingState, StartRecording, StopRecording
from classroom.room import Event, SessionChanged
from config import Settings
from live.hub import Connection, Hub, LiveRoom, event_message, message_type
from recordings.capture import Capture
from recordings.jobs import JobQueue, open_queue
from recordings.library import Library, RecordingStatus, new_recording_id
from recordings.recorder import MIN_FREE_BYTES, Recorder
from recordings.worker import Worker, recover

if TYPE_CHECKING:
    from media.router import MediaRouter
    from media.tap import Tap

log = logging.getLogger("classroom.recordings")

TAP_PID = "recorder"


class RoomRecording:
    """A room's recording switch and, while it is on, the recorder and its tap."""

    def __init__(self) -> None:
        self.state = RecordingState()
        self.capture: Capture | None = None
        self.tap: Tap | None = None
        self.recording_id: str | None = None
        self.stopping: asyncio.Task[Any] | None = None
        # Set while a start does its disk work: the switch is on, the recorder not yet.
        self.starting: asyncio.Future[None] | None = None

    @property
    def idle(self) -> bool:
        """The hub keeps the room while this records."""
        return not self.state.recording


def of(live: LiveRoom) -> RoomRecording:
    """The room's recording part, made on first use."""
    if live.recording is None:
        live.recording = RoomRecording()
    return live.recording


def describe(live: LiveRoom, pid: str) -> tuple[str, str | None, str | None]:
    """How the room knows someone: name, role, and language (an interpreter's: their channel)."""
    participant = live.core.participants.get(pid)
    if participant is None:
        return "", None, None
    lang = participant.lang
    if live.interpretation is not None:
        interpreter = live.interpretation.interpreters.get(pid)
        if interpreter is not None:
            lang = interpreter.channel
    return participant.name, participant.role.value, lang


class Recordings:
    """The recordings of this process's rooms, the library on disk and the job queue.

    ``router_for(live)`` gives the room's media router (made on first use), which the
    recorder taps."""

    def __init__(
        self,
        hub: Hub,
        settings: Settings,
        catalogue: Catalogue,
        router_for: Callable[[LiveRoom], MediaRouter],
    ) -> None:
        self.hub = hub
        self.settings = settings
        self.catalogue = catalogue
        self.router_for = router_for
        self.library = Library(settings.data_dir / "recordings")
        self.min_free_bytes = MIN_FREE_BYTES
        self.queue: JobQueue | None = None

    def part(self, live: LiveRoom) -> RoomRecording:
        return of(live)

    async def start(
        self, live: LiveRoom, identity: Identity, title: str | None, module_id: str | None
    ) -> RecordingStatus:
        require(identity.role, Action.RECORD)
        session = live.core.session
        module_id = module_id or (session.module_id if session else None)
        if module_id is not None:
            self.catalogue.module(module_id)  # NotFound when there is no such module
        await asyncio.to_thread(self._check_storage)
        part, now = self.part(live), live.hub.clock()
        title = title or (session.title if session else None) or live.name
        recording_id = new_recording_id(now)
        # The switch goes on first (or the start is refused, having changed nothing);
        # the room hears of it once the recorder is ready.
        events = part.state.handle(
            StartRecording(identity.name, identity.role, recording_id, title), now
        )
        loop = asyncio.get_running_loop()

        def failed(reason: str) -> None:  # in the recorder's thread
            loop.call_soon_threadsafe(self.interrupt, live, reason)

        interpretation = live.interpretation
        floor = interpretation.floor_language if interpretation is not None else None
        status = RecordingStatus(
            id=recording_id,
            room=live.name,
            title=title,
            module_id=module_id,
            trainer=identity.name,
            started_at=now,
            owner=self.settings.node_id,
        )
        info = {
            "room": live.name,
            "title": title,
            "module_id": module_id,
            "trainer": identity.name,
            "floor_language": floor or identity.lang,
        }
        starting = part.starting = loop.create_future()
        try:
            recorder = await asyncio.to_thread(self._create, status, live.hub.clock, failed, info)
            self._attach(live, part, recorder, recording_id, now)
        except BaseException:
            part.state.handle(InterruptRecording("write_error"), now)
            part.capture = part.tap = part.recording_id = None
            raise
        finally:
            part.starting = None
            starting.set_result(None)
        live.deliver(events)
        log.info("recording started", extra={"room": live.name, "recording": recording_id})
        return status

    def _check_storage(self) -> None:
        """In a thread: refuse to start without room on the recordings disk."""
        self.library.root.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.library.root).free
        if free < self.min_free_bytes:
            raise InsufficientStorage(f"only {free // 2**20} MiB free on the recordings disk")

    def _create(
        self,
        status: RecordingStatus,
        clock: Callable[[], float],
        failed: Callable[[str], None],
        info: dict[str, Any],
    ) -> Recorder:
        """In a thread: the recording's directory, its status file and the journal's start."""
        directory = self.library.create(status)
        recorder = Recorder(directory, clock, on_failure=failed)
        recorder.start(**info)
        return recorder

    def _attach(
        self, live: LiveRoom, part: RoomRecording, recorder: Recorder, recording_id: str, now: float
    ) -> None:
        """On the loop: the room as it is now opens the journal, and the recorder taps it."""
        interpretation = live.interpretation
        state: dict[str, Any] = interpretation.snapshot() if interpretation is not None else {}
        capture = Capture(recorder, lambda pid: describe(live, pid), live.hub.clock)
        participants = [p.to_json() for p in live.core.participants.values()]
        capture.record_event("room_snapshot", {"participants": participants})
        for channel in state.get("channels", []):
            if channel.get("on_air"):  # who is on air already: the start of the timeline
                on_air = {"channel": channel["lang"], "id": channel["on_air"]}
                on_air.update(name=channel.get("on_air_name"), previous=None, at=now)
                capture.record_event("on_air_changed", on_air)
        part.capture, part.recording_id = capture, recording_id
        part.tap = self.router_for(live).add_tap(capture, TAP_PID)
        capture.request_keyframe = part.tap.request_keyframe

    async def stop(
        self, live: LiveRoom, actor: Identity | None, reason: str = "stopped"
    ) -> RecordingStatus:
        """Stop (a trainer: ``actor``; else ``reason``), close the files, queue processing."""
        part = self.part(live)
        if part.starting is not None:  # a start still writing its first files: let it finish
            await asyncio.shield(part.starting)
        now = live.hub.clock()
        if actor is not None:
            events = part.state.handle(StopRecording(actor.name, actor.role), now)
        else:
            events = part.state.handle(InterruptRecording(reason), now)
        capture, tap, recording_id = part.capture, part.tap, part.recording_id
        part.capture = part.tap = part.recording_id = None
        live.deliver(events)
        assert capture is not None and recording_id is not None
        if tap is not None:
            tap.close()
        await capture.stop(reason)
        final_reason = capture.recorder.failure or reason
        status = await asyncio.to_thread(
            self.library.update,
            recording_id,
            status="processing",
            stopped_at=now,
            stop_reason=final_reason,
        )
        if self.queue is not None:
            await self.queue.submit(recording_id)
        log.info("recording stopped", extra={"room": live.name, "recording": recording_id})
        return status

    def interrupt(self, live: LiveRoom, reason: str) -> None:
        """Stop without a trainer (the recorder failed, the session ended): in the background."""
        part = self.part(live)
        if not part.state.recording or (part.stopping is not None and not part.stopping.done()):
            return

        async def run() -> None:
            with contextlib.suppress(ClassroomError):
                await self.stop(live, None, reason)

        part.stopping = asyncio.get_running_loop().create_task(run())

    def journal(self, live: LiveRoom, events: list[Event]) -> None:
        """Hub listener: the room's public events go into the journal of its recording."""
        part = live.recording
        if part is None or part.capture is None:
            return
        for event in events:
            if event.to is None:
                message = event_message(event)
                del message["type"]
                part.capture.record_event(message_type(event), message)
            if isinstance(event, SessionChanged) and event.session.get("state") == "ended":
                self.interrupt(live, "session_ended")

    def watch_empty(self, live: LiveRoom, events: list[Event]) -> None:
        """Hub listener (also called by the expiry sweep, every few seconds): a recording
        with nobody publishing for ``recording_empty_stop_s`` stops, as ``empty_room``."""
        part = live.recording
        if part is None or not part.state.recording:
            return
        present = set(live.core.present_ids())
        publishers = live.media.publishers if live.media is not None else {}
        publishing = any(pid in present for pid in publishers)
        empty = part.state.empty_for(publishing, live.hub.clock())
        if empty >= self.settings.recording_empty_stop_s:
            self.interrupt(live, "empty_room")

    async def joined(self, conn: Connection, live: LiveRoom) -> None:
        """A newcomer learns that the room is being recorded (once the room is told)."""
        part = live.recording
        current = part.state.current if part is not None and part.starting is None else None
        if current is not None:
            conn.send(
                {
                    "type": "recording_started",
                    "id": current.id,
                    "title": current.title,
                    "by": current.by,
                    "at": current.started_at,
                }
            )

    async def stop_all(self) -> None:
        """On shutdown: every recording under way is closed properly and queued."""
        for live in list(self.hub.rooms.values()):
            part = live.recording
            if part is not None and part.state.recording:
                with contextlib.suppress(ClassroomError):
                    await self.stop(live, None, "shutdown")

    async def run_workers(self) -> AsyncIterator[None]:
        """The queue, recovery after a crash, and this process's workers, while it yields."""
        settings = self.settings
        self.queue = open_queue(settings.redis_url)
        recovered = await asyncio.to_thread(recover, self.library, settings.node_id)
        for recording_id in recovered:
            status = await asyncio.to_thread(self.library.load, recording_id)
            # Redis keeps queued jobs across restarts: only the recovered ones are new.
            if not settings.redis_url or status.stop_reason == "recovered":
                await self.queue.submit(recording_id)
        loop = asyncio.get_running_loop()
        workers = [Worker(self.library, self.queue) for _ in range(settings.recording_workers)]
        tasks = [loop.create_task(worker.run()) for worker in workers]
        yield
        await asyncio.gather(*(w.stop(t) for w, t in zip(workers, tasks, strict=True)))
        await self.queue.close()

    # --- the library, off the event loop -------------------------------------

    async def load(self, recording_id: str) -> RecordingStatus:
        """A recording's status (NotFound when there is none)."""
        return await asyncio.to_thread(self.library.load, recording_id)

    async def retry(self, status: RecordingStatus) -> RecordingStatus:
        """Process a failed recording again: its raw tracks are kept."""
        if status.status != "failed":
            raise InvalidCommand(
                f"only a failed recording can be processed again, not a {status.status} one"
            )
        status = await asyncio.to_thread(
            self.library.update,
            status.id,
            status="processing",
            attempts=0,
            error=None,
            step=None,
            progress=0.0,
        )
        if self.queue is not None:  # else the queue opens at start-up and takes it then
            await self.queue.submit(status.id)
        log.info("processing again on request", extra={"recording": status.id})
        return status
