"""IP cameras: a trainer adds an RTSP camera to their room, and the server publishes it.

Each camera is kept in the store (hash ``cameras``: id -> its record, credentials
included: they never leave the server) and runs as a ``Feed``: open the stream
(``media.rtsp``), join the room as a participant named after the camera, publish its
H.264 as a ``camera`` source through the room's router (``Media.publish``, over a
loopback connection of the server's own), and wait until the stream ends, the connection
fails or the camera is removed. Then it leaves the room and tries again after a backoff
(1, 2, 4, 8, then every 15 s), its state saying why, until the camera is removed.
Joining and leaving a room are the transport's (``web.cameras`` gives them).

States: ``connecting`` (first attempt; or waiting in a locked room's lobby, error
``lobby``, until a trainer lets it in), ``live``, ``reconnecting`` (with the last
error's code and words), ``stopped`` (a trainer removed the camera's participant).
Trainers in the room are told each change (``cameras`` message).

What anyone is shown of a camera (``public_view``) has its URL without credentials and
no password; credentials written in the URL (``rtsp://user:pass@host/...``) are taken
out of it and kept beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from classroom import room as core
from classroom.errors import ClassroomError, InvalidCommand, NotFound, StoreUnavailable
from classroom.ports import Store
from live.hub import Connection, Hub, LiveRoom
from live.media import Media
from media.rtsp import CameraError, CameraPeer, CameraTrack, open_camera, with_credentials

log = logging.getLogger("classroom.cameras")

KEY = "cameras"
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0)
MAX_CAMERAS_PER_ROOM = 16
LOAD_RETRY_S = 5.0
LOBBY = CameraError("lobby", "the room is locked: the camera waits in the lobby to be let in")


SCHEMES = ("rtsp", "rtsps")


class BadCameraUrl(ClassroomError):
    """The camera's URL is not one the server can pull (HTTP 400)."""

    code = "bad_url"


@dataclasses.dataclass(frozen=True)
class Camera:
    id: str
    room: str
    name: str
    url: str  # without credentials
    username: str | None = None
    password: str | None = None

    @property
    def participant(self) -> str:
        """The camera's participant id in its room."""
        return f"camera-{self.id}"

    @property
    def source_url(self) -> str:
        """What the server opens: the URL with the credentials in it."""
        return with_credentials(self.url, self.username, self.password)

    def to_record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Camera:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in fields})


