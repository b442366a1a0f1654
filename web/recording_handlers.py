"""Recording a room over HTTP: the routes and request models of ``live.recording.Recordings``.

``POST /api/rooms/{room}/recording`` with ``{"action": "start" | "stop"}`` starts or stops
one's own room's recording; ``GET`` says whether it records; ``POST
/api/recordings/{id}/retry`` processes a failed recording again. The service itself (the
recorder's tap, the journal, the job queue and workers) is built by the composition root.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

import pydantic
from aiohttp import web

from classroom.errors import InvalidCommand
from classroom.permissions import Action
from live.recording import Recordings
from web.api import authorize, own_room
from web.context import HUB
from web.errors import read_json
from web.ws import Dispatcher

RECORDINGS = web.AppKey("recordings", Recordings)


class RecordingRequest(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    action: Literal["start", "stop"]
    title: str | None = pydantic.Field(default=None, min_length=1, max_length=200)
    module: str | None = pydantic.Field(default=None, min_length=1, max_length=100)


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
    status = await service.load(request.match_info["id"])
    own_room(identity, status.room)
    status = await service.retry(status)
    return web.json_response(status.to_json(), status=202)


def setup(app: web.Application, dispatcher: Dispatcher) -> None:
    """Wire the service the composition root put in ``app[RECORDINGS]``."""
    service = app[RECORDINGS]
    app[HUB].listeners.append(service.journal)
    app[HUB].listeners.append(service.watch_empty)
    dispatcher.on_join.append(service.joined)

    async def stop_all(app: web.Application) -> None:
        await service.stop_all()

    def workers(app: web.Application) -> AsyncIterator[None]:
        return service.run_workers()

    app.on_shutdown.append(stop_all)
    app.cleanup_ctx.append(workers)
    app.router.add_post("/api/rooms/{room}/recording", recording_api)
    app.router.add_get("/api/rooms/{room}/recording", recording_state)
    app.router.add_post("/api/recordings/{id}/retry", retry_recording)
