"""Recording a room: trainers start and stop it, the room is told, the recorder taps the media.

``POST /api/rooms/{room}/recording`` with ``{"action": "start" | "stop"}`` drives a
room's ``classroom.recording.RecordingState`` (kept with the recorder in
``LiveRoom.recording``). While it records, the room's public events go into the
journal (they become chapters). A stopped recording goes to the job queue; this process
runs ``recording_workers`` workers of its own, and on start it closes what a crash cut
off and queues what was left unprocessed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
from collections.abc import AsyncIterator
from typing import Any, Literal

import pydantic
from aiohttp import web

from classroom.errors import ClassroomError, InvalidCommand
from classroom.identity import Identity
from classroom.permissions import Action, require
from classroom.recording import (
    InterruptRecording,
    StartRecording,
    StopRecording,
)
from classroom.room import Event, SessionChanged
from live.hub import Connection, LiveRoom, event_message, message_type
from live.recording import RoomRecording, describe
from live.recording import of as recording_of
from recordings.capture import Capture
from recordings.jobs import JobQueue, open_queue
from recordings.library import Library, RecordingStatus, new_recording_id
from recordings.recorder import MIN_FREE_BYTES, Recorder
from recordings.worker import Worker, recover
from web import media_handlers
from web.api import authorize, own_room
from web.context import CATALOGUE, HUB, SETTINGS
from web.errors import read_json
from web.ws import Dispatcher

log = logging.getLogger("classroom.recordings")

TAP_PID = "recorder"


class RecordingRequest(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    action: Literal["start", "stop"]
    title: str | None = pydantic.Field(default=None, min_length=1, max_length=200)
    module: str | None = pydantic.Field(default=None, min_length=1, max_length=100)


def insufficient_storage(message: str) -> web.HTTPException:
    body = json.dumps({"error": {"code": "insufficient_storage", "message": message}})
    return web.HTTPInsufficientStorage(text=body, content_type="application/json")


class Recordings:
    """The recordings of this process's rooms, the library on disk and the job queue."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        settings = app[SETTINGS]
        self.library = Library(settings.data_dir / "recordings")
        self.min_free_bytes = MIN_FREE_BYTES
        self.queue: JobQueue | None = None

    def part(self, live: LiveRoom) -> RoomRecording:
        return recording_of(live)

    async def start(
        self, live: LiveRoom, identity: Identity, title: str | None, module_id: str | None
    ) -> RecordingStatus:
        require(identity.role, Action.RECORD)
        session = live.core.session
        module_id = module_id or (session.module_id if session else None)
        if module_id is not None:
            self.app[CATALOGUE].module(module_id)  # NotFound when there is no such module
        self.library.root.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.library.root).free
        if free < self.min_free_bytes:
            raise insufficient_storage(f"only {free // 2**20} MiB free on the recordings disk")
        part, now = self.part(live), live.hub.clock()
        title = title or (session.title if session else None) or live.name
        recording_id = new_recording_id(now)
        events = part.state.handle(
            StartRecording(identity.name, identity.role, recording_id, title), now
        )
        try:
            status = self._begin(live, part, identity, recording_id, title, module_id, now)
        except Exception:
            part.state.handle(InterruptRecording("write_error"), now)
            part.capture = part.tap = part.recording_id = None
            raise
        live.deliver(events)
        log.info("recording started", extra={"room": live.name, "recording": recording_id})
        return status

    def _begin(
        self,
        live: LiveRoom,
        part: RoomRecording,
        identity: Identity,
        recording_id: str,
        title: str,
        module_id: str | None,
        now: float,
    ) -> RecordingStatus:
        status = RecordingStatus(
            id=recording_id,
            room=live.name,
            title=title,
            module_id=module_id,
            trainer=identity.name,
            started_at=now,
            owner=self.app[SETTINGS].node_id,
        )
        directory = self.library.create(status)
        loop = asyncio.get_running_loop()

        def failed(reason: str) -> None:  # in the recorder's thread
            loop.call_soon_threadsafe(self.interrupt, live, reason)

        interpretation = live.interpretation
        state: dict[str, Any] = interpretation.snapshot() if interpretation is not None else {}
        recorder = Recorder(directory, live.hub.clock, on_failure=failed)
        recorder.start(
            room=live.name,
            title=title,
            module_id=module_id,
            trainer=identity.name,
            floor_language=state.get("floor_language") or identity.lang,
        )
        capture = Capture(recorder, lambda pid: describe(live, pid), live.hub.clock)
        participants = [p.to_json() for p in live.core.participants.values()]
        capture.record_event("room_snapshot", {"participants": participants})
        for channel in state.get("channels", []):
            if channel.get("on_air"):  # who is on air already: the start of the timeline
                on_air = {"channel": channel["lang"], "id": channel["on_air"]}
                on_air.update(name=channel.get("on_air_name"), previous=None, at=now)
                capture.record_event("on_air_changed", on_air)
        part.capture, part.recording_id = capture, recording_id
        router = media_handlers.router_for(self.app, live)
        part.tap = router.add_tap(capture, TAP_PID)
        capture.request_keyframe = part.tap.request_keyframe
        return status

    async def stop(
        self, live: LiveRoom, actor: Identity | None, reason: str = "stopped"
    ) -> RecordingStatus:
        """Stop (a trainer: ``actor``; else ``reason``), close the files, queue processing."""
        part, now = self.part(live), live.hub.clock()
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
        status = self.library.update(
            recording_id, status="processing", stopped_at=now, stop_reason=final_reason
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
        if empty >= self.app[SETTINGS].recording_empty_stop_s:
            self.interrupt(live, "empty_room")

    async def joined(self, conn: Connection, live: LiveRoom) -> None:
        """A newcomer learns that the room is being recorded."""
        part = live.recording
        current = part.state.current if part is not None else None
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

    async def stop_all(self, app: web.Application) -> None:
        """On shutdown: every recording under way is closed properly and queued."""
        for live in list(app[HUB].rooms.values()):
            part = live.recording
            if part is not None and part.state.recording:
                with contextlib.suppress(ClassroomError):
                    await self.stop(live, None, "shutdown")

    async def run_workers(self, app: web.Application) -> AsyncIterator[None]:
        """Clean-up context: the queue, recovery after a crash, and this process's workers."""
        settings = app[SETTINGS]
        self.queue = open_queue(settings.redis_url)
        recovered = await asyncio.to_thread(recover, self.library, settings.node_id)
        for recording_id in recovered:
            status = self.library.load(recording_id)
            # Redis keeps queued jobs across restarts: only the recovered ones are new.
            if not settings.redis_url or status.stop_reason == "recovered":
                await self.queue.submit(recording_id)
        loop = asyncio.get_running_loop()
        workers = [Worker(self.library, self.queue) for _ in range(settings.recording_workers)]
        tasks = [loop.create_task(worker.run()) for worker in workers]
        yield
        await asyncio.gather(*(w.stop(t) for w, t in zip(workers, tasks, strict=True)))
        await self.queue.close()


RECORDINGS = web.AppKey("recordings", Recordings)


async def recording_api(request: web.Request) -> web.Response:
    """Start or stop recording one's own room (trainers)."""
    identity = authorize(request, Action.RECORD)
    room = identity.room
    body = await read_json(request, RecordingRequest)
    service, hub = request.app[RECORDINGS], request.app[HUB]
    if body.action == "start":
        status = await service.start(hub.room(room), identity, body.title, body.module)
        return web.json_response(status.to_json(), status=201)
    if body.title is not None or body.module is not None:
        raise InvalidCommand("title and module are for starting a recording")
    live = hub.rooms.get(room)
    if live is None:
        raise InvalidCommand("the room is not being recorded")
    return web.json_response((await service.stop(live, identity)).to_json())


async def recording_state(request: web.Request) -> web.Response:
    """Whether one's own room is being recorded (for pages that start listening late)."""
    room = authorize(request).room
    live = request.app[HUB].rooms.get(room)
    part = live.recording if live is not None else None
    current = part.state.snapshot() if part is not None else None
    return web.json_response({"recording": current})


async def retry_recording(request: web.Request) -> web.Response:
    """Process a failed recording again (trainers of its room): its raw tracks are kept."""
    identity = authorize(request, Action.RECORD)
    service = request.app[RECORDINGS]
    status = service.library.load(request.match_info["id"])
    own_room(identity, status.room)
    if status.status != "failed":
        raise InvalidCommand(
            f"only a failed recording can be processed again, not a {status.status} one"
        )
    status = service.library.update(
        status.id, status="processing", attempts=0, error=None, step=None, progress=0.0
    )
    if service.queue is not None:  # else the queue opens at start-up and takes it then
        await service.queue.submit(status.id)
    log.info("processing again on request", extra={"recording": status.id})
    return web.json_response(status.to_json(), status=202)


def setup(app: web.Application, dispatcher: Dispatcher) -> None:
    service = app[RECORDINGS] = Recordings(app)
    app[HUB].listeners.append(service.journal)
    app[HUB].listeners.append(service.watch_empty)
    dispatcher.on_join.append(service.joined)
    app.on_shutdown.append(service.stop_all)
    app.cleanup_ctx.append(service.run_workers)
    app.router.add_post("/api/rooms/{room}/recording", recording_api)
    app.router.add_get("/api/rooms/{room}/recording", recording_state)
    app.router.add_post("/api/recordings/{id}/retry", retry_recording)