def new_camera(
    room: str, name: str, url: str, username: str | None, password: str | None
) -> Camera:
    """A camera to add, its URL checked (BadCameraUrl says what is wrong)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise BadCameraUrl(f"the camera's URL is malformed: {error}") from None
    if parts.scheme.lower() not in SCHEMES:
        raise BadCameraUrl("the camera's URL must start with rtsp:// or rtsps://")
    if not parts.hostname:
        raise BadCameraUrl("the camera's URL names no host")
    if parts.username is not None and not username:
        username = unquote(parts.username)
        password = password or unquote(parts.password or "")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host if port is None else f"{host}:{port}"
    clean = urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, ""))
    return Camera("", room, name.strip(), clean, username or None, password or None)


def public_view(camera: Camera) -> dict[str, Any]:
    """What trainers are shown: no password, a URL without credentials."""
    return {
        "id": camera.id,
        "name": camera.name,
        "url": camera.url,
        "username": camera.username,
        "has_password": bool(camera.password),
    }


#: How a camera enters its room and leaves it (the transport's: ``web.cameras``).
Enter = Callable[[Camera], Awaitable[tuple[LiveRoom, Connection]]]
Leave = Callable[[LiveRoom, Connection], Awaitable[None]]


@dataclasses.dataclass
class State:
    state: str = "connecting"
    error: str | None = None  # a code: unreachable, unauthorized, codec, dropped...
    message: str | None = None  # the same, for people
    profile: str | None = None  # the H.264 profile copied, once known

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Feed:
    """One camera pulled and published into its room, again and again until stopped."""

    def __init__(
        self, camera: Camera, media: Media, enter: Enter, leave: Leave, changed: Callable[[], None]
    ) -> None:
        self.camera = camera
        self.state = State()
        self._media, self._enter, self._leave, self._changed = media, enter, leave, changed
        self._end: asyncio.Future[CameraError] | None = None
        self._admission: asyncio.Future[None] | None = None
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"camera-{camera.id}")

    def _set(self, state: str, error: CameraError | None = None) -> None:
        profile = self.state.profile
        code, words = (error.code, error.message) if error else (None, None)
        self.state = State(state, code, words, profile)
        self._changed()

    def end(self, error: CameraError) -> None:
        """Whatever the camera is doing now ends, for this reason."""
        if self._end is not None and not self._end.done():
            self._end.set_result(error)

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._once()
                raise AssertionError("a feed ends only by an error")  # pragma: no cover
            except CameraError as error:
                failure = error
            except ClassroomError as error:
                failure = CameraError(error.code, error.message)
            except Exception as error:  # the feed must go on trying
                log.exception("camera failed", extra={"camera": self.camera.id})
                failure = CameraError("failed", f"the camera could not be published: {error}")
            if failure.code == "removed":
                self._set("stopped", failure)
                return
            if self.state.state == "live":
                attempt = 0  # a camera that was live starts the backoff again
            delay = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
            attempt += 1
            self._set("reconnecting", failure)
            log.info(
                "camera reconnecting: %s",
                failure.message,  # never the URL: it may hold credentials
                extra={"camera": self.camera.id, "room": self.camera.room, "why": failure.code},
            )
            await asyncio.sleep(delay)

    async def _once(self) -> None:
        stream = await open_camera(self.camera.source_url)
        self._end = asyncio.get_running_loop().create_future()
        self.state.profile = stream.profile
        track = CameraTrack(stream)
        peer = CameraPeer(track)
        joined: tuple[LiveRoom, Connection] | None = None
        try:
            track.ended.add_done_callback(
                lambda done: self.end(CameraError("dropped", done.result()))
            )

            def state_changed() -> None:
                if peer.pc.connectionState == "connected":
                    self._set("live")
                elif peer.pc.connectionState in ("failed", "closed"):
                    self.end(CameraError("dropped", "the room's connection to the camera failed"))

            peer.pc.on("connectionstatechange", state_changed)
            sdp, mid = await peer.offer()
            joined = await self._enter(self.camera)
            live, conn = joined
            if conn.pid in live.core.lobby:  # a locked room: a trainer lets the camera in
                self._set("connecting", LOBBY)
                self._admission = asyncio.get_running_loop().create_future()
                either: set[asyncio.Future[Any]] = {self._admission, self._end}
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
                if self._end.done():
                    raise self._end.result()
            answer = await self._media.publish(conn, live, sdp, {mid: "camera"})
            await peer.answered(answer)
            raise await self._end
        finally:
            self._end = self._admission = None
            # Stopped while closing (a drop during shutdown), the connection closes all the
            # same: an ICE transport cut short would leave its sockets open.
            closing = asyncio.ensure_future(self._close(joined, peer))
            try:
                await asyncio.shield(closing)
            except asyncio.CancelledError:
                await closing
                raise

    async def _close(self, joined: tuple[LiveRoom, Connection] | None, peer: CameraPeer) -> None:
        """Out of the room, and the camera's connection and stream closed."""
        try:
            if joined is not None:
                with contextlib.suppress(Exception):
                    await self._media.left(joined[1], joined[0])
                await self._leave(*joined)
        finally:
            await peer.close()

    def admitted(self) -> None:
        """A trainer let the camera in from the lobby."""
        if self._admission is not None and not self._admission.done():
            self._admission.set_result(None)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class Cameras:
    """The IP cameras of every room: kept in the store, each fed while it is kept."""

    def __init__(
        self, hub: Hub, media: Media, store: Callable[[], Store], enter: Enter, leave: Leave
    ) -> None:
        self.hub, self.media, self.store = hub, media, store
        self.enter, self.leave = enter, leave
        self.feeds: dict[str, Feed] = {}
        hub.listeners.append(self.on_events)

    def _start(self, camera: Camera) -> None:
        self.feeds[camera.id] = Feed(
            camera, self.media, self.enter, self.leave, lambda: self.tell(camera.room)
        )

    async def load_when_possible(self) -> None:
        """At start-up: the cameras kept come back, once the store answers (the server
        starts and serves while Redis is away)."""
        while True:
            try:
                await self.load()
                return
            except StoreUnavailable:
                log.warning("cameras not loaded: the store is unavailable; trying again")
                await asyncio.sleep(LOAD_RETRY_S)

    async def load(self) -> None:
        """Every camera kept comes back."""
        for value in (await self.store().hgetall(KEY)).values():
            camera = Camera.from_record(json.loads(value))
            if camera.id not in self.feeds:
                self._start(camera)

    async def write_back(self) -> None:
        """The store lost its data (Redis restarted empty): the cameras running are kept again."""
        for feed in list(self.feeds.values()):
            await self.store().hset(KEY, feed.camera.id, json.dumps(feed.camera.to_record()))

    def of_room(self, room: str) -> list[dict[str, Any]]:
        """What trainers see of the room's cameras: never a password, nor a URL's credentials."""
        feeds = sorted((f for f in self.feeds.values() if f.camera.room == room), key=_order)
        return [public_view(feed.camera) | feed.state.to_json() for feed in feeds]

    async def add(self, camera: Camera) -> dict[str, Any]:
        if sum(f.camera.room == camera.room for f in self.feeds.values()) >= MAX_CAMERAS_PER_ROOM:
            raise InvalidCommand(f"a room has at most {MAX_CAMERAS_PER_ROOM} cameras")
        camera = dataclasses.replace(camera, id=secrets.token_hex(6))
        await self.store().hset(KEY, camera.id, json.dumps(camera.to_record()))
        self._start(camera)
        self.tell(camera.room)
        return public_view(camera) | self.feeds[camera.id].state.to_json()

    async def remove(self, room: str, camera_id: str) -> None:
        feed = self.feeds.get(camera_id)
        if feed is None or feed.camera.room != room:
            raise NotFound("this room has no such camera")
        await self.store().hdel(KEY, camera_id)
        del self.feeds[camera_id]
        await feed.stop()
        self.tell(room)

    def tell(self, room: str) -> None:
        """The room's trainers are told the cameras and their states."""
        live = self.hub.rooms.get(room)
        if live is not None:
            message = {"type": "cameras", "cameras": self.of_room(room)}
            live.send(message, live.core.moderator_ids())

    def on_events(self, live: LiveRoom, events: list[core.Event]) -> None:
        """Hub listener: a camera a trainer removed from the room (or turned away at the
        lobby) stops; one let in from the lobby goes on."""
        feeds = {f.camera.participant: f for f in self.feeds.values() if f.camera.room == live.name}
        for event in events:
            feed = feeds.get(getattr(event, "id", ""))
            if feed is None:
                continue
            if isinstance(event, core.Removed):
                feed.end(CameraError("removed", "a trainer removed the camera"))
            elif isinstance(event, core.ParticipantLeft) and event.reason == "denied":
                feed.end(CameraError("removed", "a trainer turned the camera away at the lobby"))
            elif isinstance(event, core.Admitted):
                feed.admitted()

    async def close(self) -> None:
        feeds, self.feeds = list(self.feeds.values()), {}
        await asyncio.gather(*(feed.stop() for feed in feeds), return_exceptions=True)


def _order(feed: Feed) -> tuple[str, str]:
    return (feed.camera.name.casefold(), feed.camera.id)
