"""/metrics: Prometheus text read from the live rooms, per app, with process figures."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from config import Settings
from loadtest.clip import encode_audio, encode_video
from loadtest.media import MediaClient
from loadtest.participant import Participant
from tests.conftest import Mint
from tests.web.test_ws import connect, receive
from web.metrics import MonotonicTotals

Client = TestClient[Any, Any]


async def scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def participants(samples: dict[Any, float], role: str, state: str) -> float:
    return samples["classroom_participants", (("role", role), ("state", state))]


async def test_rooms_and_participants_are_read_at_scrape_time(client: Client, mint: Mint) -> None:
    empty = await scrape(client)
    assert empty["classroom_rooms", ()] == 0
    assert participants(empty, "trainee", "connected") == 0

    trainer = await connect(client, mint("trainer", "Tea", sub="t"))
    await receive(trainer, "welcome")
    trainees = []
    for n in range(3):
        ws = await connect(client, mint("trainee", f"T{n}", sub=f"a{n}"))
        await receive(ws, "welcome")
        trainees.append(ws)
    other = await connect(client, mint("observer", "Obi", room="other", sub="o"))
    await receive(other, "welcome")

    full = await scrape(client)
    assert full["classroom_rooms", ()] == 2
    assert participants(full, "trainer", "connected") == 1
    assert participants(full, "trainee", "connected") == 3
    assert participants(full, "observer", "connected") == 1
    assert full["classroom_websockets", ()] == 5
    assert full["process_resident_memory_bytes", ()] > 0
    assert full["process_cpu_seconds_total", ()] > 0

    await trainees[0].close()
    for _ in range(100):  # the server sees the close a moment later
        after = await scrape(client)
        if participants(after, "trainee", "disconnected") == 1:
            break
        await asyncio.sleep(0.02)
    assert participants(after, "trainee", "connected") == 2
    assert participants(after, "trainee", "disconnected") == 1
    assert after["classroom_websockets", ()] == 4


async def test_lobby_is_counted_apart(client: Client, mint: Mint) -> None:
    trainer = await connect(client, mint("trainer", "Tea", sub="t"))
    await receive(trainer, "welcome")
    await trainer.send_json({"type": "lock", "value": True})
    await receive(trainer, "room_locked")
    waiting = await connect(client, mint("trainee", "Late", sub="late"))
    await receive(trainer, "lobby_entered")
    samples = await scrape(client)
    assert participants(samples, "trainee", "lobby") == 1
    assert participants(samples, "trainee", "connected") == 0
    await waiting.close()


async def test_each_app_has_its_own_registry(
    settings: Settings, mint: Mint, tmp_path: Path
) -> None:
    """Two apps in one process: no collector is registered twice, no figures are shared."""
    from web.app import create_app

    other = settings.replace(data_dir=tmp_path / "other")  # one server per data directory
    async with (
        TestClient(TestServer(create_app(settings))) as first,
        TestClient(TestServer(create_app(other))) as second,
    ):
        ws = await connect(first, mint("trainee", "Ana", sub="a"))
        await receive(ws, "welcome")
        assert (await scrape(first))["classroom_rooms", ()] == 1
        assert (await scrape(second))["classroom_rooms", ()] == 0
        await ws.close()


async def test_media_counters_come_from_the_rooms_routers(client: Client, mint: Mint) -> None:
    """A real publisher (the load tool's clip) and a real subscriber through the router."""
    url = str(client.make_url("/")).rstrip("/")
    video = encode_video(bitrate=200_000, width=160, height=120, seconds=1.0)
    people = {
        role: Participant(url, mint("trainee", role, sub=role), role, "trainee")
        for role in ("publisher", "viewer")
    }
    for person in people.values():
        await person.join()
    publisher = MediaClient(people["publisher"], video, encode_audio(seconds=0.2))
    viewer = MediaClient(people["viewer"])
    await viewer.start()
    await publisher.start()
    async with asyncio.timeout(30):
        while True:  # frames arrive on the viewer's own tasks: poll its counters
            if sum(c.frames for _, c in viewer.shown().values()) >= 20:
                break
            await asyncio.sleep(0.05)
    samples = await scrape(client)
    for closing in (publisher, viewer, *people.values()):
        await closing.close()
    assert samples["classroom_media_rooms", ()] == 1
    assert samples["classroom_media_tracks_published", ()] == 2  # camera and microphone
    assert samples["classroom_media_tracks_forwarded", ()] == 2  # both, to the one viewer
    assert samples["classroom_media_frames_received_total", ()] >= 20
    assert samples["classroom_media_packets_received_total", ()] >= 20
    assert samples["classroom_media_packets_forwarded_total", ()] >= 20
    assert samples["classroom_media_bytes_forwarded_total", ()] > 0
    sent = samples["classroom_media_keyframe_requests_total", (("direction", "sent"),)]
    assert sent >= 1  # the viewer's arrival asks the publisher for a keyframe


async def test_recordings_are_counted_by_state(client: Client, mint: Mint) -> None:
    trainer = await connect(client, mint("trainer", "Tea", sub="t"))
    await receive(trainer, "welcome")
    headers = {"Authorization": f"Bearer {mint('trainer', 'Tea', sub='t')}"}
    started = await client.post(
        "/api/rooms/demo/recording", json={"action": "start"}, headers=headers
    )
    assert started.status == 201, await started.text()
    samples = await scrape(client)
    assert samples["classroom_recordings_active", ()] == 1
    assert samples["classroom_recording_queue_items", ()] >= 0
    assert samples["classroom_recording_frames_dropped_total", ()] == 0
    assert samples["classroom_recordings", (("state", "recording"),)] == 1
    stopped = await client.post(
        "/api/rooms/demo/recording", json={"action": "stop"}, headers=headers
    )
    assert stopped.status == 200, await stopped.text()
    samples = await scrape(client)
    assert samples["classroom_recordings_active", ()] == 0
    assert samples["classroom_recordings", (("state", "recording"),)] == 0
    finished = sum(
        samples["classroom_recordings", (("state", s),)] for s in ("processing", "ready", "failed")
    )
    assert finished == 1


class Source:
    """Stands for a room's router: running totals as plain attributes."""


def test_totals_stay_monotonic_when_a_source_goes_away() -> None:
    totals = MonotonicTotals(["packets"])
    a, b = Source(), Source()
    assert totals.totals([(a, {"packets": 10}), (b, {"packets": 5})]) == {"packets": 15}
    assert totals.totals([(a, {"packets": 12}), (b, {"packets": 7})]) == {"packets": 19}
    del b
    gc.collect()
    assert totals.totals([(a, {"packets": 13})]) == {"packets": 20}
    c = Source()
    assert totals.totals([(a, {"packets": 13}), (c, {"packets": 1})]) == {"packets": 21}
