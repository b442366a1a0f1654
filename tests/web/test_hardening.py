"""Faults and abuse (issue 14): what an attacker or a fault tried from outside, refused."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from config import Settings
from tests.conftest import ManualClock, Mint
from tests.web.test_polls import auth, join, receive
from web.store import MemoryStore

Client = TestClient[Any, Any]


@pytest.fixture
async def client(settings: Settings, clock: ManualClock) -> AsyncIterator[Client]:
    from web.app import create_app

    async with TestClient(TestServer(create_app(settings, clock))) as test_client:
        yield test_client


# --- 5. the in-memory store after a key expires ------------------------------------------


async def test_the_memory_store_lists_keys_after_one_has_expired() -> None:
    store = MemoryStore()
    await store.set("pairing-failures:1", "1", ttl_s=0)  # expired at once
    await store.set("pairing-other", "x")
    await store.hset("pairing-hash", "f", "v")
    assert await store.keys("pairing") == ["pairing-hash", "pairing-other"]
    assert await store.get("pairing-failures:1") is None


# --- 4. CSV formulas after a separator -----------------------------------------------------


async def test_no_csv_cell_starts_a_formula_whatever_the_separator(
    client: Client, mint: Mint, clock: ManualClock
) -> None:
    trainer = await join(client, mint("trainer", "Tea", sub="t"))
    await trainer.send_json({"type": "start_session"})
    session = (await receive(trainer, "session_changed"))["session"]["id"]
    for sub, name in (("a", "Ana;=1+2;"), ("b", "Bo, @SUM(A1)|-3")):
        await join(client, mint("trainee", name, sub=sub))
        await receive(trainer, "presence_recorded")
    clock.advance(60)
    response = await client.get(
        f"/api/sessions/{session}/attendance.csv", headers=auth(mint("trainer", "Tea", sub="t"))
    )
    text = await response.text()
    lines = text.splitlines()
    assert all(line.startswith('"') and line.endswith('"') for line in lines)  # all quoted
    names = {r["participant_id"]: r["name"] for r in csv.DictReader(io.StringIO(text))}
    assert names["a"] == "Ana;'=1+2;"
    assert names["b"] == "Bo, '@SUM(A1)|'-3"
    for separator in ",;|\t":  # read as a spreadsheet in any locale would split it
        for line in lines:
            for field in line.split(separator):
                assert field.strip(' "')[:1] not in ("=", "+", "-", "@"), (separator, line)


# --- 8. deeply nested JSON -----------------------------------------------------------------


async def test_deeply_nested_json_is_refused_and_the_socket_stays_up(
    client: Client, mint: Mint
) -> None:
    ws = await join(client, mint("trainee", "Ana", sub="a"))
    for text in ("[" * 1000, '{"type": "chat", "text": ' + "[" * 40 + "]" * 40 + "}"):
        await ws.send_str(text)
        error = await receive(ws, "error")
        assert error["code"] == "bad_json" and "nested deeper than 32" in error["message"]
    await ws.send_json({"type": "ping", "ref": "still"})
    assert (await receive(ws, "pong"))["ref"] == "still"
    for path in ("/api/companion/pair", "/api/rooms/demo/invitations"):
        response = await client.post(path, data="[" * 1000, headers=auth(mint("trainer")))
        body = await response.json()
        assert response.status == 400 and body["error"]["code"] == "bad_json", path
