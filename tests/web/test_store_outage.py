"""Issue 14, finding 1: a Redis outage does not stop the classroom. With a redis-server of
the test's own: stopped, the class goes on and writes are refused with
``store_unavailable`` (the connection kept); paused (SIGSTOP) for 8 s, an answer is refused
within the store's timeout and never stored later; restarted empty, the server writes
back the polls and votes it holds."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from classroom.errors import StoreUnavailable
from config import Settings
from live.store import OP_TIMEOUT_S, WATCH_EVERY_S, RedisStore
from tests.conftest import Mint, free_port
from tests.server import ServerProcess

pytestmark = pytest.mark.redis
WS = aiohttp.ClientWebSocketResponse


class OwnRedis:
    """A redis-server for one test alone, keeping nothing on disk: stopped, paused and
    started again (empty) on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.port, self.workdir = free_port(), workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed: run `make test`"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            self.process.wait(5)

    def direct(self) -> Any:
        return aioredis.from_url(self.url, decode_responses=True)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = OwnRedis(workdir)
    server.start()
    yield server
    server.stop()


async def receive(ws: WS, type_: str, within_s: float = 10) -> dict[str, Any]:
    """The next message of the given type (others are skipped)."""
    async with asyncio.timeout(within_s):
        while True:
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.TEXT, f"closed while waiting for {type_}: {msg}"
            data = json.loads(msg.data)
            if data["type"] == type_:
                return data  # type: ignore[no-any-return]


async def reply(ws: WS, ref: str, within_s: float = 10) -> dict[str, Any]:
    """The receipt or error that answers the message sent with ``ref``."""
    async with asyncio.timeout(within_s):
        while True:
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.TEXT, f"closed while waiting for {ref}: {msg}"
            data = json.loads(msg.data)
            if data["type"] == "error" and data.get("ref") == ref:
                return data  # type: ignore[no-any-return]
            if data["type"] == "poll_answer_recorded":
                return data  # type: ignore[no-any-return]


async def still_open(ws: WS) -> None:
    await ws.send_json({"type": "ping"})
    await receive(ws, "pong")


async def open_poll(trainer: WS, **fields: Any) -> dict[str, Any]:
    body = {"question": "Which border crossing?", "kind": "single", "options": ["A", "B", "C"]}
    await trainer.send_json({"type": "create_poll", **body, **fields, "open": True})
    return (await receive(trainer, "poll_opened"))["poll"]  # type: ignore[no-any-return]


async def test_with_redis_stopped_the_served_class_goes_on_and_writes_are_refused(
    tmp_path: Path, own_redis: OwnRedis
) -> None:
    server = ServerProcess(tmp_path / "data", redis_url=own_redis.url)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            trainer_token = server.mint("trainer", "Tea", sub="t")

            async def join(token: str) -> WS:
                ws = await http.ws_connect(server.ws_url, params={"token": token})
                await receive(ws, "welcome")
                return ws

            trainer = await join(trainer_token)
            ana = await join(server.mint("trainee", "Ana", sub="ana"))
            device = await join(server.mint("room", "Room 3", sub="room3"))
            poll = await open_poll(trainer)

            own_redis.stop()
            bojan = await join(server.mint("trainee", "Bojan", sub="bojan"))
            await receive(bojan, "polls_snapshot")  # the books are in memory
            await bojan.send_json({"type": "chat", "text": "Can you hear me?"})
            assert (await receive(trainer, "chat_posted"))["text"] == "Can you hear me?"
            await bojan.send_json({"type": "raise_hand", "raised": True})
            assert (await receive(trainer, "hand_changed"))["id"] == "bojan"
            await trainer.send_json({"type": "mute", "target": "bojan"})
            assert (await receive(bojan, "mute_changed"))["muted"] is True

            started = time.monotonic()
            await ana.send_json(
                {"type": "answer_poll", "poll": poll["id"], "answer": 1, "ref": "a1"}
            )
            refused = await reply(ana, "a1")
            assert refused["code"] == "store_unavailable", refused
            assert time.monotonic() - started < OP_TIMEOUT_S + 1
            await still_open(ana)
            await device.send_json({"type": "pair_companion", "ref": "p"})
            assert (await receive(device, "error"))["code"] == "store_unavailable"
            await still_open(device)

            headers = {"Authorization": f"Bearer {trainer_token}"}
            listing = await http.get(f"{server.url}/api/rooms/demo/polls", headers=headers)
            assert listing.status == 200  # read from memory
            prepared = await http.post(
                f"{server.url}/api/rooms/demo/polls",
                headers=headers,
                json={"question": "Later?", "kind": "single", "options": ["Yes", "No"]},
            )
            assert prepared.status == 503
            assert prepared.headers["Retry-After"].isdigit()
            assert (await prepared.json())["error"]["code"] == "store_unavailable"
            pairing = await http.post(
                f"{server.url}/api/companion/pair", json={"code": "ABCDEF", "name": "P"}
            )
            assert pairing.status == 503
            assert (await pairing.json())["error"]["code"] == "store_unavailable"
            async with http.get(f"{server.url}/healthz") as health:
                assert (await health.json())["status"] == "degraded"

            own_redis.start()  # back, empty: the store reconnects by itself
            back = time.monotonic()
            while True:
                await ana.send_json(
                    {"type": "answer_poll", "poll": poll["id"], "answer": 1, "ref": "a2"}
                )
                answer = await reply(ana, "a2")
                if answer["type"] == "poll_answer_recorded":
                    break
                assert time.monotonic() - back < 10, answer
                await asyncio.sleep(0.1)
            for ws in (trainer, ana, bojan, device):
                await still_open(ws)
                await ws.close()
            assert "unhandled error" not in server.output()
    finally:
        await server.stop()


