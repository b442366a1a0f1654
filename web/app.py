"""The composition root: ``create_app(settings)`` wires every layer into one aiohttp app."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import tomllib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from classroom.catalogue import Catalogue
from classroom.ports import Store
from classroom.room import Event
from config import Settings, SettingsError
from live import poll_records, room_records
from live.hub import Hub, LiveRoom
from live.keys import load_token_keys
from live.polls import Polls
from live.quizzes import Quizzes
from live.recording import Recordings
from live.results import Results
from live.store import RedisStore, open_store
from media import seams
from web import (
    api,
    attendance,
    cameras,
    companion,
    imports,
    interpretation_handlers,
    library,
    media_handlers,
    metrics,
    pages,
    polls,
    quizzes,
    recording_handlers,
    results,
    revocation,
    room_handlers,
    uploads,
    whep,
    whip,
)
from web.context import BUS, CATALOGUE, HUB, KEYS, SETTINGS, STORE, WEBSOCKETS
from web.errors import error_middleware
from web.i18n import TEMPLATES, environment
from web.ws import DISPATCHER, Dispatcher, close_websockets, websocket_handler

log = logging.getLogger("classroom.app")
STATIC_DIR = Path(__file__).parent / "static"
NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"
EXPIRE_EVERY_S = 5.0


def load_catalogue(path: Path) -> Catalogue:
    try:
        with path.open("rb") as file:
            return Catalogue.from_dict(tomllib.load(file))
    except (OSError, tomllib.TOMLDecodeError, ValueError) as error:
        raise SettingsError(f"catalogue {path}: {error}") from None


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store, bus = open_store(settings.redis_url, settings.data_dir)
    app[STORE], app[BUS] = store, bus
    watch = None
    if isinstance(store, RedisStore):
        warning = await store.persistence_warning()
        if warning:
            log.warning(warning)
        store.on_data_lost.append(functools.partial(_write_back, app, store))
        watch = asyncio.get_running_loop().create_task(store.watch())  # outages, data lost
    yield
    if watch is not None:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
    await bus.close()
    await store.close()


async def _write_back(app: web.Application, store: Store) -> None:
    """Redis lost its data: write back what the live rooms of this process hold."""
    rooms = list(app[HUB].rooms.values())
    entries = 0
    for live in rooms:
        await room_records.resync(store, live.name, live.core)
        entries += await poll_records.resync(live, store)
    log.warning("written back to the store", extra={"rooms": len(rooms), "entries": entries})


async def _expire_ctx(app: web.Application) -> AsyncIterator[None]:
    """Background task: participants gone past the reconnect grace leave their room."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(EXPIRE_EVERY_S)
            try:
                app[HUB].expire()
            except Exception:
                log.exception("expiry sweep failed")

    task = asyncio.get_running_loop().create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(settings: Settings, clock: Callable[[], float] = time.time) -> web.Application:
    """The whole service for these settings; nothing else builds or imports the app.

    ``clock`` (epoch seconds) is the time of everything the classroom records and decides:
    sessions, presence, answers, deadlines, on-air stretches. Tests give their own, to say
    when time passes. Join tokens are checked against the system clock, like any JWT."""
    seams.check()  # refuse to start with libraries forwarding was not written against
    app = web.Application(middlewares=[error_middleware], client_max_size=1024**2)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app[SETTINGS] = settings
    app[KEYS] = load_token_keys(settings)
    app[CATALOGUE] = load_catalogue(settings.catalogue_path)
    hub = app[HUB] = Hub(clock)

    async def persist(live: LiveRoom, events: list[Event]) -> None:
        await room_records.save(app[STORE], live.name, events)

    async def restore(live: LiveRoom) -> None:
        live.core.banned.update(await room_records.load_bans(app[STORE], live.name))

    hub.persist, hub.restore = persist, restore
    app[WEBSOCKETS] = set()
    app[TEMPLATES] = environment()
    # The store opens before the features' start-up steps and closes after their clean-up.
    app.cleanup_ctx.append(_store_ctx)
    dispatcher = app[DISPATCHER] = Dispatcher()

    def store() -> Store:  # the services' way to the store, opened at start-up (_store_ctx)
        return app[STORE]

    poll_service = Polls(hub, store, app[CATALOGUE], settings)
    quiz_service = Quizzes(hub, store, app[CATALOGUE], settings)
    revocation.setup(app)  # withdrawn join links and unpaired phones' tokens
    room_handlers.setup(app, dispatcher)
    # Features plug in here, one line each: feature.setup(app, dispatcher).
    metrics.setup(app, dispatcher)
    media_handlers.setup(app, dispatcher)
    interpretation_handlers.setup(app, dispatcher)
    polls.setup(app, dispatcher, poll_service)
    quizzes.setup(app, dispatcher, quiz_service)
    # A room's first arrival re-arms its quiz deadlines before the snapshot loads its books.
    dispatcher.on_join += [quiz_service.arrived, poll_service.snapshot]
    companion.setup(app, dispatcher)
    attendance.setup(app, dispatcher)
    results.setup(app, dispatcher, Results(store, settings))
    media = app[media_handlers.MEDIA]  # the recorder taps the room's media router
    app[recording_handlers.RECORDINGS] = Recordings(hub, settings, app[CATALOGUE], media.router)
    recording_handlers.setup(app, dispatcher)
    library.setup(app, dispatcher)
    uploads.setup(app)  # files sent in resumably (tus), then imported into the library
    imports.setup(app)
    whip.setup(app)  # hardware encoders and camera gateways publish into rooms (WHIP)
    cameras.setup(app, dispatcher)  # RTSP cameras the server pulls into rooms
    whep.setup(app)  # any WHEP player watches a room's programme (overflow rooms, lobbies)

    app.cleanup_ctx.append(_expire_ctx)
    app.on_shutdown.append(close_websockets)

    app.router.add_routes(pages.routes)
    app.router.add_routes(api.routes)
    app.router.add_get("/ws", websocket_handler)
    app.router.add_static("/static", STATIC_DIR, append_version=False)
    if (NODE_MODULES / "hls.js" / "dist").is_dir():
        app.router.add_static("/vendor/hls.js", NODE_MODULES / "hls.js" / "dist")
    if (NODE_MODULES / "tus-js-client" / "dist").is_dir():
        app.router.add_static("/vendor/tus-js-client", NODE_MODULES / "tus-js-client" / "dist")
    return app
