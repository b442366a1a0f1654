"""A camera publishes into a room over WHIP, with a WHIP client someone else wrote.

The npm package ``whip-whep`` (the WHIP draft author's JavaScript client) runs in a
Chromium page of another origin (a small site of the test's own, as an encoder's web
console would be), publishing its fake camera and microphone to ``POST /whip/demo``
of ``classroom serve`` as users run it, with the camera's own join token. A trainee in
the classroom sees the camera's picture (decoded frames) and hears its sound; when the
client stops (``DELETE`` on the resource), the camera leaves the room. A malformed offer
and a token of another room are refused with clear errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.browser.conftest import LaunchBrowser
from tests.browser.mixed import hears, sees
from tests.browser.test_firefox import chromium_join
from tests.conftest import free_port
from tests.server import ROOT, ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
CLIENT = ROOT / "node_modules" / "whip-whep" / "whip.js"
PAGE = """<!doctype html><meta charset="utf-8"><title>encoder</title>
<script type="module">
import { WHIPClient } from "/whip.js";
window.publish = async (url, token) => {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  const pc = new RTCPeerConnection();
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly" });
  window.whip = new WHIPClient();
  await window.whip.publish(pc, url, token);
  return pc.connectionState;
};
window.ready = true;
</script>"""


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess.as_users_run_it(tmp_path / "site")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def encoder_site() -> AsyncIterator[str]:
    """The encoder's console: whip.js and a page, from an origin of its own."""
    if not CLIENT.is_file():
        pytest.fail("node_modules/whip-whep is missing: run `make test`, which installs it")

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def client(_: web.Request) -> web.FileResponse:
        return web.FileResponse(CLIENT)

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/whip.js", client)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_whip_camera_joins_the_room_is_seen_and_heard_and_leaves(
    served: ServerProcess, launch_browser: LaunchBrowser, encoder_site: str
) -> None:
    camera_token = served.mint("trainee", "Conference camera, Podgorica", sub="cam-pg", lang="en")
    viewer = await chromium_join(
        await launch_browser(),
        f"{served.url}/join?token={served.mint('trainee', 'Ana', sub='ana', lang='en')}",
        camera=False,
        microphone=False,
    )
    encoder = await (await (await launch_browser()).new_context()).new_page()
    await encoder.goto(encoder_site)
    await encoder.wait_for_function("window.ready === true")
    await encoder.evaluate(
        "([url, token]) => publish(url, token)", [f"{served.url}/whip/demo", camera_token]
    )
    await sees(viewer, "cam-pg", "camera", "the trainee sees the WHIP camera")
    await hears(viewer, "cam-pg", "microphone", "the trainee hears the WHIP camera's sound")
    tile = viewer.locator('[data-participant="cam-pg"]').first
    assert "Conference camera, Podgorica" in await tile.inner_text()

    await encoder.evaluate("() => window.whip.stop()")
    await viewer.locator('[data-participant="cam-pg"]').first.wait_for(state="detached")


async def test_bad_whip_requests_are_refused_clearly(served: ServerProcess) -> None:
    token = served.mint("trainee", "Camera", sub="cam", lang="en")
    other = served.mint("trainee", "Camera", room="elsewhere", sub="cam2", lang="en")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{served.url}/whip/demo", data="v=0\r\n", headers=headers) as bad:
            assert bad.status == 400
            assert "SDP" in (await bad.json())["error"]["message"]
            assert bad.headers["Access-Control-Allow-Origin"] == "*"
        elsewhere = {**headers, "Authorization": f"Bearer {other}"}
        async with http.post(f"{served.url}/whip/demo", data="v=0\r\n", headers=elsewhere) as no:
            assert no.status == 403
        async with http.post(f"{served.url}/whip/demo", data="v=0\r\n") as anonymous:
            assert anonymous.status == 401
        async with http.delete(f"{served.url}/whip/demo/nothing", headers=headers) as missing:
            assert missing.status == 404
        async with http.options(f"{served.url}/whip/demo") as preflight:
            assert preflight.status == 204
            assert "POST" in preflight.headers["Access-Control-Allow-Methods"]


GST_PUBLISHER = Path(__file__).with_name("gst_whip.py")
DEBIAN_PYTHON = "/usr/bin/python3"


async def test_a_gstreamer_encoder_publishes_h264_over_whip_and_stops(
    served: ServerProcess, launch_browser: LaunchBrowser
) -> None:
    """A hardware-like encoder (GStreamer's webrtcbin, x264enc, Opus) publishes over WHIP:
    the trainee sees and hears it, the H.264 arrives as H.264 (forwarded, not encoded
    again), and when the encoder stops (DELETE) its participant leaves."""
    token = served.mint("trainee", "Hall camera", sub="cam-hall", lang="en")
    viewer = await chromium_join(
        await launch_browser(),
        f"{served.url}/join?token={served.mint('trainee', 'Ana', sub='ana', lang='en')}",
        camera=False,
        microphone=False,
    )
    process = await asyncio.create_subprocess_exec(
        DEBIAN_PYTHON, str(GST_PUBLISHER), f"{served.url}/whip/demo", token,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        if line.decode().strip() != "published 201":
            rest = await asyncio.wait_for(process.stdout.read(), 10)
            raise AssertionError((line + rest).decode(errors="replace")[-3000:])
        await sees(viewer, "cam-hall", "camera", "the trainee sees the GStreamer encoder")
        await hears(viewer, "cam-hall", "microphone", "the trainee hears the GStreamer encoder")
        codecs = await viewer.evaluate(
            """(async () => {
              const found = [];
              (await window.classroom.media.subscriber.getStats()).forEach((r) => {
                if (r.type === "codec") found.push(r.mimeType);
              });
              return found;
            })()"""
        )
        assert "video/H264" in codecs, codecs
    finally:
        if process.returncode is None:
            process.terminate()
        try:
            output, _ = await asyncio.wait_for(process.communicate(), 20)
        except TimeoutError:
            process.kill()  # an encoder that does not stop: it must not outlive the test
            output, _ = await process.communicate()
    assert "deleted 200" in output.decode(), output.decode()[-2000:]
    await viewer.locator('[data-participant="cam-hall"]').first.wait_for(state="detached")
