"""The library API, its media behind tickets, who may see what, and no way out of the data dir."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from config import Settings
from recordings import pipeline
from recordings.library import Library
from tests.conftest import Mint
from tests.recordings.synthetic import generate_session
from web.library import MEDIA_KEY, make_ticket

# Real ffmpeg (and browsers) on a busy 2-core machine: a bound on hanging, not on speed.
pytestmark = pytest.mark.timeout(300)

Client = TestClient[Any, Any]


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Recordings made once for this module: one ready (two languages), one still processing."""
    root = tmp_path_factory.mktemp("library") / "recordings"
    library = Library(root)
    clips = tmp_path_factory.mktemp("clips")
    ready = generate_session(
        library, clips, duration_s=8, channels=("en",), screen=None, title="Smuggling routes"
    )
    manifest = pipeline.process(ready.directory, lambda step, pct: None)
    library.update(
        ready.status.id,
        status="ready",
        progress=100.0,
        duration_s=manifest["duration_s"],
        languages=[a["language"] for a in manifest["audio"]],
    )
    waiting = generate_session(
        library,
        clips,
        duration_s=3,
        channels=(),
        screen=None,
        title="Border cooperation",
        module_id="m06-security-borders",
        started_at=1_700_100_000.0,
    )
    library.update(waiting.status.id, trainer="Marko Đorđević", progress=42.0)
    return root


@pytest.fixture
async def library_client(
    settings: Settings, processed: Path, client: Client
) -> tuple[Client, dict[str, str]]:
    target = settings.data_dir / "recordings"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(processed, target)
    ids = {s.title: s.id for s in Library(target).all()}
    return client, ids


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_library_lists_and_searches(
    library_client: tuple[Client, dict[str, str]], mint: Mint
) -> None:
    client, ids = library_client
    headers = auth(mint("trainee", "Ana", sub="ana"))
    listing = await (await client.get("/api/recordings", headers=headers)).json()
    by_title = {r["title"]: r for r in listing["recordings"]}
    ready, waiting = by_title["Smuggling routes"], by_title["Border cooperation"]
    assert (ready["status"], ready["progress"], ready["languages"]) == (
        "ready",
        100.0,
        ["sr", "en"],
    )
    assert ready["module"] == "m04-smuggling" and ready["topic"] == "irregular"
    assert ready["poster"].startswith(f"/media/recordings/{ids['Smuggling routes']}/")
    assert (waiting["status"], waiting["progress"], waiting["poster"]) == ("processing", 42.0, None)

    async def titles(**query: str) -> list[str]:
        response = await client.get("/api/recordings", params=query, headers=headers)
        return [r["title"] for r in (await response.json())["recordings"]]

    assert await titles(q="smuggling") == ["Smuggling routes"]
    assert await titles(q="mixed flows smuggling") == ["Smuggling routes"]  # module title words
    assert await titles(trainer="dorde") == []
    assert await titles(trainer="djordjevic") == ["Border cooperation"]
    assert await titles(trainer="petrovic") == ["Smuggling routes"]
    assert await titles(topic="security") == ["Border cooperation"]
    assert await titles(language="en") == ["Smuggling routes"]
    assert await titles(module="m06-security-borders") == ["Border cooperation"]
    assert await titles(q="nothing like it") == []


async def test_a_recording_gives_its_stream_download_chapters_and_resume(
    library_client: tuple[Client, dict[str, str]], mint: Mint
) -> None:
    client, ids = library_client
    rid = ids["Smuggling routes"]
    headers = auth(mint("trainee", "Ana", sub="ana"))
    body = await (await client.get(f"/api/recordings/{rid}", headers=headers)).json()
    assert body["hls"].endswith("/hls/master.m3u8") and body["download"].endswith("/download.mp4")
    assert [a["language"] for a in body["audio"]] == ["sr", "en"]
    assert {c["kind"] for c in body["chapters"]} >= {"start", "trainer_joined", "on_air"}
    assert body["resume_s"] == 0.0 and body["thumbnails"]

    master = await client.get(body["hls"])
    text = await master.text()
    assert master.status == 200 and 'LANGUAGE="en"' in text
    assert master.headers["Content-Type"].startswith("application/vnd.apple.mpegurl")
    variant = body["hls"].rsplit("/", 1)[0] + "/audio1/index.m3u8"  # a relative URL resolves
    assert (await client.get(variant)).status == 200
    download = await client.get(body["download"], params={"download": "1"})
    assert download.status == 200 and download.headers["Content-Type"] == "video/mp4"
    assert "attachment" in download.headers["Content-Disposition"]
    assert len(await download.read()) > 10_000
    vtt = await client.get(body["chapters_vtt"])
    assert (await vtt.text()).startswith("WEBVTT")

    saved = await client.put(
        f"/api/recordings/{rid}/position", json={"position_s": 4.5}, headers=headers
    )
    assert saved.status == 204
    again = await (await client.get(f"/api/recordings/{rid}", headers=headers)).json()
    assert again["resume_s"] == 4.5
    other = await client.get(f"/api/recordings/{rid}", headers=auth(mint("trainee", "B", sub="b")))
    assert (await other.json())["resume_s"] == 0.0  # each learner their own
    for bad in ({"position_s": -1}, {"position_s": "x"}, {"position": 3}):
        response = await client.put(f"/api/recordings/{rid}/position", json=bad, headers=headers)
        assert response.status == 400


