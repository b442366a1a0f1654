"""Material recorded elsewhere into the library, against ``classroom serve`` as users run it.

A trainer sends a module's video over a poor link (tus: small PATCH requests, one of
them cut off half-way and resumed from where the server says it stands), a second
language's sound and Serbian subtitles (SRT), imports them with a list of chapters,
and the entry is processed like a recording: the HLS offers both languages and the
subtitles, the MP4 has a tagged track per language, a subtitle track and the chapters,
and the video was copied, not encoded again. Bad input gets an error that names the
file, and the uploads stay as they were.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from recordings.uploads import parse_metadata
from tests.recordings.conftest import probe
from tests.server import ServerProcess

pytestmark = pytest.mark.timeout(180)
TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = 64 * 1024  # a poor link: small requests

SRT = """1
00:00:00,500 --> 00:00:02,500
Dobrodošli na obuku.

2
00:00:03,000 --> 00:00:05,000
Prvo poglavlje: procedura azila.
"""
VTT_EN = """WEBVTT

00:00.500 --> 00:02.500
Welcome to the training.
"""
CHAPTERS = "00:00 Uvod\n0:03 - Procedura azila\n"


def make_video(path: Path, seconds: int = 6) -> None:
    """A module's video as a camera writes it: H.264 4:2:0 and AAC in MP4."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=s=320x240:r=25:d={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:d={seconds}",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "50", "-c:a", "aac", "-shortest",
         str(path)],
        check=True,
    )  # fmt: skip


def make_sound(path: Path, seconds: int = 6) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=frequency=660:d={seconds}",
         "-c:a", "libopus", str(path)],
        check=True,
    )  # fmt: skip


def metadata(name: str) -> str:
    return f"filename {base64.b64encode(name.encode()).decode()}"


