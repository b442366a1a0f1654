"""The reference to beat: stock aiortc relaying (MediaRelay), decoding once, encoding per viewer.

Run as its own process so its CPU can be measured apart:
``python -m tests.bench.stock_relay --port 8090``. One publisher posts its offer
to ``/publish``; each viewer posts an offer with a receive-only video transceiver
to ``/view`` and gets the publisher's video through ``MediaRelay.subscribe``, the
way aiortc's own examples forward a track: every viewer's sender runs an encoder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

from aiohttp import web
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay

from media.ice import gather_loopback_when_alone

SOURCE = web.AppKey("source", asyncio.Future)
RELAY = web.AppKey("relay", MediaRelay)
PEERS: web.AppKey[set[RTCPeerConnection]] = web.AppKey("peers")


async def _answer(request: web.Request, pc: RTCPeerConnection) -> web.Response:
    return web.json_response({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type})


async def publish(request: web.Request) -> web.Response:
    offer = await request.json()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    request.app[PEERS].add(pc)
    source: asyncio.Future[MediaStreamTrack] = request.app[SOURCE]

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        if track.kind == "video" and not source.done():
            source.set_result(track)

    await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], offer["type"]))
    await pc.setLocalDescription(await pc.createAnswer())
    return await _answer(request, pc)


async def view(request: web.Request) -> web.Response:
    offer = await request.json()
    track = await asyncio.wait_for(asyncio.shield(request.app[SOURCE]), 30)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    request.app[PEERS].add(pc)
    await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], offer["type"]))
    pc.addTrack(request.app[RELAY].subscribe(track))
    await pc.setLocalDescription(await pc.createAnswer())
    return await _answer(request, pc)


async def _close_peers(app: web.Application) -> None:
    await asyncio.gather(*(pc.close() for pc in app[PEERS]), return_exceptions=True)


def create_app() -> web.Application:
    app = web.Application()
    app[SOURCE] = asyncio.get_running_loop().create_future()
    app[RELAY] = MediaRelay()
    app[PEERS] = set()
    app.router.add_post("/publish", publish)
    app.router.add_post("/view", view)
    app.router.add_get("/healthz", lambda request: web.json_response({"status": "ok"}))
    app.on_shutdown.append(_close_peers)
    return app


async def _serve(port: int) -> None:
    gather_loopback_when_alone()  # a candidate even on a loopback-only machine
    runner = web.AppRunner(create_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()
    await runner.cleanup()


def main(argv: Any = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main()