@pytest.mark.parametrize(
    ("role", "status"),
    [("trainee", 200), ("trainer", 200), ("observer", 403), ("interpreter", 403), ("room", 403)],
)
async def test_only_roles_that_may_replay_see_the_library(
    library_client: tuple[Client, dict[str, str]], mint: Mint, role: str, status: int
) -> None:
    client, ids = library_client
    headers = auth(mint(role, "X"))
    assert (await client.get("/api/recordings", headers=headers)).status == status
    rid = ids["Smuggling routes"]
    assert (await client.get(f"/api/recordings/{rid}", headers=headers)).status == status


async def test_no_token_no_library(library_client: tuple[Client, dict[str, str]]) -> None:
    client, ids = library_client
    assert (await client.get("/api/recordings")).status == 401
    assert (await client.get(f"/api/recordings/{ids['Smuggling routes']}")).status == 401
    response = await client.get("/api/recordings", headers=auth("not-a-token"))
    assert response.status == 401


async def test_media_needs_a_valid_ticket_for_that_recording(
    library_client: tuple[Client, dict[str, str]],
) -> None:
    client, ids = library_client
    key = client.app[MEDIA_KEY]
    rid, other = ids["Smuggling routes"], ids["Border cooperation"]
    good = make_ticket(key, rid, time.time())
    assert (await client.get(f"/media/recordings/{rid}/{good}/download.mp4")).status == 200
    expired = make_ticket(key, rid, time.time() - 7 * 3600)
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    odd = ("9" * 5000 + "-abc", "\u00b2-abc", "1" * 13 + "-abc")  # huge, not ASCII, too long
    for ticket in (
        expired,
        forged,
        "123-abc",
        "nonsense",
        make_ticket(key, other, time.time()),
        *odd,
    ):
        response = await client.get(f"/media/recordings/{rid}/{ticket}/download.mp4")
        assert response.status == 403, ticket


@pytest.mark.parametrize(
    "path",
    [
        "../status.json",
        "../journal.jsonl",
        "%2e%2e/status.json",
        "..%2fstatus.json",
        "%2E%2E%2F%2E%2E%2Ftoken_secret",
        "hls/../../journal.jsonl",
        "hls/%2e%2e/%2e%2e/tracks/t01-camera/000001.mkv",
        "..%5cstatus.json",
        "%2fetc%2fpasswd",
        "/etc/passwd",
        "hls//master.m3u8",
        "download.mp4%00.jpg",
        "outside",
    ],
)
async def test_no_path_leads_out_of_a_recording(
    library_client: tuple[Client, dict[str, str]], settings: Settings, path: str
) -> None:
    client, ids = library_client
    rid = ids["Smuggling routes"]
    out = settings.data_dir / "recordings" / rid / "out"
    (out / "outside").symlink_to(settings.data_dir / "token_secret")
    ticket = make_ticket(client.app[MEDIA_KEY], rid, time.time())
    response = await client.get(f"/media/recordings/{rid}/{ticket}/{path}")
    assert response.status in (403, 404), path
    assert "secret" not in await response.text()


@pytest.mark.parametrize(
    "url",
    [
        "/static/../web/app.py",
        "/static/%2e%2e/%2e%2e/config/default.toml",
        "/static/..%2f..%2fconfig/default.toml",
        "/vendor/hls.js/..%2f..%2fpackage.json",
        "/vendor/hls.js/%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
        "/media/recordings/..%2f..%2f/x/y",
        "/library/..%2f..%2fdata",
    ],
)
async def test_other_routes_do_not_lead_out_either(
    library_client: tuple[Client, dict[str, str]], url: str
) -> None:
    client, _ = library_client
    response = await client.get(url)
    assert response.status in (403, 404), url
    text = await response.text()
    assert "[project]" not in text and "create_app" not in text and "token_secret" not in text


async def test_the_pages_are_served_in_the_readers_language(
    library_client: tuple[Client, dict[str, str]],
) -> None:
    client, ids = library_client
    page = await client.get("/library", headers={"Accept-Language": "ar"})
    html = await page.text()
    assert page.status == 200 and 'dir="rtl"' in html and "مكتبة الجلسات المسجلة" in html
    # Topics to search by, with their titles in the catalogue's translation.
    assert "التهريب والهجرة غير النظامية" in html
    assert "Smuggling and Irregular Migration" not in html
    player = await client.get(
        f"/library/{ids['Smuggling routes']}", headers={"Accept-Language": "mk"}
    )
    assert player.status == 200 and "Јазик на звукот" in await player.text()
    assert (await client.get("/library/NOT..valid")).status == 404
