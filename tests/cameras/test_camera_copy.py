"""An IP camera's H.264 reaches viewers as the camera encoded it: the server copies it.

The app runs in this process so that the test can watch aiortc's codecs: no H.264 (or
VP8) decoder is made and nothing is encoded while a viewer receives the camera. The
viewer (``tests.media.clients.ViewingClient``, which keeps frames encoded) gets the
camera's own parameter sets: the SPS in its keyframes is, byte for byte, the one the
RTSP server announces, so no encoder stood in between. A camera that sends its parameter
sets only in the RTSP description (``--out-of-band``) has them put before each keyframe,
or no viewer could start decoding.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import av
import pytest
from aiohttp.test_utils import TestClient
from aiortc.codecs import h264, vpx

from tests.cameras.camera import RtspCamera
from tests.conftest import Mint
from tests.media.clients import ViewingClient, Wire
from web.context import HUB
from web.media_handlers import MEDIA

pytestmark = pytest.mark.timeout(60)
START = b"\x00\x00\x00\x01"


def nal_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (3- or 4-byte start codes)."""
    units = [u for u in data.replace(START, b"\x00\x00\x01").split(b"\x00\x00\x01") if u]
    return [u.rstrip(b"\x00") for u in units]


def camera_sps(url: str) -> bytes:
    with av.open(url, format="rtsp", options={"rtsp_transport": "tcp"}) as container:
        extradata = container.streams.video[0].codec_context.extradata or b""
    return next(u for u in nal_units(extradata) if u[0] & 0x1F == 7)


@pytest.fixture(params=["in-band", "out-of-band"])
async def rtsp_camera(request: pytest.FixtureRequest) -> AsyncIterator[RtspCamera]:
    camera = RtspCamera(*(["--out-of-band"] if request.param == "out-of-band" else []))
    await camera.start()
    try:
        yield camera
    finally:
        await camera.kill()


async def test_the_camera_is_copied_never_decoded_nor_encoded(
    client: TestClient[Any, Any],
    mint: Mint,
    rtsp_camera: RtspCamera,  # killed before the app stops: its camera drops meanwhile
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[str] = []
    for codec, method in [
        (h264.H264Decoder, "__init__"),
        (vpx.Vp8Decoder, "__init__"),
        (h264.H264Encoder, "encode"),
        (vpx.Vp8Encoder, "encode"),
    ]:
        original = getattr(codec, method)

        def spy(self: Any, *args: Any, _o: Any = original, _n: str = codec.__name__) -> Any:
            made.append(_n)
            return _o(self, *args)

        monkeypatch.setattr(codec, method, spy)

    headers = {"Authorization": f"Bearer {mint('trainer', 'Ana', sub='ana')}"}
    body = {"name": "Front", "url": rtsp_camera.url}
    async with client.post("/api/rooms/demo/cameras", json=body, headers=headers) as response:
        assert response.status == 201
        camera = await response.json()
    participant = f"camera-{camera['id']}"

    app = client.server.app
    router = app[MEDIA].router(app[HUB].room("demo"))
    wire = Wire()
    router.signalling = wire
    viewer = wire.viewers["viewer"] = ViewingClient(router, "viewer", codecs=("H264",))
    await viewer.join()
    try:
        await viewer.wait_for(
            lambda: any(f.keyframe for f in viewer.frames(participant, "camera")), within_s=30
        )
        await viewer.wait_for(
            lambda: sum(f.keyframe for f in viewer.frames(participant, "camera")) >= 2
        )
        sps = await asyncio.to_thread(camera_sps, rtsp_camera.url)
        for keyframe in [f for f in viewer.frames(participant, "camera") if f.keyframe]:
            parameter_sets = {u for u in nal_units(keyframe.data) if u[0] & 0x1F == 7}
            assert parameter_sets == {sps}, "each keyframe carries the camera's own SPS"
        offered = viewer.pc.remoteDescription.sdp
        assert "H264/90000" in offered and "profile-level-id=42e01f" in offered
        assert made == [], f"the server decoded or encoded: {made}"
    finally:
        await viewer.close()
