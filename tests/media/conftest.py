"""Media fixtures: a router with in-process signalling, its clients, and a codec spy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import pytest

from config import Settings
from media.router import MediaRouter
from tests.media.clients import (
    ClipTrack,
    PublishingClient,
    ViewingClient,
    Wire,
    encode_opus,
    encode_video,
)


class Room:
    """A router and the loopback clients of a test, all closed afterwards."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        self.wire = Wire()
        self.router = MediaRouter("demo", settings, self.wire, **options)
        self.clients: list[PublishingClient | ViewingClient] = []

    async def viewer(self, pid: str, codecs: tuple[str, ...] = ("VP8",)) -> ViewingClient:
        viewer = ViewingClient(self.router, pid, codecs)
        self.wire.viewers[pid] = viewer
        self.clients.append(viewer)
        await viewer.join()
        return viewer

    async def publisher(
        self,
        pid: str,
        video: str | None = "VP8",
        audio: bool = True,
        frames: int = 60,
    ) -> PublishingClient:
        client = PublishingClient(self.router, pid)
        if video is not None:
            client.add("camera", ClipTrack("video", encode_video(video, frames), video))
        if audio:
            client.add("microphone", ClipTrack("audio", encode_opus(50), "opus"))
        self.clients.append(client)
        await client.publish()
        return client

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        await self.router.close()


@pytest.fixture
async def room(settings: Settings) -> AsyncIterator[Room]:
    room = Room(settings)
    yield room
    await room.close()


@pytest.fixture
def codec_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every aiortc encoder or decoder built in this process (the real ones, counted)."""
    calls: list[str] = []
    real_encoder = aiortc.rtcrtpsender.get_encoder
    real_decoder = aiortc.rtcrtpreceiver.get_decoder

    def encoder(codec: Any) -> Any:
        calls.append(f"encoder {codec.mimeType}")
        return real_encoder(codec)

    def decoder(codec: Any) -> Any:
        calls.append(f"decoder {codec.mimeType}")
        return real_decoder(codec)

    monkeypatch.setattr(aiortc.rtcrtpsender, "get_encoder", encoder)
    monkeypatch.setattr(aiortc.rtcrtpreceiver, "get_decoder", decoder)
    yield calls
