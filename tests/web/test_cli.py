"""The console script: minting join links and serving."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import pytest

from classroom.identity import verify_token
from config import load_settings
from live.keys import load_token_keys
from web.cli import main


def test_token_prints_a_join_url_last_and_the_secret_is_generated_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLASSROOM_DATA_DIR", str(tmp_path))
    code = main(
        [
            "token",
            "--room",
            "module-3",
            "--role",
            "interpreter",
            "--name",
            "Arta",
            "--lang",
            "sq",
            "--ttl",
            "30m",
            "--base-url",
            "https://edu.example/",
        ]
    )
    out = capsys.readouterr()
    assert code == 0
    url = out.out.strip().splitlines()[-1]
    assert url.startswith("https://edu.example/join?token=")
    secret = (tmp_path / "token_secret").read_text().strip()
    assert (
        secret not in out.out + out.err
        and oct((tmp_path / "token_secret").stat().st_mode)[-3:] == "600"
    )
    keys = load_token_keys(load_settings(environ={"CLASSROOM_DATA_DIR": str(tmp_path)}))
    identity = verify_token(url.split("token=")[1], keys.policy, int(time.time()), room="module-3")
    assert (identity.name, identity.role.value, identity.lang) == ("Arta", "interpreter", "sq")
    assert 1790 <= identity.exp - identity.iat <= 1800


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--room", "bad room", "--role", "trainee", "--name", "x"], "invalid room"),
        (["--room", "r", "--role", "trainee", "--name", "x", "--ttl", "soon"], "not a duration"),
    ],
)
def test_token_refuses_bad_input(
    args: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLASSROOM_DATA_DIR", str(tmp_path))
    assert main(["token", *args]) == 2
    assert message in capsys.readouterr().err


def test_serve_answers_healthz(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "CLASSROOM_DATA_DIR": str(tmp_path), "CLASSROOM_LOG_FORMAT": "json"}
    server = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                    assert b'"status": "ok"' in response.read()
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
    finally:
        server.terminate()
        _, err = server.communicate(timeout=10)
    secret = (tmp_path / "token_secret").read_text().strip()
    assert secret not in err.decode()
