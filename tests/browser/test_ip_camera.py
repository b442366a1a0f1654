"""An IP camera in the room, added by the trainer from the side panel of the classroom.

``classroom serve`` as users run it pulls a real RTSP server on loopback (GStreamer's
gst-rtsp-server, x264enc constrained baseline): the trainer adds the camera in the
side panel, which says it is live, and a trainee in Chromium decodes its frames, in
H.264 with the camera's profile (copied, not transcoded: the server has no encoder
that would keep it). The camera's server dies: the panel says the camera is
reconnecting, with why; it comes back by itself and the trainee sees it again. The
panel's form refuses an address that is not RTSP, in the page's language. A High profile
camera added to a locked room waits in the lobby (the panel says so) until the trainer
lets it in, then is seen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import LaunchBrowser
from tests.browser.mixed import sees
from tests.browser.test_firefox import chromium_join
from tests.cameras.camera import RtspCamera
from tests.server import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
WAIT_MS = 60_000

# The codec of what the page receives from a participant's camera, from its statistics.
CODEC = """async (participant) => {
  const media = window.classroom.media;
  const mids = [...media.shown]
    .filter(([, d]) => d.participant === participant && d.source === "camera")
    .map(([mid]) => mid);
  const stats = await media.subscriber.getStats();
  let codecId = null;
  stats.forEach((r) => {
    if (r.type === "inbound-rtp" && mids.includes(r.mid)) codecId = r.codecId;
  });
  const codec = codecId && stats.get(codecId);
  return codec ? { mimeType: codec.mimeType, fmtp: codec.sdpFmtpLine || "" } : null;
}"""


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess.as_users_run_it(tmp_path / "site")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def rtsp_camera() -> AsyncIterator[RtspCamera]:
    camera = RtspCamera()
    await camera.start()
    try:
        yield camera
    finally:
        await camera.kill()


async def camera_id(served: ServerProcess, token: str) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{served.url}/api/rooms/demo/cameras", headers=headers) as response,
    ):
        cameras: list[dict[str, Any]] = (await response.json())["cameras"]
    assert len(cameras) == 1, cameras
    return str(cameras[0]["id"])


async def add_in_panel(trainer: Page, name: str, url: str) -> None:
    await trainer.locator("#camera-name").fill(name)
    await trainer.locator("#camera-url").fill(url)
    await trainer.locator("#camera-add").click()


async def test_the_trainer_adds_a_camera_that_trainees_see_and_that_comes_back(
    served: ServerProcess, launch_browser: LaunchBrowser, rtsp_camera: RtspCamera
) -> None:
    browser = await launch_browser()
    trainer_token = served.mint("trainer", "Ana", sub="ana", lang="en")
    trainer = await chromium_join(
        browser, f"{served.url}/join?token={trainer_token}", camera=False, microphone=False
    )
    trainee = await chromium_join(
        browser,
        f"{served.url}/join?token={served.mint('trainee', 'Ben', sub='ben', lang='en')}",
        camera=False,
        microphone=False,
    )
    await expect(trainer.locator("#cameras")).to_be_visible()
    await expect(trainee.locator("#cameras")).to_be_hidden()

    await add_in_panel(trainer, "Web camera", "http://127.0.0.1/camera")
    await expect(trainer.locator("#camera-status")).to_have_text(
        "The address must start with rtsp:// or rtsps://."
    )
    await add_in_panel(trainer, "Front of the room", rtsp_camera.url)
    item = trainer.locator("#camera-list li[data-camera]")
    await expect(item).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    await expect(item.locator(".camera-state")).to_have_text("Live")
    participant = f"camera-{await camera_id(served, trainer_token)}"

    await sees(trainee, participant, "camera", "the trainee sees the IP camera")
    tile = trainee.locator(f'[data-participant="{participant}"]').first
    assert "Front of the room" in await tile.inner_text()
    codec = await trainee.evaluate(CODEC, participant)
    assert codec["mimeType"] == "video/H264", codec
    assert "profile-level-id=42e01f" in codec["fmtp"], codec  # the camera's: constrained baseline

    await rtsp_camera.kill()
    await expect(item).to_have_attribute("data-state", "reconnecting", timeout=WAIT_MS)
    await expect(item.locator(".camera-state")).to_contain_text("Reconnecting: ")
    await rtsp_camera.start()
    try:
        await expect(item).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    except AssertionError as error:
        tried = [line for line in served.output().splitlines() if "classroom.cameras" in line]
        raise AssertionError(f"the camera did not come back: {tried}") from error
    await sees(trainee, participant, "camera", "the trainee sees the IP camera again")

    await item.locator(".camera-remove").click()
    await expect(trainer.locator("#camera-list li[data-camera]")).to_have_count(0)
    await expect(trainee.locator(f'[data-participant="{participant}"]')).to_have_count(0)


async def test_a_high_profile_camera_waits_in_a_locked_rooms_lobby_then_is_seen(
    served: ServerProcess, launch_browser: LaunchBrowser
) -> None:
    """Most IP cameras send High profile: it is copied too (labelled constrained baseline,
    the profiles the router negotiates), and Chromium decodes it by its SPS. In a locked
    room the camera waits in the lobby, the panel says so, until the trainer lets it in."""
    camera = RtspCamera("--profile", "high")
    await camera.start()
    try:
        browser = await launch_browser()
        token = served.mint("trainer", "Ana", sub="ana", lang="en")
        trainer = await chromium_join(
            browser, f"{served.url}/join?token={token}", camera=False, microphone=False
        )
        trainee = await chromium_join(
            browser,
            f"{served.url}/join?token={served.mint('trainee', 'Ben', sub='ben', lang='en')}",
            camera=False,
            microphone=False,
        )
        await trainer.locator("#lock-room").click()
        await expect(trainer.locator("#lock-room")).to_have_attribute("aria-pressed", "true")
        await add_in_panel(trainer, "Hall", camera.url)
        item = trainer.locator("#camera-list li[data-camera]")
        await expect(item.locator(".camera-state")).to_have_text(
            "Connecting: waiting in the lobby of the locked room: let it in", timeout=WAIT_MS
        )
        participant = f"camera-{await camera_id(served, token)}"
        waiting = trainer.locator(f'#lobby-list li[data-id="{participant}"]')
        await waiting.locator("button.admit").click()
        await expect(item).to_have_attribute("data-state", "live", timeout=WAIT_MS)
        await sees(trainee, participant, "camera", "the trainee sees the High profile camera")
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{served.url}/api/rooms/demo/cameras",
                headers={"Authorization": f"Bearer {token}"},
            ) as listed,
        ):
            (state,) = (await listed.json())["cameras"]
        assert (state["state"], state["profile"]) == ("live", "High")
    finally:
        await camera.kill()
