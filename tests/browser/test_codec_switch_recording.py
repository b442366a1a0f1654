"""Codec switches while recording, end to end against ``classroom serve`` as users run it.

A Chromium trainer publishes her camera in H.264 (every browser in the room decodes it)
and records; a Chromium trainee watches. Then a Firefox ESR viewer arrives: Debian's
Firefox decodes no H.264, so the server asks the trainer to publish her camera again,
in VP8. The Firefox viewer leaves, and once another Chromium trainee joins, everyone
decodes H.264 again and the camera goes back to it. Every viewer must keep decoding the
trainer's camera through each switch (the longest stall is measured), and the recording
must end ``ready`` with a playable MP4 made of the H.264, VP8 and H.264 stretches.

Firefox is the VP8-only viewer here as it is for users: its ESR in Debian has no H.264
decoder (no OpenH264 plug-in is downloaded), which the test checks rather than assumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page

from recordings.journal import read_journal
from tests.browser.conftest import LaunchBrowser
from tests.browser.firefox import LaunchFirefox
from tests.browser.mixed import AnyPage, evaluate, firefox_join, sees
from tests.browser.test_firefox import chromium_join
from tests.recordings.conftest import probe
from tests.server import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

#: The longest a viewer may go without a newly decoded frame of the trainer's camera,
#: switch included (a new m-line, a new negotiation, the next keyframe). Generous for a
#: loaded 2-core machine; the run's figure is printed.
STALL_S = 8.0
#: How much shorter than the time it was recording the MP4 may be (the first keyframe).
LATE_S = 3.0
#: The longest stretch of identical pictures the MP4 may hold.
FROZEN_S = 2.0

# The inbound streams of a page's subscribe connection that carry the trainer's camera
# (one per m-line it came on): frames decoded and codec.
VIDEO_IN = """(async () => {
  const media = window.classroom && window.classroom.media;
  if (!media || !media.subscriber) return {};
  const trainer = [...media.shown].filter(
    ([, d]) => d.participant === "tea" && d.source === "camera",
  );
  const mids = new Set(trainer.map(([mid]) => mid));
  const tracks = new Set(trainer.map(([, d]) => d.track.id));
  const stats = await media.subscriber.getStats();
  const codecs = new Map();
  stats.forEach((r) => { if (r.type === "codec") codecs.set(r.id, r.mimeType); });
  const out = {};
  stats.forEach((r) => {
    if (r.type !== "inbound-rtp" || r.kind !== "video") return;
    if (!mids.has(r.mid) && !tracks.has(r.trackIdentifier)) return;
    out[r.id] = { frames: r.framesDecoded || 0, codec: codecs.get(r.codecId) || null };
  });
  return out;
})()"""

# Whether the browser could decode H.264 at all (what it would offer to receive).
DECODES_H264 = (
    "RTCRtpReceiver.getCapabilities('video').codecs"
    ".some((c) => c.mimeType.toLowerCase() === 'video/h264')"
)


class Watch:
    """Samples what a viewer decodes every half second: the longest time without a new
    frame (from its first one), and the codecs it decoded in, in turn."""

    def __init__(self, page: AnyPage, name: str) -> None:
        self.page, self.name = page, name
        self.frames: dict[str, int] = {}
        self.codecs: list[str] = []
        self.first: float | None = None
        self.last: float | None = None
        self.longest = 0.0
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            now_frames: dict[str, Any] = await evaluate(self.page, VIDEO_IN)
            now = time.monotonic()
            grew = False
            for key, value in now_frames.items():
                if value["frames"] > self.frames.get(key, 0):
                    grew = True
                    if value["codec"] and self.codecs[-1:] != [value["codec"]]:
                        self.codecs.append(value["codec"])
                self.frames[key] = max(value["frames"], self.frames.get(key, 0))
            if grew:
                if self.last is not None:
                    self.longest = max(self.longest, now - self.last)
                self.first = self.first or now
                self.last = now
            await asyncio.sleep(0.5)

    def stall(self) -> float:
        """The longest time without a new frame so far, the one going on included."""
        if self.last is None:
            return float("inf")
        return max(self.longest, time.monotonic() - self.last)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess.as_users_run_it(tmp_path / "site")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def cameras(directory: Path) -> list[dict[str, Any]]:
    """The trainer's camera tracks in the recording's journal, in order, with their files."""
    journal = directory / "journal.jsonl"
    if not journal.exists():
        return []
    found = []
    for entry in read_journal(journal):
        if entry["kind"] == "track" and entry["track"]["id"].startswith("tea/camera"):
            files = sorted((directory / "tracks" / entry["dir"]).glob("*.mkv"))
            track = entry["track"]
            found.append({"id": track["id"], "codec": track["codec"], "files": files})
    return found


def explain(directory: Path) -> str:
    """What the pipeline made of the trainer's camera: where each stretch was placed, how
    many packets it kept, and the pictures in its joined file (sizes and frame count)."""
    lines = []
    joined_file = directory / "work" / "joined.json"
    joined = json.loads(joined_file.read_text())["joined"] if joined_file.exists() else []
    for entry in joined:
        if not str(entry["track"]).startswith("tea/"):
            continue
        lines.append(json.dumps(entry))
        path = directory / "work" / str(entry["file"])
        if path.suffix == ".mkv" and path.exists():
            shown = subprocess.run(
                ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                 "frame=pts_time,width,height,key_frame", "-of", "json", str(path)],
                capture_output=True, text=True, check=False,
            ).stdout  # fmt: skip
            frames = json.loads(shown or "{}").get("frames", [])
            sizes = sorted({f"{f.get('width')}x{f.get('height')}" for f in frames})
            keys = [f.get("pts_time") for f in frames if f.get("key_frame")][:5]
            lines.append(f"  {len(frames)} frames decoded, sizes {sizes}, first keys at {keys}")
    status = directory / "status.json"
    if status.exists():
        lines.append(status.read_text()[:1500])
    return "\n".join(lines)


async def until(check: Any, what: str, within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what}: not within {within} s")


def recorded(directory: Path, codecs: list[str]) -> bool:
    """The trainer's camera went through ``codecs`` in the recording, the last one has
    been recorded for a segment's length at least (a second segment file)."""
    found = cameras(directory)
    return [c["codec"] for c in found] == codecs and len(found[-1]["files"]) > 1


