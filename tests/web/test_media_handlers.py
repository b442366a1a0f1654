"""Media signalling over the websocket: the flow, the permission checks and bad input."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiortc import RTCPeerConnection, RTCSessionDescription

from config import Settings
from media.codecs import codec_named
from tests.conftest import Mint
from tests.media.clients import ClipTrack, configuration, encode_opus, encode_video
from tests.media.packing import send_encoded

Client = TestClient[Any, Any]
WS = aiohttp.ClientWebSocketResponse


async def connect(client: Client, token: str) -> WS:
    ws = await client.ws_connect("/ws", params={"token": token})
    await receive(ws, "welcome")
    return ws


async def receive(ws: WS, type_: str, **where: Any) -> dict[str, Any]:
    """The next message of this type (matching ``where``); others are skipped."""
    async with asyncio.timeout(20):
        while True:
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"socket closed while waiting for {type_}: {msg}")
            data = json.loads(msg.data)
            if data["type"] == type_ and all(data.get(k) == v for k, v in where.items()):
                return data  # type: ignore[no-any-return]


async def offer(sources: dict[str, str]) -> tuple[RTCPeerConnection, str, dict[str, str]]:
    """A publish offer of clip tracks: {source: kind} -> (pc, sdp, {mid: source})."""
    pc = RTCPeerConnection(configuration())
    tracks = {}
    for source, kind in sources.items():
        if kind == "video":
            track = ClipTrack("video", encode_video("VP8", 60), "VP8")
        else:
            track = ClipTrack("audio", encode_opus(50), "opus")
        transceiver = pc.addTransceiver(track, direction="sendonly")
        codec = codec_named(track.codec)
        transceiver.setCodecPreferences(codec.preferences())
        send_encoded(transceiver.sender, codec, track.request_keyframe)
        tracks[source] = transceiver
    await pc.setLocalDescription(await pc.createOffer())
    mids = {t.mid: source for source, t in tracks.items()}
    return pc, pc.localDescription.sdp, mids


async def test_media_ready_gets_the_configured_ice_servers(settings: Settings, mint: Mint) -> None:
    from web.app import create_app

    configured = settings.replace(
        ice_servers="stun:stun.example.org:3478,turn:turn.example.org:3478",
        turn_username="classroom",
        turn_password="s3cret",
    )
    async with TestClient(TestServer(create_app(configured))) as client:
        ws = await connect(client, mint("trainee", sub="a"))
        await ws.send_json({"type": "media_ready", "codecs": ["VP8"], "ref": "m1"})
        config = await receive(ws, "media_config")
        assert config["ref"] == "m1"
        assert config["ice_servers"] == [
            {"urls": "stun:stun.example.org:3478"},
            {"urls": "turn:turn.example.org:3478", "username": "classroom", "credential": "s3cret"},
        ]


async def test_publishing_and_subscribing_through_the_websocket(client: Client, mint: Mint) -> None:
    from web.context import HUB

    trainer = await connect(client, mint("trainer", "Tea", sub="t"))
    trainee = await connect(client, mint("trainee", "Ana", sub="a"))
    await trainee.send_json({"type": "media_ready", "codecs": ["VP8", "H264"]})
    await receive(trainee, "media_config", ice_servers=[])
    publisher, sdp, sources = await offer({"camera": "video", "microphone": "audio"})
    await trainer.send_json({"type": "publish", "sdp": sdp, "sources": sources, "ref": "p1"})
    answer = await receive(trainer, "publish_answer", ref="p1")
    await publisher.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    subscribe = await receive(trainee, "subscribe")
    shown = {(t["participant"], t["source"], t["kind"]) for t in subscribe["tracks"].values()}
    assert shown == {("t", "camera", "video"), ("t", "microphone", "audio")}
    viewer = RTCPeerConnection(configuration())
    await viewer.setRemoteDescription(RTCSessionDescription(subscribe["sdp"], "offer"))
    await viewer.setLocalDescription(await viewer.createAnswer())
    await trainee.send_json({"type": "subscribe_answer", "sdp": viewer.localDescription.sdp})
    router = client.app[HUB].rooms["demo"].media
    async with asyncio.timeout(20):
        while router.counters.packets_forwarded < 20:  # noqa: ASYNC110 (a counter, no event)
            await asyncio.sleep(0.05)
    # The trainer leaves: Ana's subscribe connection shows nothing any more, no new offer.
    await trainer.send_json({"type": "leave"})
    update = await receive(trainee, "subscribe")
    assert update == {"type": "subscribe", "sdp": None, "tracks": {}}
    for pc in (publisher, viewer):
        await pc.close()


async def test_a_trainers_mute_stops_the_microphone_reaching_others(
    client: Client, mint: Mint
) -> None:
    trainer = await connect(client, mint("trainer", "Tea", sub="t"))
    trainee = await connect(client, mint("trainee", "Ana", sub="a"))
    await trainer.send_json({"type": "media_ready", "codecs": ["VP8"]})
    publisher, sdp, sources = await offer({"microphone": "audio", "camera": "video"})
    await trainee.send_json({"type": "publish", "sdp": sdp, "sources": sources})
    await receive(trainee, "publish_answer")
    first = await receive(trainer, "subscribe")
    assert {t["source"] for t in first["tracks"].values()} == {"microphone", "camera"}
    viewer = RTCPeerConnection(configuration())
    await viewer.setRemoteDescription(RTCSessionDescription(first["sdp"], "offer"))
    await viewer.setLocalDescription(await viewer.createAnswer())
    await trainer.send_json({"type": "subscribe_answer", "sdp": viewer.localDescription.sdp})
    await trainer.send_json({"type": "mute", "target": "a"})
    muted = await receive(trainer, "subscribe")
    assert muted["sdp"] is None
    assert {t["source"] for t in muted["tracks"].values()} == {"camera"}
    await trainer.send_json({"type": "mute", "target": "a", "muted": False})
    unmuted = await receive(trainer, "subscribe")
    assert {t["source"] for t in unmuted["tracks"].values()} == {"microphone", "camera"}
    for pc in (publisher, viewer):
        await pc.close()


@pytest.mark.parametrize(
    ("role", "message", "code", "fragment"),
    [
        ("trainee", {"type": "publish", "sdp": "v=0\r\nnonsense", "sources": {}}, "invalid", "SDP"),
        ("observer", {"type": "publish", "sdp": "v=0", "sources": {}}, "forbidden", "observer"),
        (
            "trainee",
            {"type": "publish", "sdp": "v=0", "sources": {"0": "screen"}},
            "forbidden",
            "share_screen",
        ),
        (
            "trainee",
            {"type": "publish", "sdp": "v=0", "sources": {"0": "booth"}},
            "forbidden",
            "interpret",
        ),
        (
            "trainee",
            {"type": "publish", "sdp": "v=0", "sources": {"0": "radio"}},
            "bad_message",
            "sources",
        ),
        (
            "trainee",
            {"type": "subscribe_answer", "sdp": "v=0"},
            "invalid_state",
            "no subscribe offer",
        ),
        ("trainee", {"type": "share_screen", "sharing": True}, "forbidden", "not allowed"),
        ("observer", {"type": "share_screen", "sharing": True}, "forbidden", "observer"),
    ],
)
async def test_refused_media_messages_disturb_nobody(
    client: Client, mint: Mint, role: str, message: dict[str, Any], code: str, fragment: str
) -> None:
    other = await connect(client, mint("trainer", sub="t"))
    ws = await connect(client, mint(role, sub="x"))
    await ws.send_json({**message, "ref": "r1"})
    error = await receive(ws, "error", ref="r1")
    assert error["code"] == code and fragment in error["message"]
    await ws.send_json({"type": "ping", "ref": "alive"})
    await receive(ws, "pong", ref="alive")
    await other.send_json({"type": "ping", "ref": "alive"})
    await receive(other, "pong", ref="alive")


async def test_a_screen_is_published_once_sharing_is_accepted(client: Client, mint: Mint) -> None:
    trainer = await connect(client, mint("trainer", sub="t"))
    trainee = await connect(client, mint("trainee", sub="a"))
    await trainer.send_json({"type": "allow_screen_share", "value": True})
    await receive(trainee, "screen_share_permission_changed", allowed=True)
    await trainee.send_json({"type": "share_screen", "sharing": True})
    await receive(trainer, "screen_share_changed", id="a", sharing=True)
    pc, sdp, sources = await offer({"screen": "video"})
    await trainee.send_json({"type": "publish", "sdp": sdp, "sources": sources, "ref": "s"})
    answer = await receive(trainee, "publish_answer", ref="s")
    assert answer["sdp"].startswith("v=0")
    await pc.close()
