"""A WHEP player someone else wrote watches a room's programme.

The npm package ``whip-whep`` (its ``WHEPClient``) runs in a Chromium page of another
origin, with an observer's join token, as a lobby screen would: ``POST /whep/demo`` of
``classroom serve`` as users run it. The trainer publishes her camera and speaks (a
fake microphone tone); the player decodes the trainer's video and hears her, without
being a participant (nobody in the room sees it in the list). Stopping it (``DELETE``)
ends the session.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.browser.conftest import LaunchBrowser
from tests.browser.test_firefox import chromium_join
from tests.conftest import free_port
from tests.server import ROOT, ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
CLIENT = ROOT / "node_modules" / "whip-whep" / "whep.js"
PAGE = """<!doctype html><meta charset="utf-8"><title>lobby screen</title>
<video id="programme" autoplay playsinline></video>
<script type="module">
import { WHEPClient } from "/whep.js";
window.watch = async (url, token) => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const stream = new MediaStream();
  pc.ontrack = (event) => stream.addTrack(event.track);
  document.getElementById("programme").srcObject = stream;
  window.pc = pc;
  window.whep = new WHEPClient();
  await window.whep.view(pc, url, token);
};
window.received = async () => {
  const out = { frames: 0, energy: 0, packets: 0 };
  if (!window.pc) return out;
  (await window.pc.getStats()).forEach((r) => {
    if (r.type !== "inbound-rtp") return;
    if (r.kind === "video") out.frames += r.framesDecoded || 0;
    if (r.kind === "audio") {
      out.energy += r.totalAudioEnergy || 0;
      out.packets += r.packetsReceived || 0;
    }
  });
  return out;
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
async def player_site() -> AsyncIterator[str]:
    if not CLIENT.is_file():
        pytest.fail("node_modules/whip-whep is missing: run `make test`, which installs it")

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def client(_: web.Request) -> web.FileResponse:
        return web.FileResponse(CLIENT)

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/whep.js", client)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def grows(page: object, what: str, within_s: float = 45) -> dict[str, float]:
    """Wait until the player's decoded frames and heard energy both grow."""
    evaluate = page.evaluate  # type: ignore[attr-defined]
    before = await evaluate("received()")
    deadline = asyncio.get_running_loop().time() + within_s
    while asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(1.0)
        now = await evaluate("received()")
        if now["frames"] > before["frames"] and now["energy"] > before["energy"]:
            return now
        before = now
    raise AssertionError(f"{what}: the player receives {now}")


async def test_a_whep_player_watches_the_programme_without_being_in_the_room(
    served: ServerProcess, launch_browser: LaunchBrowser, player_site: str
) -> None:
    trainer = await chromium_join(
        await launch_browser(),
        f"{served.url}/join?token={served.mint('trainer', 'Tea', sub='tea', lang='en')}",
    )
    observer = served.mint("observer", "Lobby screen", sub="lobby", lang="en")
    player = await (await (await launch_browser()).new_context()).new_page()
    await player.goto(player_site)
    await player.wait_for_function("window.ready === true")
    await player.evaluate(
        "([url, token]) => watch(url, token)", [f"{served.url}/whep/demo", observer]
    )
    await grows(player, "the lobby screen shows and plays the trainer")
    size = await player.evaluate(
        "(() => { const v = document.getElementById('programme');"
        " return [v.videoWidth, v.videoHeight]; })()"
    )
    assert size[0] > 0 and size[1] > 0, size
    people = await trainer.locator('[data-participant="lobby"]').count()
    assert people == 0, "a WHEP player is not a participant"
    await player.evaluate("() => window.whep.stop()")