class Client:
    """A tus client as a browser's would be, over HTTP to the real server."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url

    async def create(self, length: int, name: str) -> str:
        headers = {**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata(name)}
        async with self.http.post(f"{self.url}/api/uploads", headers=headers) as made:
            assert made.status == 201, await made.text()
            assert made.headers["Upload-Offset"] == "0"
            return made.headers["Location"]

    async def offset(self, location: str) -> int:
        async with self.http.head(f"{self.url}{location}", headers=TUS) as where:
            assert where.status == 200
            assert where.headers["Cache-Control"] == "no-store"
            return int(where.headers["Upload-Offset"])

    async def patch(self, location: str, offset: int, body: Any) -> aiohttp.ClientResponse:
        headers = {
            **TUS,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        }
        async with self.http.patch(f"{self.url}{location}", headers=headers, data=body) as sent:
            await sent.read()
            return sent

    async def upload(self, data: bytes, name: str) -> str:
        location = await self.create(len(data), name)
        offset = 0
        while offset < len(data):
            sent = await self.patch(location, offset, data[offset : offset + CHUNK])
            assert sent.status == 204, sent.status
            offset = int(sent.headers["Upload-Offset"])
        return location.rsplit("/", 1)[1]


async def send_then_drop(tus: Client, served: ServerProcess, location: str, token: str,
                         data: bytes) -> None:  # fmt: skip
    """A PATCH for the whole file over a link that carries one chunk (which the server
    writes), then half of the next, and is gone."""
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    head = (
        f"PATCH {location} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        "Content-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    writer.write(head.encode() + data[:CHUNK])
    await writer.drain()
    deadline = time.monotonic() + 10
    while await tus.offset(location) < CHUNK:
        assert time.monotonic() < deadline, "the server writes what arrives as it arrives"
        await asyncio.sleep(0.05)
    writer.write(data[CHUNK : CHUNK + CHUNK // 2])
    await writer.drain()
    writer.transport.abort()  # no goodbye: the connection is simply gone
    del reader


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess.as_users_run_it(tmp_path / "site")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def wait_ready(http: aiohttp.ClientSession, url: str, recording: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    body: dict[str, Any] = {}
    progress = []
    while time.monotonic() < deadline:
        async with http.get(f"{url}/api/recordings/{recording}") as response:
            body = await response.json()
        progress.append(body.get("progress"))
        if body["status"] in ("ready", "failed"):
            break
        await asyncio.sleep(0.3)
    assert body["status"] == "ready", json.dumps(body)[:1500]
    return body


def test_upload_metadata_is_checked() -> None:
    assert parse_metadata("filename bW9kdWxlLm1wNA==,private") == {
        "filename": "module.mp4",
        "private": "",
    }
    for bad in ("filename ###", "a b,a b", "bad key bWE="):
        with pytest.raises(Exception, match="Upload-Metadata"):
            parse_metadata(bad)


async def test_a_trainer_uploads_a_module_over_a_poor_link_and_learners_get_it_in_two_languages(
    served: ServerProcess, tmp_path: Path
) -> None:
    video, sound = tmp_path / "modul-3.mp4", tmp_path / "english.opus"
    make_video(video)
    make_sound(sound)
    data = video.read_bytes()
    token = served.mint("trainer", "Tea", sub="tea", lang="sr")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        tus = Client(http, served.url)
        async with http.options(f"{served.url}/api/uploads") as offered:
            assert offered.status == 204
            assert offered.headers["Tus-Version"] == "1.0.0"
            assert "creation" in offered.headers["Tus-Extension"]
        location = await tus.create(len(data), video.name)

        # The link breaks half-way through a request: what arrived is kept.
        await send_then_drop(tus, served, location, token, data)
        kept = await tus.offset(location)
        assert CHUNK <= kept <= CHUNK + CHUNK // 2, "what was written before the break is kept"
        stale = await tus.patch(location, kept + 1, data[:CHUNK])
        assert stale.status in (409, 423), "an append from the wrong place is refused"
        # As tus clients do: on a conflict (the server may not have seen the break yet), ask
        # where the upload stands and go on from there.
        offset, refusals = kept, []
        while offset < len(data):
            sent = await tus.patch(location, offset, data[offset : offset + CHUNK])
            if sent.status in (409, 423):
                refusals.append(sent.status)
                assert len(refusals) < 100, refusals
                await asyncio.sleep(0.05)
                offset = await tus.offset(location)
                continue
            assert sent.status == 204
            offset = int(sent.headers["Upload-Offset"])
        assert await tus.offset(location) == len(data)
        video_id = location.rsplit("/", 1)[1]
        english = await tus.upload(sound.read_bytes(), sound.name)
        srt = await tus.upload(SRT.encode(), "modul-3.sr.srt")

        # A file that is not media is named in the refusal; nothing is lost.
        text = await tus.upload(b"not a video at all\n" * 100, "notes.txt")
        request = {"title": "Modul 3", "language": "sr", "video": text}
        async with http.post(f"{served.url}/api/library/imports", json=request) as refused:
            assert refused.status == 400
            error = (await refused.json())["error"]
            assert (error["reason"], error["file"]) == ("not_media", "notes.txt")
        assert await tus.offset(location) == len(data)
        unfinished = await tus.create(100, "half.mp4")
        request["video"] = unfinished.rsplit("/", 1)[1]
        async with http.post(f"{served.url}/api/library/imports", json=request) as refused:
            assert refused.status == 409, await refused.text()
            assert (await refused.json())["error"]["reason"] == "unfinished"

        request = {
            "title": "Modul 3: azil",
            "module": None,
            "language": "sr",
            "video": video_id,
            "audio": [{"language": "en", "upload": english}],
            "subtitles": [{"language": "sr", "upload": srt}],
            "chapters": CHAPTERS,
        }
        async with http.post(f"{served.url}/api/library/imports", json=request) as made:
            assert made.status == 201, await made.text()
            recording = (await made.json())["id"]
        async with http.head(f"{served.url}{location}", headers=TUS) as gone:
            assert gone.status == 404, "an imported upload is the library's now"
        body = await wait_ready(http, served.url, recording)
        assert [a["language"] for a in body["audio"]] == ["sr", "en"]
        assert [c["title"] for c in body["chapters"]] == ["Uvod", "Procedura azila"]
        assert [s["language"] for s in body["subtitles"]] == ["sr"]
        async with http.get(f"{served.url}{body['subtitles'][0]['url']}") as vtt:
            assert vtt.status == 200
            assert "Dobrodošli na obuku." in await vtt.text()
        async with http.get(f"{served.url}{body['hls']}") as master:
            playlist = await master.text()
        assert playlist.count("TYPE=AUDIO") == 2
        assert 'TYPE=SUBTITLES,GROUP-ID="subs",NAME="sr",LANGUAGE="sr"' in playlist
        assert 'SUBTITLES="subs"' in playlist

        # A trainer adds English subtitles to the ready entry: HLS and MP4 offer both.
        async with http.put(
            f"{served.url}/api/recordings/{recording}/subtitles/en", data=VTT_EN.encode()
        ) as added:
            assert added.status == 200, await added.text()
        async with http.put(
            f"{served.url}/api/recordings/{recording}/subtitles/fr", data=b"hello"
        ) as refused:
            assert refused.status == 400
            assert (await refused.json())["error"]["reason"] == "not_subtitles"
        async with http.get(f"{served.url}/api/recordings/{recording}") as response:
            body = await response.json()
        assert [s["language"] for s in body["subtitles"]] == ["sr", "en"]
        mp4 = tmp_path / "download.mp4"
        async with http.get(f"{served.url}{body['download']}") as response:
            mp4.write_bytes(await response.read())

    info = probe(mp4)
    streams = info["streams"]
    kinds = [
        (s["codec_type"], s["codec_name"], s.get("tags", {}).get("language"))
        for s in streams
        if s["codec_type"] != "data"  # the chapters, as QuickTime players read them
    ]
    assert kinds == [
        ("video", "h264", "und"),
        ("audio", "aac", "srp"),
        ("audio", "aac", "eng"),
        ("subtitle", "mov_text", "srp"),
        ("subtitle", "mov_text", "eng"),
    ], kinds
    assert [c["tags"]["title"] for c in info["chapters"]] == ["Uvod", "Procedura azila"]
    original = probe(video)["streams"][0]
    copied = streams[0]
    assert copied["nb_frames"] == original["nb_frames"], "the camera's video is copied as it is"
    assert abs(float(info["format"]["duration"]) - 6.0) < 0.5
