"""Publisher and viewers of the stock relay (tests/bench/stock_relay.py) over HTTP offer/answer."""

from __future__ import annotations

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from loadtest.clip import Clip, ClipTrack, add_clip_track
from loadtest.counter import StreamCounter, Tap
from media.ice import gather_loopback_when_alone


async def _exchange(session: aiohttp.ClientSession, url: str, pc: RTCPeerConnection) -> None:
    gather_loopback_when_alone()  # a candidate even on a loopback-only machine
    await pc.setLocalDescription(await pc.createOffer())
    offer = {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}
    async with session.post(url, json=offer) as response:
        response.raise_for_status()
        answer = await response.json()
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))


async def publish(
    session: aiohttp.ClientSession, base: str, clip: Clip
) -> tuple[RTCPeerConnection, ClipTrack]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    track, _ = add_clip_track(pc, clip)
    await _exchange(session, base + "/publish", pc)
    return pc, track


async def view(
    session: aiohttp.ClientSession, base: str
) -> tuple[RTCPeerConnection, StreamCounter]:
    """A viewer whose video is counted, not decoded."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    await _exchange(session, base + "/view", pc)
    tap = Tap(pc)
    (counter,) = tap.counters.values()
    return pc, counter
