"""Memory per participant: the server's resident set before and after many participants join."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.bench import report
from tests.bench.conftest import Mint
from tests.bench.process import Server, rss_bytes
from web.loadtest.participant import Participant

ROOMS = 10
PER_ROOM = 50  # a trainer and 49 trainees: a large class


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


async def test_memory_per_websocket_participant(server: Server, bench_mint: Mint) -> None:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        warm = Participant(session, server.url, bench_mint("warm", "trainer", "W"), "W", "trainer")
        await warm.join()
        await warm.close()
        before = await settle(server)

        people: list[Participant] = []
        for room in range(ROOMS):
            for n in range(PER_ROOM):
                role = "trainer" if n == 0 else "trainee"
                name = f"{role}-{room}-{n}"
                token = bench_mint(f"class-{room}", role, name, sub=name)
                people.append(Participant(session, server.url, token, name, role))
        for start in range(0, len(people), 50):
            await asyncio.gather(*(p.join() for p in people[start : start + 50]))
        after = await settle(server)
        joins = sorted(p.join_s or 0.0 for p in people)
        await asyncio.gather(*(p.close() for p in people))

    count = len(people)
    per = (after - before) / count
    body = (
        f"The server (`classroom serve`, one process on core 0) before and after "
        f"{count} websocket participants join, {ROOMS} rooms of {PER_ROOM} (a trainer "
        f"and {PER_ROOM - 1} trainees each; every join is announced to the whole room). "
        f"Resident set read from /proc once it stops growing.\n\n"
        + report.table(
            ("participants", "RSS before (MiB)", "RSS after (MiB)", "per participant (KiB)"),
            [(count, before / 2**20, after / 2**20, per / 1024)],
        )
        + f"\nJoin (websocket open to `welcome`) while the rooms fill: median "
        f"{joins[count // 2] * 1000:.0f} ms, slowest {joins[-1] * 1000:.0f} ms.\n"
    )
    report.write(
        report.Section(
            name="memory",
            title="Memory per participant",
            target="(sizing figure)",
            result=f"{per / 1024:.0f} KiB per websocket participant",
            met=None,
            body=body,
            command=".venv/bin/python -m pytest tests/bench/test_memory.py -o addopts='' -s",
        )
    )
    assert per > 0