async def test_a_vp8_only_firefox_viewer_joins_and_leaves_while_an_h264_camera_is_recorded(
    served: ServerProcess, launch_browser: LaunchBrowser, launch_firefox: LaunchFirefox
) -> None:
    def url(role: str, name: str) -> str:
        token = served.mint(role, name, sub=name.lower(), lang="en")
        return f"{served.url}/join?token={token}"

    async def viewer(name: str) -> Page:
        return await chromium_join(
            await launch_browser(), url("trainee", name), camera=False, microphone=False
        )

    trainer_token = served.mint("trainer", "Tea", sub="tea", lang="en")
    api = aiohttp.ClientSession(headers={"Authorization": f"Bearer {trainer_token}"})
    watches: list[Watch] = []
    try:
        await chromium_join(await launch_browser(), f"{served.url}/join?token={trainer_token}")
        ana = await viewer("Ana")
        watches.append(ana_watch := Watch(ana, "Ana (Chromium)"))
        await sees(ana, "tea", "camera", "the trainee sees the trainer")
        await until(lambda: ana_watch.codecs, "the trainee decodes the trainer's camera")
        assert ana_watch.codecs == ["video/H264"], "the trainer sends H.264: every browser has it"

        # The trainer records (as the top bar's button does, through the API).
        async with api.post(
            f"{served.url}/api/rooms/demo/recording", json={"action": "start"}
        ) as made:
            assert made.status == 201, await made.text()
            recording = (await made.json())["id"]
        started = time.monotonic()
        directory = served.data / "recordings" / recording
        await until(lambda: recorded(directory, ["h264"]), "the H.264 camera is recorded")

        # A Firefox viewer arrives: it decodes no H.264, so the camera goes over to VP8,
        # for everyone: the trainee decodes VP8 too.
        besa = await firefox_join(await launch_firefox(), url("trainee", "Besa"), camera=False)
        assert await besa.evaluate(DECODES_H264) is False, "this Firefox decodes H.264"
        watches.append(besa_watch := Watch(besa, "Besa (Firefox)"))
        await sees(besa, "tea", "camera", "the Firefox viewer sees the trainer")
        await until(lambda: recorded(directory, ["h264", "vp8"]), "the VP8 camera is recorded")
        await until(lambda: ana_watch.codecs[-1:] == ["video/VP8"], "the trainee decodes VP8")
        await sees(ana, "tea", "camera", "the trainee still sees the trainer")
        assert besa_watch.codecs == ["video/VP8"]

        # The Firefox viewer leaves; someone joins in Chromium, and since everyone left
        # decodes H.264 the camera goes back to it. The recording goes on throughout.
        await besa.click("button.leave-button.danger")
        await besa.wait_for("document.querySelector('#classroom')?.dataset.phase !== 'room'")
        await besa_watch.stop()
        lena = await viewer("Lena")
        watches.append(lena_watch := Watch(lena, "Lena (Chromium)"))
        await sees(lena, "tea", "camera", "the late trainee sees the trainer")
        await until(
            lambda: recorded(directory, ["h264", "vp8", "h264"]),
            "the camera back in H.264 is recorded",
        )
        await until(lambda: ana_watch.codecs[-1:] == ["video/H264"], "the trainee back in H.264")
        await sees(ana, "tea", "camera", "the trainee sees the trainer after the switches")
        assert lena_watch.codecs == ["video/H264"]
        async with api.post(
            f"{served.url}/api/rooms/demo/recording", json={"action": "stop"}
        ) as done:
            assert done.status == 200, await done.text()
        recorded_s = time.monotonic() - started
        for watch in watches:
            await watch.stop()
        stalls = {w.name: (round(w.longest, 1), w.codecs) for w in watches}
        print(f"longest stall without a new frame, codecs decoded in turn: {stalls}")
        for watch in watches:
            assert watch.longest < STALL_S, stalls

        # The recording is processed and ready, and its MP4 plays from start to end.
        body: dict[str, Any] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            async with api.get(f"{served.url}/api/recordings/{recording}") as response:
                body = await response.json()
            if body["status"] in ("ready", "failed"):
                break
            await asyncio.sleep(0.5)
        assert body["status"] == "ready", json.dumps(body)[:2000]
        mp4 = served.workdir / "download.mp4"
        async with api.get(f"{served.url}{body['download']}") as response:
            assert response.status == 200
            mp4.write_bytes(await response.read())
    finally:
        for watch in watches:
            await watch.stop()
        await api.close()

    # Each stretch of the camera in files of its own codec. A segment may start between
    # keyframes (the pipeline joins a track's segments in order), so the replay as a
    # whole is what is decoded.
    segments = cameras(directory)
    assert [c["codec"] for c in segments] == ["h264", "vp8", "h264"]
    for camera in segments:
        for file in camera["files"]:
            assert probe(file)["streams"][0]["codec_name"] == camera["codec"], file
    info = probe(mp4)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    duration = float(video["duration"])
    assert duration >= recorded_s - LATE_S, (duration, recorded_s)
    # It decodes without a single error, and its pictures move all along: the fake camera
    # draws a moving pattern, so a stretch of identical pictures is a hole in the video.
    ffmpeg = await asyncio.create_subprocess_exec(
        "ffmpeg", "-hide_banner", "-v", "info", "-i", str(mp4), "-map", "0:v:0",
        "-vf", f"freezedetect=n=0.001:d={FROZEN_S}", "-f", "null", "-",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await ffmpeg.communicate()
    assert ffmpeg.returncode == 0
    lines = stderr.decode(errors="replace").splitlines()
    errors = [line for line in lines if "error" in line.lower()]
    assert errors == []
    frozen = [line for line in lines if "freeze_" in line]
    print(f"MP4: {duration:.1f} s of video; frozen stretches: {frozen}")
    assert frozen == [], explain(directory)
