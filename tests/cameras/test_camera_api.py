"""IP cameras through the API of ``classroom serve`` as users run it, against a real RTSP
server (gst-rtsp-server on loopback): states, refusals and what is never shown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.cameras.camera import RtspCamera
from tests.server import ServerProcess

pytestmark = pytest.mark.timeout(120)
WAIT_S = 30.0


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess.as_users_run_it(tmp_path / "site")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class Api:
    def __init__(self, server: ServerProcess, http: aiohttp.ClientSession, token: str) -> None:
        self.base = f"{server.url}/api/rooms/demo/cameras"
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}

    async def add(self, status: int = 201, **body: Any) -> dict[str, Any]:
        async with self.http.post(self.base, json=body, headers=self.headers) as response:
            reply: dict[str, Any] = await response.json()
            assert response.status == status, reply
            return reply

    async def cameras(self) -> list[dict[str, Any]]:
        async with self.http.get(self.base, headers=self.headers) as response:
            assert response.status == 200
            reply: list[dict[str, Any]] = (await response.json())["cameras"]
            return reply

    async def camera(self, camera_id: str) -> dict[str, Any]:
        return next(c for c in await self.cameras() if c["id"] == camera_id)

    async def until(self, camera_id: str, state: str, error: str | None = None) -> dict[str, Any]:
        """Wait until the camera's state says so (the API polled, as the panel is told)."""
        deadline = time.monotonic() + WAIT_S
        seen: list[tuple[str, str | None]] = []
        while time.monotonic() < deadline:
            camera = await self.camera(camera_id)
            now = (camera["state"], camera["error"])
            if not seen or seen[-1] != now:
                seen.append(now)
            if camera["state"] == state and (error is None or camera["error"] == error):
                return camera
            await asyncio.sleep(0.2)
        raise AssertionError(f"camera {camera_id} never {state} ({error}): went {seen}")


async def test_a_camera_goes_live_comes_back_by_itself_and_outlives_a_restart(
    served: ServerProcess, rtsp_camera: RtspCamera
) -> None:
    async with aiohttp.ClientSession() as http:
        api = Api(served, http, served.mint("trainer", "Ana", sub="ana", lang="en"))
        added = await api.add(name="Front of the room", url=rtsp_camera.url)
        live = await api.until(added["id"], "live")
        assert live["profile"] == "Constrained Baseline"
        await rtsp_camera.kill()
        dropped = await api.until(added["id"], "reconnecting")
        assert dropped["message"]
        await rtsp_camera.start()
        await api.until(added["id"], "live")

        await served.kill()  # kill -9: the camera was kept before the trainer was told
        await served.start()
        back = await api.until(added["id"], "live")
        assert (back["name"], back["url"]) == ("Front of the room", rtsp_camera.url)


async def test_refusals_say_why_and_credentials_are_never_shown(
    served: ServerProcess, rtsp_camera: RtspCamera
) -> None:
    guarded = RtspCamera("--user", "operator", "--password", "s3cret:pw")
    jpeg = RtspCamera("--codec", "mjpeg")
    await guarded.start()
    await jpeg.start()
    try:
        async with aiohttp.ClientSession() as http:
            api = Api(served, http, served.mint("trainer", "Ana", sub="ana", lang="en"))
            http_url = await api.add(400, name="Web", url="http://127.0.0.1/camera")
            assert "rtsp://" in http_url["error"]["message"]
            good = await api.add(
                name="Door", url=guarded.url, username="operator", password="s3cret:pw"
            )
            inline = guarded.url.replace("rtsp://", "rtsp://operator:wrong@")
            wrong = await api.add(name="Window", url=inline)
            nobody = await api.add(name="Gone", url="rtsp://127.0.0.1:9/camera")
            codec = await api.add(name="Old camera", url=jpeg.url)

            await api.until(good["id"], "live")
            refused = await api.until(wrong["id"], "reconnecting", "unauthorized")
            assert "password" in refused["message"]
            unreachable = await api.until(nobody["id"], "reconnecting", "unreachable")
            assert "does not answer" in unreachable["message"]
            mjpeg = await api.until(codec["id"], "reconnecting", "codec")
            assert "not H.264" in mjpeg["message"] and "JPEG" in mjpeg["message"]

            listed = await api.cameras()
            assert "s3cret" not in str(listed) and "wrong" not in str(listed)
            assert {c["url"] for c in listed} >= {guarded.url}
            window = await api.camera(wrong["id"])
            assert (window["username"], window["has_password"]) == ("operator", True)

            trainee = Api(served, http, served.mint("trainee", "Ben", sub="ben", lang="en"))
            async with http.get(trainee.base, headers=trainee.headers) as forbidden:
                assert forbidden.status == 403
            async with http.delete(f"{api.base}/{codec['id']}", headers=api.headers) as gone:
                assert gone.status == 204
            assert codec["id"] not in {c["id"] for c in await api.cameras()}
            async with http.delete(f"{api.base}/{codec['id']}", headers=api.headers) as again:
                assert again.status == 404
    finally:
        await guarded.kill()
        await jpeg.kill()
    assert "s3cret" not in served.output()