async def test_an_answer_during_an_8_second_pause_is_refused_in_time_and_never_stored(
    settings: Settings, mint: Mint, own_redis: OwnRedis
) -> None:
    from web.app import create_app

    app = create_app(settings.replace(redis_url=own_redis.url))
    async with TestClient(TestServer(app)) as client:
        trainer = await client.ws_connect("/ws", params={"token": mint("trainer", "Tea", sub="t")})
        ana = await client.ws_connect("/ws", params={"token": mint("trainee", "Ana", sub="ana")})
        await receive(ana, "polls_snapshot")
        poll = await open_poll(trainer)
        await receive(ana, "poll_opened")

        own_redis.signal(signal.SIGSTOP)
        paused = time.monotonic()
        try:
            await ana.send_json(
                {"type": "answer_poll", "poll": poll["id"], "answer": 2, "ref": "during"}
            )
            refused = await reply(ana, "during")
            took = time.monotonic() - paused
            assert refused["code"] == "store_unavailable", refused
            assert took < OP_TIMEOUT_S + 0.5
            await still_open(ana)
            await trainer.send_json({"type": "chat", "text": "still here"})
            await receive(ana, "chat_posted")
            await asyncio.sleep(max(0.0, 8 - (time.monotonic() - paused)))
        finally:
            own_redis.signal(signal.SIGCONT)
            resumed = time.monotonic()

        # What Redis received during the pause ran on resuming: the answer was not stored.
        direct = own_redis.direct()
        try:
            await asyncio.sleep(0.2)
            assert await direct.hgetall(f"poll:demo:{poll['id']}:ballots") == {}
            await ana.send_json(
                {"type": "answer_poll", "poll": poll["id"], "answer": 2, "ref": "after"}
            )
            recorded = await reply(ana, "after")
            recovered = time.monotonic() - resumed
            assert recorded["type"] == "poll_answer_recorded", recorded
            assert recovered < 1.0
            ballots = await direct.hgetall(f"poll:demo:{poll['id']}:ballots")
            assert json.loads(ballots["ana"])["answer"] == 2
        finally:
            await direct.aclose()
        print(f"refused after {took:.2f} s of pause; answered {recovered:.3f} s after resuming")


