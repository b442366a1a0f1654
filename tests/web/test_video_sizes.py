"""``video_sizes``: how tall a page shows each video reaches the room's router; bad input
is refused with an error and the connection stays up."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from media.router import MediaRouter
from tests.conftest import Mint
from tests.web.test_media_handlers import WS, connect, receive

Client = TestClient[Any, Any]


Calls = list[tuple[str, dict[str, int]]]


def spy_on(router: MediaRouter, monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Record every ``view_sizes`` call of the router (and still make it)."""
    calls: Calls = []
    real = router.view_sizes

    def view_sizes(pid: str, heights: Any) -> None:
        calls.append((pid, dict(heights)))
        real(pid, heights)

    monkeypatch.setattr(router, "view_sizes", view_sizes)
    return calls


async def handled(ws: WS, ref: str) -> None:
    """Every message sent before this one has been handled (one connection's messages
    are handled in order)."""
    await ws.send_json({"type": "ping", "ref": ref})
    await receive(ws, "pong", ref=ref)


async def ready(client: Client, mint: Mint, sub: str) -> tuple[WS, MediaRouter]:
    from web.context import HUB

    ws = await connect(client, mint("trainee", sub=sub))
    await ws.send_json({"type": "media_ready", "codecs": ["VP8"]})
    await receive(ws, "media_config")
    router = client.app[HUB].rooms["demo"].media
    assert router is not None
    return ws, router


async def test_sizes_reach_the_router_for_the_sender(
    client: Client, mint: Mint, monkeypatch: pytest.MonkeyPatch
) -> None:
    await connect(client, mint("trainer", sub="t"))
    ws, router = await ready(client, mint, "a")
    calls = spy_on(router, monkeypatch)
    heights = {"t/camera": 1080, "t/screen": 0, "p-1.x@y z/signing": 8192, "b/camera": 240}
    await ws.send_json({"type": "video_sizes", "heights": heights, "ref": "v1"})
    await handled(ws, "after")
    assert calls == [("a", heights)]
    assert router._view_heights["a"] == heights
    # Each message replaces the last; an empty one says nothing is shown.
    await ws.send_json({"type": "video_sizes", "heights": {}})
    await handled(ws, "again")
    assert calls[-1] == ("a", {})


async def test_sizes_before_the_room_has_media_are_ignored(client: Client, mint: Mint) -> None:
    from web.context import HUB

    ws = await connect(client, mint("trainee", sub="a"))
    await ws.send_json({"type": "video_sizes", "heights": {"t/camera": 720}, "ref": "v"})
    await ws.send_json({"type": "ping", "ref": "after"})
    answer = await receive(ws, "pong", ref="after")  # no error came before it
    assert answer["ref"] == "after"
    assert client.app[HUB].rooms["demo"].media is None


async def test_only_the_page_that_owns_the_media_sizes_it(
    client: Client, mint: Mint, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = mint("trainee", sub="a")
    ws, router = await ready(client, mint, "b")
    calls = spy_on(router, monkeypatch)
    side = await client.ws_connect("/ws", params={"token": token, "page": "side"})
    await receive(side, "welcome")
    await side.send_json({"type": "video_sizes", "heights": {"t/camera": 1}, "ref": "s"})
    error = await receive(side, "error", ref="s")
    assert error["code"] == "invalid_state"
    # b's page owns b's media; a's classroom page, without media_ready, owns none.
    page = await connect(client, token)
    await page.send_json({"type": "video_sizes", "heights": {"t/camera": 1}})
    await handled(page, "p")
    await ws.send_json({"type": "video_sizes", "heights": {"t/camera": 2}})
    await handled(ws, "w")
    assert calls == [("b", {"t/camera": 2})]


TOO_MANY = {f"p{n}/camera": 100 for n in range(65)}


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"heights": TOO_MANY}, "heights"),
        ({"heights": {"t/camera": -1}}, "heights"),
        ({"heights": {"t/camera": 8193}}, "heights"),
        ({"heights": {"t/camera": 10**12}}, "heights"),
        ({"heights": {"t/camera": 480.5}}, "heights"),
        ({"heights": {"t/camera": "480"}}, "heights"),
        ({"heights": {"t/camera": True}}, "heights"),
        ({"heights": {"t/camera": None}}, "heights"),
        ({"heights": {"camera": 480}}, "heights"),
        ({"heights": {"/camera": 480}}, "heights"),
        ({"heights": {"t/microphone": 480}}, "heights"),
        ({"heights": {"t/camera/x": 480}}, "heights"),
        ({"heights": {"t\n/camera": 480}}, "heights"),
        ({"heights": {"x" * 201 + "/camera": 480}}, "heights"),
        ({"heights": [["t/camera", 480]]}, "heights"),
        ({"heights": "t/camera=480"}, "heights"),
        ({}, "heights"),
        ({"heights": {}, "width": 3}, "width"),
    ],
)
async def test_bad_sizes_get_an_error_and_the_connection_stays(
    client: Client,
    mint: Mint,
    monkeypatch: pytest.MonkeyPatch,
    fields: dict[str, Any],
    fragment: str,
) -> None:
    ws, router = await ready(client, mint, "a")
    calls = spy_on(router, monkeypatch)
    await ws.send_json({"type": "video_sizes", **fields, "ref": "bad"})
    error = await receive(ws, "error", ref="bad")
    assert error["code"] == "bad_message"
    assert "video_sizes" in error["message"] and fragment in error["message"]
    await handled(ws, "alive")
    assert calls == []
    await ws.send_json({"type": "video_sizes", "heights": {"t/camera": 360}})
    await handled(ws, "still")
    assert calls == [("a", {"t/camera": 360})]
