"""Media signalling over the websocket: the messages, checked, and the ``live.media`` service.

A client first says it can receive (``media_ready``) and gets the ICE servers
(``media_config``); then the server offers what it receives (``subscribe`` ->
``subscribe_answer``) and the client offers what it publishes (``publish`` ->
``publish_answer``). docs/protocol.md describes every message.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic
from aiohttp import web

from classroom import room as core
from live.hub import Connection, LiveRoom
from live.media import Media
from media.router import MediaRouter
from web.context import HUB, SETTINGS
from web.ws import ClientMessage, Dispatcher

SDP_MAX_CHARS = 60_000

#: The media service of the app (made by ``setup``).
MEDIA: web.AppKey[Media] = web.AppKey("media", Media)

Source = Literal["camera", "microphone", "screen", "interpretation", "booth", "signing"]
Mid = Annotated[str, pydantic.Field(min_length=1, max_length=64)]
CodecName = Annotated[str, pydantic.Field(min_length=1, max_length=32)]
Sdp = Annotated[str, pydantic.Field(min_length=1, max_length=SDP_MAX_CHARS)]
#: How many videos one ``video_sizes`` may describe, and how tall one may be shown.
VIEW_SIZES_MAX = 64
VIEW_HEIGHT_MAX = 8192
#: A video track's id, "<participant>/<source>" (a token's ``sub`` is at most 200
#: characters, without control characters here).
TrackId = Annotated[
    str,
    pydantic.Field(
        min_length=3, max_length=208, pattern=r"^[^\x00-\x1f]{1,200}/(camera|screen|signing)$"
    ),
]
Height = Annotated[int, pydantic.Field(ge=0, le=VIEW_HEIGHT_MAX)]


class MediaReady(ClientMessage):
    codecs: list[CodecName] = pydantic.Field(default_factory=list, max_length=32)


class Publish(ClientMessage):
    sdp: Sdp
    sources: dict[Mid, Source] = pydantic.Field(max_length=16)


class SubscribeAnswer(ClientMessage):
    sdp: Sdp


class ShareScreen(ClientMessage):
    sharing: bool


class VideoSizes(ClientMessage):
    """How tall the page shows each video it receives, in device pixels (0: not seen)."""

    heights: dict[TrackId, Height] = pydantic.Field(max_length=VIEW_SIZES_MAX)


def router_for(app: web.Application, live: LiveRoom) -> MediaRouter:
    """The room's media router, made on first use."""
    return app[MEDIA].router(live)


def _reply(conn: Connection, message: dict[str, Any], ref: str | None) -> None:
    if ref is not None:
        message["ref"] = ref
    conn.send(message)


def setup(app: web.Application, dispatcher: Dispatcher) -> None:
    """Make the media service and register its messages and shutdown step."""
    media = app[MEDIA] = Media(app[HUB], app[SETTINGS])
    route = dispatcher.route

    @route("media_ready", MediaReady)
    async def media_ready(conn: Connection, live: LiveRoom, msg: MediaReady) -> None:
        servers = await media.ready(conn, live, msg.codecs)
        _reply(conn, {"type": "media_config", "ice_servers": servers}, msg.ref)
        await media.receive(conn, live, msg.codecs)

    @route("publish", Publish)
    async def publish(conn: Connection, live: LiveRoom, msg: Publish) -> None:
        answer = await media.publish(conn, live, msg.sdp, dict(msg.sources))
        _reply(conn, {"type": "publish_answer", "sdp": answer}, msg.ref)

    @route("subscribe_answer", SubscribeAnswer)
    async def subscribe_answer(conn: Connection, live: LiveRoom, msg: SubscribeAnswer) -> None:
        await media.answer(conn, live, msg.sdp)

    @route("share_screen", ShareScreen)
    async def share_screen(conn: Connection, live: LiveRoom, msg: ShareScreen) -> None:
        live.apply(core.ShareScreen(conn.pid, msg.sharing))

    @route("video_sizes", VideoSizes)
    async def video_sizes(conn: Connection, live: LiveRoom, msg: VideoSizes) -> None:
        # Only the connection that owns the participant's media speaks for its videos;
        # before the room has a router there is nothing to size (ignored, no reply).
        router = live.media
        if router is None or media.owners.get((live.name, conn.pid)) != conn.id:
            return
        router.view_sizes(conn.pid, dict(msg.heights))

    async def close_routers(app: web.Application) -> None:
        await media.close()

    dispatcher.on_leave.append(media.left)
    app.on_shutdown.append(close_routers)
