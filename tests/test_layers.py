"""Imports point one way: web -> live -> recordings -> media -> classroom; config imports no layer;
the load tool (a client) imports none of the server above media."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["classroom", "media", "recordings", "live", "web"]
# What each package may import from the project (besides itself).
ALLOWED = {
    "config": set(),
    "classroom": set(),
    "media": {"classroom", "config"},
    "recordings": {"media", "classroom", "config"},
    "web": {"live", "loadtest", "recordings", "media", "classroom", "config"},
    "live": {"recordings", "media", "classroom", "config"},
    # The load tool is a client of the server: it talks to it over the network and mints
    # tokens like any operator's tool; it imports none of the server (media: ICE on loopback).
    "loadtest": {"media", "classroom", "config"},
}
# Libraries that do I/O or need an event loop: the sans-I/O core must not import them.
CORE_FORBIDDEN = {"asyncio", "aiohttp", "aiortc", "redis", "socket", "subprocess", "ffmpeg", "os"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_one_way(package: str) -> None:
    project = set(ALLOWED)
    for path in (ROOT / package).rglob("*.py"):
        wrong = (imports(path) & project) - ALLOWED[package] - {package}
        assert not wrong, f"{path.relative_to(ROOT)} imports {wrong}"


def test_the_core_does_no_io_and_never_awaits() -> None:
    for path in (ROOT / "classroom").rglob("*.py"):
        wrong = imports(path) & CORE_FORBIDDEN
        assert not wrong, f"{path.relative_to(ROOT)} imports {wrong}"
        tree = ast.parse(path.read_text())
        if path.name == "ports.py":  # interface declarations only
            continue
        assert not any(isinstance(n, ast.Await | ast.AsyncFunctionDef) for n in ast.walk(tree)), (
            path
        )


def test_the_track_vocabulary_imports_no_webrtc_and_no_codec_library() -> None:
    """media.tracks is shared by media and recordings: plain Python, nothing of aiortc or PyAV."""
    code = "import sys, media.tracks; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "media.tracks" in loaded
    wrong = {m for m in loaded if m.split(".")[0] in {"aiortc", "av", "pylibsrtp", "aioice"}}
    assert not wrong, wrong


# Store key layouts of services that moved to live/: web/ names none of them.
SERVICE_KEYS = ("pairing:", "pairing-device:", "pairing-uses:", "companions:", "revoked-token:")


def test_web_holds_no_companion_or_revocation_service() -> None:
    """Pairing, companion tokens, unpairing and revoked tokens are services of live/;
    web/ keeps their routes and messages and reaches the store's keys through them."""
    for path in (ROOT / "web").rglob("*.py"):
        tree = ast.parse(path.read_text())
        constants = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
        literals = [c for c in constants if isinstance(c, str)]
        wrong = {k for k in SERVICE_KEYS for s in literals if s.startswith(k)}
        assert not wrong, f"{path.relative_to(ROOT)} names the store keys {wrong}"
    for module in ("companion", "revocation"):
        assert (ROOT / "live" / f"{module}.py").is_file()
