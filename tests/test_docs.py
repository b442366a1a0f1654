"""The docs match the code: every websocket message and HTTP route is described."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from aiohttp import web

from config import load_settings
from web.api import OPENAPI_FILE

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = ROOT / "docs" / "protocol.md"


def documented(section: str) -> set[str]:
    text = PROTOCOL.read_text()
    part = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^### `([a-z_]+)`", part, flags=re.M))


def app(tmp_path: Path) -> web.Application:
    from web.app import create_app

    return create_app(load_settings(environ={}, data_dir=str(tmp_path), token_secret="s" * 40))


def test_every_client_message_is_documented(tmp_path: Path) -> None:
    from web.ws import DISPATCHER

    accepted = set(app(tmp_path)[DISPATCHER].routes)
    docs = documented("Client to server")
    assert accepted - docs == set(), "accepted but not in docs/protocol.md"
    assert docs - accepted == set(), "in docs/protocol.md but not accepted"


def server_message_types() -> set[str]:
    """Every event class of the core, plus the messages the web layer writes itself."""
    import classroom
    from live.hub import message_type

    types: set[str] = set()
    for path in Path(classroom.__file__).parent.glob("*.py"):
        module = __import__(f"classroom.{path.stem}", fromlist=["*"])
        base = getattr(module, "Event", None)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and dataclasses.is_dataclass(value)
                and base
                and issubclass(value, base)
                and value is not base
            ):
                types.add(message_type(value))
    for path in [*(ROOT / "web").rglob("*.py"), *(ROOT / "live").rglob("*.py")]:
        types |= set(re.findall(r'"type":\s*"([a-z_]+)"', path.read_text()))
    return types


def test_every_server_message_is_documented() -> None:
    sent = server_message_types()
    docs = documented("Server to client")
    assert {"welcome", "error", "participant_joined", "chat_posted"} <= sent
    assert sent - docs == set(), "sent but not in docs/protocol.md"


def test_every_route_is_in_the_openapi_document(tmp_path: Path) -> None:
    spec = json.loads(OPENAPI_FILE.read_text())
    routes = set()
    for resource in app(tmp_path).router.resources():
        path = resource.canonical
        if path.startswith("/static") or path.startswith("/vendor"):
            continue
        methods = {route.method for route in resource}
        for method in methods:
            if method != "HEAD" or "GET" not in methods:  # aiohttp adds HEAD to each GET
                routes.add((path, method.lower()))
    spec_routes = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert routes - spec_routes == set(), "served but not in web/openapi.json"
    assert spec_routes - routes == set(), "in web/openapi.json but not served"


def test_every_setting_is_in_the_readme() -> None:
    from config.settings import setting_names

    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    missing = [name for name in setting_names() if f"`{name}`" not in readme]
    assert not missing, f"settings missing from README.md: {missing}"


def test_every_session_field_is_documented() -> None:
    from classroom.session import Session

    text = PROTOCOL.read_text().split("### `session_changed`", 1)[1].split("\n### ", 1)[0]
    listed = set(re.findall(r"\w+", text.split("{", 2)[2].split("}", 1)[0]))
    assert {f.name for f in dataclasses.fields(Session)} == listed


def test_every_source_file_the_docs_name_exists() -> None:
    """README.md and docs/design.md name modules by path: each still stands there."""
    for doc in (ROOT / "README.md", ROOT / "docs" / "design.md"):
        named = set(
            re.findall(
                r"`((?:classroom|media|recordings|live|web|config)/\w+\.py)", doc.read_text()
            )
        )
        assert named, doc
        missing = sorted(p for p in named if not (ROOT / p).is_file())
        assert not missing, f"{doc.name} names files that do not exist: {missing}"


def test_every_feature_command_takes_the_one_command_path(tmp_path: Path) -> None:
    """As the docs say: the room's, interpretation's, and the polls' and quizzes' commands
    each have their machine on the hub (``LiveRoom.execute``)."""
    import typing

    from classroom import channel, poll, quiz
    from classroom import room as core
    from web.context import HUB

    hub = app(tmp_path)[HUB]
    for union in (core.Command, channel.Command, poll.Command, quiz.Command):
        kinds = typing.get_args(union) or (union,)
        assert all(kind in hub.machines for kind in kinds), union