async def test_a_redis_restarted_empty_gets_back_the_polls_and_votes_held_in_memory(
    settings: Settings, mint: Mint, own_redis: OwnRedis
) -> None:
    from web.app import create_app

    trainer_token = mint("trainer", "Tea", sub="t")
    app = create_app(settings.replace(redis_url=own_redis.url))
    async with TestClient(TestServer(app)) as client:
        trainer = await client.ws_connect("/ws", params={"token": trainer_token})
        ana = await client.ws_connect("/ws", params={"token": mint("trainee", "Ana", sub="ana")})
        bojan = await client.ws_connect("/ws", params={"token": mint("trainee", "Bo", sub="bo")})
        named = await open_poll(trainer)
        anonymous = await open_poll(trainer, anonymous=True)
        for ws, answer in ((ana, 0), (bojan, 2)):
            for poll in (named, anonymous):
                ref = f"{poll['id']}-{answer}"
                await ws.send_json(
                    {"type": "answer_poll", "poll": poll["id"], "answer": answer, "ref": ref}
                )
                assert (await reply(ws, ref))["type"] == "poll_answer_recorded"

        own_redis.stop()
        own_redis.start()  # without persistence: empty
        restarted = time.monotonic()
        direct = own_redis.direct()
        try:
            # The write-back is several writes: wait for the last of them, not the first.
            async def anonymous_counts() -> list[str | None]:
                keys = [f"poll:demo:{anonymous['id']}:count:{n}" for n in range(3)]
                return [await direct.get(key) for key in keys]

            async with asyncio.timeout(10):
                while True:
                    if await direct.hgetall(f"poll:demo:{named['id']}:ballots"):
                        break
                    await asyncio.sleep(0.05)
                resynced = time.monotonic() - restarted
                while True:
                    if await anonymous_counts() == ["1", "0", "1"]:
                        break
                    await asyncio.sleep(0.05)
            assert resynced < WATCH_EVERY_S + OP_TIMEOUT_S + 1
            assert set(await direct.hgetall("polls:demo")) == {named["id"], anonymous["id"]}
        finally:
            await direct.aclose()

        # Bojan changes nothing (answered already): memory was never replaced by emptiness.
        await bojan.send_json({"type": "answer_poll", "poll": named["id"], "answer": 1, "ref": "x"})
        assert (await reply(bojan, "x"))["code"] == "invalid_state"
        headers = {"Authorization": f"Bearer {trainer_token}"}
        listing = await (await client.get("/api/rooms/demo/polls", headers=headers)).json()
        tallies = {p["id"]: p["tally"]["counts"] for p in listing["polls"]}
        assert tallies == {named["id"]: [1, 0, 1], anonymous["id"]: [1, 0, 1]}
        print(f"written back {resynced:.2f} s after the empty Redis started")

    # A server started afresh reads them from Redis: they were really written back.
    async with TestClient(TestServer(create_app(settings.replace(redis_url=own_redis.url)))) as c:
        headers = {"Authorization": f"Bearer {trainer_token}"}
        listing = await (await c.get("/api/rooms/demo/polls", headers=headers)).json()
        tallies = {p["id"]: p["tally"]["counts"] for p in listing["polls"]}
        assert tallies == {named["id"]: [1, 0, 1], anonymous["id"]: [1, 0, 1]}


async def test_redis_store_operations_are_bounded_and_reconnect(own_redis: OwnRedis) -> None:
    store = RedisStore(own_redis.url, timeout_s=0.5)
    try:
        await store.set("k", "v")
        own_redis.signal(signal.SIGSTOP)
        try:
            for operation in (store.get("k"), store.hset("h", "f", "v"), store.keys("k")):
                started = time.monotonic()
                with pytest.raises(StoreUnavailable):
                    await operation
                assert time.monotonic() - started < 0.8
        finally:
            own_redis.signal(signal.SIGCONT)
        await asyncio.sleep(0.1)
        assert await store.hgetall("h") == {}  # the late write was refused by Redis itself
        own_redis.stop()
        with pytest.raises(StoreUnavailable):
            await store.get("k")
        assert not store.available
        own_redis.start()
        assert await store.get("k") is None  # reconnected; the new Redis is empty
        assert store.available
    finally:
        await store.close()


def test_every_language_says_storage_is_unavailable() -> None:
    locales = Path(__file__).resolve().parents[2] / "web" / "static" / "locales"
    texts = {
        path.stem: json.loads(path.read_text())["error.store_unavailable"]
        for path in sorted(locales.glob("*.json"))
    }
    assert len(texts) >= 5 and all(texts.values())
    assert len(set(texts.values())) == len(texts)  # translated, not copied


async def test_a_failing_sqlite_database_takes_the_same_path(
    client: TestClient[Any, Any], mint: Mint, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from live.sqlite_store import SqliteStore

    def broken(self: SqliteStore, *args: Any, **kwargs: Any) -> Any:
        def run(db: sqlite3.Connection) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        return self._call(run)

    token = mint("trainer", "Tea", sub="t")
    trainer = await client.ws_connect("/ws", params={"token": token})
    ana = await client.ws_connect("/ws", params={"token": mint("trainee", "Ana", sub="ana")})
    await receive(ana, "polls_snapshot")
    poll = await open_poll(trainer)
    monkeypatch.setattr(SqliteStore, "hsetnx", broken)
    monkeypatch.setattr(SqliteStore, "hset", broken)
    await ana.send_json({"type": "answer_poll", "poll": poll["id"], "answer": 0, "ref": "a"})
    assert (await reply(ana, "a"))["code"] == "store_unavailable"
    await still_open(ana)
    prepared = await client.post(
        "/api/rooms/demo/polls",
        headers={"Authorization": f"Bearer {token}"},
        json={"question": "Later?", "kind": "single", "options": ["Yes", "No"]},
    )
    assert prepared.status == 503 and prepared.headers["Retry-After"].isdigit()
    monkeypatch.undo()
    await ana.send_json({"type": "answer_poll", "poll": poll["id"], "answer": 0, "ref": "b"})
    assert (await reply(ana, "b"))["type"] == "poll_answer_recorded"  # memory was put back
