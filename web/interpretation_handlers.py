"""Interpretation over the websocket and HTTP: the messages, checked, and ``live.interpretation``.

Interpreters open channels, take the air, hand over and relay; listeners choose a
channel and the floor's level; ``GET /api/rooms/{room}/interpretation`` gives the
channels, who is on air and the on-air timeline. docs/protocol.md lists the messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pydantic
from aiohttp import web

from classroom import channel as ch
from classroom.errors import ClassroomError
from classroom.interpretation import Interpretation
from config import SettingsError
from live.hub import Connection, LiveRoom
from live.interpretation import Channels
from web.api import authorize
from web.context import HUB, SETTINGS, STORE
from web.media_handlers import MEDIA
from web.ws import ClientMessage, Dispatcher

log = logging.getLogger("classroom.interpretation")

Lang = pydantic.Field(min_length=2, max_length=3, pattern=r"^[a-z]{2,3}$")
ChannelName = pydantic.Field(min_length=2, max_length=8, pattern=r"^[a-z]{2,8}$")
Message = TypeVar("Message", bound=ClientMessage)
SERVICE = web.AppKey("interpretation", Channels)


# --- client messages ----------------------------------------------------------


class LangMessage(ClientMessage):
    lang: str = Lang


class FloorLanguage(ClientMessage):
    lang: str | None = Lang


class TakeAir(ClientMessage):
    channel: str = Lang


class Empty(ClientMessage):
    pass


class OfferHandover(ClientMessage):
    to: str | None = pydantic.Field(default=None, min_length=1, max_length=200)


class SetRelay(ClientMessage):
    source: str = ChannelName  # "floor" or a channel


class SelectChannel(ClientMessage):
    channel: str = ChannelName  # "original" or a channel


class FloorLevel(ClientMessage):
    floor_db: float = pydantic.Field(allow_inf_nan=False)

    @pydantic.field_validator("floor_db", mode="before")
    @classmethod
    def number(cls, value: Any) -> Any:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


class SetOutput(ClientMessage):
    channel: str = Lang


class SetMicrophone(ClientMessage):
    on: bool


class Signal(ClientMessage):
    kind: str = pydantic.Field(min_length=1, max_length=40)


class BoothMessage(ClientMessage):
    text: str = pydantic.Field(min_length=1, max_length=ch.BOOTH_TEXT_MAX_CHARS)


async def _writer_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(app[SERVICE].write())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def channels_api(request: web.Request) -> web.Response:
    """The channels of a room, who is on air, and the on-air timeline so far."""
    room = authorize(request).room
    service = request.app[SERVICE]
    live = request.app[HUB].rooms.get(room)
    if live is not None and live.interpretation is not None:
        snapshot = live.interpretation.snapshot()
    else:
        snapshot = Interpretation(service.channels).snapshot()
    snapshot["timeline"] = await service.timeline(room)
    return web.json_response(snapshot)


def setup(app: web.Application, dispatcher: Dispatcher) -> None:
    """Register the interpretation messages, join/leave hooks and the timeline endpoint."""
    channels = app[SETTINGS].interpretation_channels
    try:
        Interpretation(channels)
    except ClassroomError as error:
        raise SettingsError(f"interpretation_channels: {error.message}") from None
    service = app[SERVICE] = Channels(app[HUB], channels, lambda: app[STORE])
    app.cleanup_ctx.append(_writer_ctx)
    app[MEDIA].add_router_hook(service.plug)
    dispatcher.on_join.append(service.joined)
    dispatcher.on_leave.append(service.left)
    app.router.add_get("/api/rooms/{room}/interpretation", channels_api)
    route = dispatcher.route

    @route("get_interpretation", Empty)
    async def get_interpretation(conn: Connection, live: LiveRoom, msg: Empty) -> None:
        state = service.state(live).snapshot(conn.pid)
        reply: dict[str, Any] = {"type": "interpretation_state", **state}
        if msg.ref is not None:
            reply["ref"] = msg.ref
        conn.send(reply)

    def command(
        type_: str, model: type[Message], make: Callable[[str, Message], ch.Command]
    ) -> None:
        """Route a message to the command ``make`` builds of its sender and itself."""

        @route(type_, model)
        async def run_command(conn: Connection, live: LiveRoom, msg: Message) -> None:
            await service.run(live, make(conn.pid, msg))

    command("open_channel", LangMessage, lambda pid, msg: ch.OpenChannel(pid, msg.lang))
    command("close_channel", LangMessage, lambda pid, msg: ch.CloseChannel(pid, msg.lang))
    command("take_air", TakeAir, lambda pid, msg: ch.TakeAir(pid, msg.channel))
    command("leave_air", Empty, lambda pid, _: ch.LeaveAir(pid))
    command("offer_handover", OfferHandover, lambda pid, msg: ch.OfferHandover(pid, msg.to))
    command("cancel_handover", Empty, lambda pid, _: ch.CancelHandover(pid))
    command("set_relay", SetRelay, lambda pid, msg: ch.SetRelay(pid, msg.source))
    command(
        "set_floor_language", FloorLanguage, lambda pid, msg: ch.SetFloorLanguage(pid, msg.lang)
    )
    command("select_channel", SelectChannel, lambda pid, msg: ch.SelectChannel(pid, msg.channel))
    command("set_floor_level", FloorLevel, lambda pid, msg: ch.SetFloorLevel(pid, msg.floor_db))
    command("booth_message", BoothMessage, lambda pid, msg: ch.SendBoothMessage(pid, msg.text))
    command("set_output", SetOutput, lambda pid, msg: ch.SetOutput(pid, msg.channel))
    command("set_microphone", SetMicrophone, lambda pid, msg: ch.SetMicrophone(pid, msg.on))
    command("booth_signal", Signal, lambda pid, msg: ch.SendSignal(pid, msg.kind))
