"""Refused links say why by a code, and pages say it in the person's language: the join
page for an expired, future, forged or withdrawn link, and the API's 401 replies."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tests.conftest import Mint
from tests.web.test_ws import Client

LOCALES = Path(__file__).resolve().parents[2] / "web" / "static" / "locales"
LANGUAGES = ["en", "sr-Latn", "mk", "sq", "ar"]
REASONS = ["expired", "not_yet_valid", "wrong_room", "withdrawn", "invalid"]


def strings(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((LOCALES / f"{lang}.json").read_text("utf-8"))
    return data


def alert(html: str) -> tuple[str, str]:
    """The refused page's reason: its code and the sentence shown."""
    found = re.search(r'<p role="alert" data-reason="(\w+)">([^<]*)</p>', html)
    assert found, html
    return found.group(1), found.group(2)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_reason_is_translated(lang: str) -> None:
    for reason in REASONS:
        assert strings(lang).get(f"refused.reason.{reason}"), (lang, reason)


async def test_an_expired_link_says_so_in_the_language_it_names(client: Client, mint: Mint) -> None:
    token = mint("trainee", "Ana", lang="mk", now=int(time.time()) - 7200, ttl_s=60)
    response = await client.get("/join", params={"token": token})
    assert response.status == 401
    html = await response.text()
    assert '<html lang="mk" dir="ltr">' in html
    assert alert(html) == ("expired", strings("mk")["refused.reason.expired"])
    # ?lang= comes first; Arabic is laid out right to left.
    response = await client.get("/join", params={"token": token, "lang": "ar"})
    html = await response.text()
    assert '<html lang="ar" dir="rtl">' in html
    assert alert(html) == ("expired", strings("ar")["refused.reason.expired"])


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"now": int(time.time()) + 3600}, "not_yet_valid"),  # issued in the future
        ({"key": "not the server's secret" * 2}, "invalid"),
    ],
)
async def test_links_refused_for_other_reasons(
    client: Client, mint: Mint, claims: dict[str, object], reason: str
) -> None:
    token = mint("trainee", "Ana", **claims)
    headers = {"Accept-Language": "sq-AL,sq;q=0.9,en;q=0.5"}  # the browser's language
    response = await client.get("/join", params={"token": token}, headers=headers)
    assert response.status == 401
    assert alert(await response.text()) == (reason, strings("sq")[f"refused.reason.{reason}"])


async def test_a_withdrawn_link_is_refused_at_the_join_page(client: Client, mint: Mint) -> None:
    trainer = mint("trainer", "Tea", sub="t")
    invited = await client.post(
        "/api/rooms/demo/invitations",
        json={"role": "trainee", "name": "Ana"},
        headers={"Authorization": f"Bearer {trainer}"},
    )
    token = (await invited.json())["token"]
    withdrawn = await client.post(
        "/api/rooms/demo/revocations",
        json={"token": token},
        headers={"Authorization": f"Bearer {trainer}"},
    )
    assert withdrawn.status < 300, await withdrawn.text()
    response = await client.get("/join", params={"token": token, "lang": "sr-Latn"})
    assert alert(await response.text()) == (
        "withdrawn",
        strings("sr-Latn")["refused.reason.withdrawn"],
    )


async def test_the_api_says_why_a_token_is_refused(client: Client, mint: Mint) -> None:
    expired = mint("trainee", "Ana", now=int(time.time()) - 7200, ttl_s=60)
    response = await client.get("/api/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status == 401
    error = (await response.json())["error"]
    assert (error["code"], error["reason"]) == ("unauthorized", "expired")
    response = await client.get("/api/me", headers={"Authorization": "Bearer x.y.z"})
    assert (await response.json())["error"]["reason"] == "invalid"
