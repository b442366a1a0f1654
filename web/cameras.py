"""IP cameras over HTTP: a trainer adds, lists and removes their room's RTSP cameras.

``POST /api/rooms/{room}/cameras`` {name, url, username?, password?} adds one (201),
``GET`` lists them with their state, ``DELETE /api/rooms/{room}/cameras/{id}`` removes
one. The service (``live.cameras``) pulls each camera and publishes it into its room;
this module gives it the way in and out of a room a page takes (``take_presence``, as
WHIP's encoders do: a participant without a websocket), and tells trainers joining the
room the cameras' states (``cameras`` message).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from typing import Annotated

import pydantic
from aiohttp import web

from classroom.errors import ClassroomError, Forbidden
from classroom.identity import Identity
from classroom.permissions import Action, Role, can
from classroom.room import Leave
from live.cameras import Camera, Cameras, Enter, new_camera
from live.cameras import Leave as LeaveRoom
from live.hub import Connection, LiveRoom
from live.store import RedisStore
from web.api import authorize
from web.context import HUB, STORE
from web.errors import read_json
from web.media_handlers import MEDIA
from web.whip import _Nowhere as Nowhere
from web.ws import DISPATCHER, Dispatcher, depart, take_presence

routes = web.RouteTableDef()
CAMERAS: web.AppKey[Cameras] = web.AppKey("cameras", Cameras)
#: A camera's presence never expires (it has no token: the server holds it).
NEVER = 2**31 - 1


class NewCamera(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: Annotated[str, pydantic.StringConstraints(strip_whitespace=True, min_length=1)] = (
        pydantic.Field(max_length=64)
    )
    url: str = pydantic.Field(min_length=1, max_length=2048)
    username: str | None = pydantic.Field(default=None, max_length=256)
    password: str | None = pydantic.Field(default=None, max_length=256)


@routes.get("/api/rooms/{room}/cameras")
async def list_cameras(request: web.Request) -> web.Response:
    identity = authorize(request, Action.MODERATE)
    return web.json_response({"cameras": request.app[CAMERAS].of_room(identity.room)})


@routes.post("/api/rooms/{room}/cameras")
async def add_camera(request: web.Request) -> web.Response:
    identity = authorize(request, Action.MODERATE)
    body = await read_json(request, NewCamera)
    camera = new_camera(identity.room, body.name, body.url, body.username, body.password)
    return web.json_response(await request.app[CAMERAS].add(camera), status=201)


@routes.delete("/api/rooms/{room}/cameras/{camera}")
async def remove_camera(request: web.Request) -> web.Response:
    identity = authorize(request, Action.MODERATE)
    await request.app[CAMERAS].remove(identity.room, request.match_info["camera"])
    return web.Response(status=204)


def _ways(app: web.Application) -> tuple[Enter, LeaveRoom]:
    """How a camera enters its room and leaves it: as a page would, without a websocket."""

    async def enter(camera: Camera) -> tuple[LiveRoom, Connection]:
        now = int(time.time())
        identity = Identity(
            camera.participant, camera.name, camera.room, Role.ROOM, None, NEVER, now
        )
        conn = Connection(Nowhere(), identity, f"camera-{secrets.token_hex(8)}")
        live = app[HUB].room(camera.room)
        await take_presence(conn, live, app[DISPATCHER])
        if live.connections.get(conn.pid) is not conn:
            raise Forbidden(f"the camera {camera.name} may not join the room now")
        return live, conn

    async def leave(live: LiveRoom, conn: Connection) -> None:
        depart(conn, live)
        with contextlib.suppress(ClassroomError):
            live.apply(Leave(conn.pid))
        conn.close(1000, "camera stopped")

    return enter, leave


def setup(app: web.Application, dispatcher: Dispatcher) -> None:
    enter, leave = _ways(app)
    cameras = app[CAMERAS] = Cameras(app[HUB], app[MEDIA], lambda: app[STORE], enter, leave)

    async def greet(conn: Connection, live: LiveRoom) -> None:
        if can(conn.identity.role, Action.MODERATE):
            conn.send({"type": "cameras", "cameras": cameras.of_room(live.name)})

    loading: list[asyncio.Task[None]] = []

    async def start(app: web.Application) -> None:
        store = app[STORE]
        if isinstance(store, RedisStore):  # what Redis loses, this process writes back
            store.on_data_lost.append(cameras.write_back)
        loading.append(asyncio.get_running_loop().create_task(cameras.load_when_possible()))

    async def stop(app: web.Application) -> None:
        for task in loading:
            task.cancel()
        await asyncio.gather(*loading, return_exceptions=True)
        await cameras.close()

    dispatcher.on_join.append(greet)
    app.on_startup.append(start)
    app.on_shutdown.insert(0, stop)  # before the routers close: no reconnecting meanwhile
    app.router.add_routes(routes)
