"""Pages, health, the JSON API and its errors, through aiohttp's test client."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import Mint

Client = TestClient[Any, Any]


async def test_healthz(client: Client) -> None:
    response = await client.get("/healthz")
    body = await response.json()
    assert response.status == 200 and body["status"] == "ok" and body["version"] and body["node"]


async def test_landing_page_shows_the_catalogue(client: Client) -> None:
    response = await client.get("/", headers={"Accept-Language": "sq,en;q=0.5"})
    html = await response.text()
    assert response.status == 200 and '<html lang="sq" dir="ltr">' in html
    # Module titles from the catalogue's Albanian translation.
    assert "Të drejtat e njeriut dhe migracioni" in html and "Modulet e trajnimit" in html


async def test_join_page_speaks_the_token_language_and_right_to_left(
    client: Client, mint: Mint
) -> None:
    response = await client.get("/join", params={"token": mint("trainee", "Amir", lang="ar")})
    html = await response.text()
    assert response.status == 200 and 'dir="rtl"' in html and "Amir" in html


async def test_join_with_a_bad_token_says_why(client: Client, mint: Mint) -> None:
    response = await client.get("/join", params={"token": mint(now=1, ttl_s=10)})
    assert response.status == 401 and "expired" in await response.text()


async def test_me(client: Client, mint: Mint) -> None:
    token = mint("trainer", "Tea", lang="mk")
    response = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    body = await response.json()
    assert (body["name"], body["role"], body["lang"], body["room"]) == (
        "Tea",
        "trainer",
        "mk",
        "demo",
    )
    assert "moderate" in body["permissions"]


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"now": 1, "ttl_s": 10}, "expired"),
        ({"audience": "other"}, "audience"),
        ({"issuer": "other"}, "issuer"),
        ({"key": "another-secret" * 4}, "signature"),
    ],
)
async def test_me_refuses_bad_tokens_with_401_and_a_reason(
    client: Client, mint: Mint, claims: dict[str, Any], reason: str
) -> None:
    response = await client.get("/api/me", headers={"Authorization": f"Bearer {mint(**claims)}"})
    body = await response.json()
    assert response.status == 401 and reason in body["error"]["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_unknown_api_paths_are_json_404(client: Client) -> None:
    response = await client.get("/api/nothing/here")
    assert response.status == 404 and (await response.json())["error"]["code"] == "not_found"
    response = await client.delete("/api/me")
    assert response.status == 405 and "error" in await response.json()


async def test_modules(client: Client, mint: Mint) -> None:
    response = await client.get("/api/modules", headers={"Authorization": f"Bearer {mint()}"})
    topics = (await response.json())["topics"]
    assert any(m["id"] == "m02-human-rights" for t in topics for m in t["modules"])


async def test_a_trainer_invites_into_their_own_room(client: Client, mint: Mint) -> None:
    auth = {"Authorization": f"Bearer {mint('trainer')}"}
    response = await client.post(
        "/api/rooms/demo/invitations",
        headers=auth,
        json={"role": "trainee", "name": "Lena", "lang": "sq", "ttl": "1h"},
    )
    assert response.status == 201
    token = (await response.json())["url"].split("token=")[1]
    me = await (await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert (me["name"], me["role"], me["lang"]) == ("Lena", "trainee", "sq")


@pytest.mark.parametrize(
    ("role", "room", "body", "status", "reason"),
    [
        ("trainer", "demo", b'{"role": "trainee", "name": ', 400, "malformed JSON"),
        (
            "trainer",
            "demo",
            b'{"role": "trainee", "role": "trainer", "name": "x"}',
            400,
            "duplicated key",
        ),
        ("trainer", "demo", b'{"role": "admin", "name": "x"}', 400, "unknown role"),
        ("trainer", "demo", b'{"role": "trainee", "name": "x", "extra": 1}', 400, "extra"),
        ("trainer", "demo", b'{"role": "trainee", "name": "x", "ttl": "90d"}', 400, "ttl"),
        ("trainer", "other", b'{"role": "trainee", "name": "x"}', 403, "own room"),
        ("trainee", "demo", b'{"role": "trainee", "name": "x"}', 403, "may not invite"),
    ],
)
async def test_bad_invitations_are_refused_clearly(
    client: Client, mint: Mint, role: str, room: str, body: bytes, status: int, reason: str
) -> None:
    response = await client.post(
        f"/api/rooms/{room}/invitations",
        data=body,
        headers={"Authorization": f"Bearer {mint(role)}", "Content-Type": "application/json"},
    )
    assert response.status == status
    assert reason in (await response.json())["error"]["message"]


async def test_logs_carry_no_token(
    client: Client, mint: Mint, caplog: pytest.LogCaptureFixture
) -> None:
    from web.logs import AccessLogger, JsonFormatter

    token = mint()
    caplog.set_level(logging.INFO)
    access = AccessLogger(logging.getLogger("aiohttp.access"), "")
    response = await client.get("/join", params={"token": token})

    class Req:
        method, path = "GET", "/join"

    access.log(Req(), response, 0.01)  # type: ignore[arg-type]
    logging.getLogger("classroom.test").info("got %s", token, extra={"url": f"/join?token={token}"})
    lines = [JsonFormatter().format(record) for record in caplog.records]
    assert lines and all(token not in line for line in lines)
    assert any('"path": "/join"' in line for line in lines)
