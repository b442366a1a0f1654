"""Memory per participant: the server's resident set before and after many participants join."""

from __future__ import annotations

import asyncio

import aiohttp

from loadtest.clip import encode_video
from loadtest.participant import Participant
from tests.bench import report
from tests.bench.conftest import Mint, StartServer
from tests.bench.fleet import ClassroomFleet
from tests.bench.process import Server, rss_bytes

ROOMS = 10
PER_ROOM = 50  # a trainer and 49 trainees: a large class
MEDIA_VIEWERS = 50


async def settle(server: Server) -> int:
    """The resident set once it stops moving (allocations of the last joins are done)."""
    previous = rss_bytes(server.pid)
    for _ in range(20):
        await asyncio.sleep(0.5)
        current = rss_bytes(server.pid)
        if abs(current - previous) < 64 * 1024:
            return current
        previous = current
    return previous


async def websocket_participants(server: Server, bench_mint: Mint) -> tuple[float, list[float]]:
    """Resident bytes per participant, and each one's join time."""
    warm = Participant(server.url, bench_mint("warm", "trainer", "W"), "W", "trainer")
    await warm.join()
    await warm.close()
    before = await settle(server)
    people: list[Participant] = []
    for room in range(ROOMS):
        for n in range(PER_ROOM):
            role = "trainer" if n == 0 else "trainee"
            name = f"{role}-{room}-{n}"
            token = bench_mint(f"class-{room}", role, name, sub=name)
            people.append(Participant(server.url, token, name, role))
    for start in range(0, len(people), 50):
        await asyncio.gather(*(p.join() for p in people[start : start + 50]))
    after = await settle(server)
    await asyncio.gather(*(p.close() for p in people))
    return (after - before) / len(people), sorted(p.join_s or 0.0 for p in people)


async def media_viewers(server: Server, bench_mint: Mint) -> float:
    """Resident bytes per viewer that also receives a video stream (a subscribe connection)."""
    clip = encode_video(bitrate=1_000_000, seconds=2.0)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        fleet = ClassroomFleet(server, session, clip, bench_mint)
        try:
            await fleet.publish()
            await fleet.grow(2)
            before = await settle(server)
            await fleet.grow(2 + MEDIA_VIEWERS)
            after = await settle(server)
        finally:
            await fleet.close()
    return (after - before) / MEDIA_VIEWERS


async def test_memory_per_participant(start_server: StartServer, bench_mint: Mint) -> None:
    per_ws, joins = await websocket_participants(await start_server(), bench_mint)
    per_media = await media_viewers(await start_server(), bench_mint)
    count = len(joins)
    body = (
        "The server (`classroom serve`, one process on core 0, a fresh one for each line) "
        "before and after participants join; resident set read from /proc once it stops "
        "growing.\n\n"
        + report.table(
            ("participants", "per participant (KiB)"),
            [
                (
                    f"{count} on websockets only, {ROOMS} rooms of {PER_ROOM} (each join "
                    "announced to the whole room)",
                    per_ws / 1024,
                ),
                (
                    f"{MEDIA_VIEWERS} viewers of one 1 Mbit/s video (websocket and a subscribe "
                    "peer connection each)",
                    per_media / 1024,
                ),
            ],
        )
        + f"\nJoin (websocket open to `welcome`) while the rooms fill: median "
        f"{joins[count // 2] * 1000:.0f} ms, slowest {joins[-1] * 1000:.0f} ms.\n"
    )
    report.write(
        report.Section(
            name="memory",
            title="Memory per participant",
            target="(sizing figure)",
            result=f"{per_ws / 1024:.0f} KiB per websocket participant, "
            f"{per_media / 2**20:.1f} MiB per media viewer",
            met=None,
            body=body,
            command=".venv/bin/python -m pytest tests/bench/test_memory.py -o addopts='' -s",
        )
    )
    assert per_ws > 0 and per_media > 0
