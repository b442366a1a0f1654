"""A participant over the real websocket: receive messages, publish pre-encoded clips (aiortc)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

from media.codecs import codec_named
from tests.media.clients import ClipTrack, configuration
from tests.media.packing import send_encoded


async def receive(ws: aiohttp.ClientWebSocketResponse, type_: str) -> dict[str, Any]:
    """The next message of a type (others skipped); an error message fails the test."""
    async with asyncio.timeout(20):
        while True:
            message = await ws.receive()
            assert message.type is aiohttp.WSMsgType.TEXT, f"closed waiting for {type_}"
            data = json.loads(message.data)
            assert data["type"] != "error", data
            if data["type"] == type_:
                return data  # type: ignore[no-any-return]


async def publish(
    ws: aiohttp.ClientWebSocketResponse, tracks: dict[str, ClipTrack]
) -> RTCPeerConnection:
    """Publish clips by source ("camera", "microphone", "interpretation"...), as a browser does."""
    await ws.send_json({"type": "media_ready", "codecs": ["VP8"]})
    await receive(ws, "media_config")
    pc = RTCPeerConnection(configuration())
    transceivers = {}
    for source, track in tracks.items():
        transceiver = pc.addTransceiver(track, direction="sendonly")
        codec = codec_named(track.codec)
        transceiver.setCodecPreferences(codec.preferences())
        send_encoded(transceiver.sender, codec, track.request_keyframe)
        transceivers[source] = transceiver
    await pc.setLocalDescription(await pc.createOffer())
    mids = {t.mid: source for source, t in transceivers.items()}
    await ws.send_json({"type": "publish", "sdp": pc.localDescription.sdp, "sources": mids})
    answer = await receive(ws, "publish_answer")
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    return pc
