"""The real server for tests: ``classroom serve`` in a process of its own, to kill and restart.

``ServerProcess.as_users_run_it(workdir)`` runs it the way ``make run`` does: from a
working directory of its own, with the default settings (``data_dir = "./data"``, a
relative path; no Redis; the token secret generated on first start), the only change
being a free port. Tests mint join links with the secret the server generated.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from classroom.identity import mint_token
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


class ServerProcess:
    """``classroom serve`` on its own port and data directory, with the given settings
    (``redis_url=""`` becomes ``CLASSROOM_REDIS_URL=``); ``start`` again after ``kill``.

    With ``data=None`` and a ``workdir``, the data directory is left to the defaults
    (``./data`` under ``workdir``). The server's output goes to ``log`` (a file beside
    the data), which a failing test can read."""

    def __init__(self, data: Path | None, workdir: Path | None = None, **settings: str) -> None:
        if data is None and workdir is None:
            raise ValueError("give a data directory, a working directory or both")
        self.workdir = workdir or ROOT
        self.data = data if data is not None else self.workdir / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = {"log_format": "text", **settings}
        self.set_data_dir = data is not None
        self.log = (workdir or self.data.parent) / f"server-{self.port}.log"
        self.process: asyncio.subprocess.Process | None = None

    @classmethod
    def as_users_run_it(cls, workdir: Path, **settings: str) -> ServerProcess:
        """The server as ``make run`` starts it: default settings, run from ``workdir``."""
        workdir.mkdir(parents=True, exist_ok=True)
        return cls(None, workdir=workdir, **settings)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/ws"

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSROOM_")}
        env["CLASSROOM_PORT"] = str(self.port)
        if self.set_data_dir:
            env["CLASSROOM_DATA_DIR"] = str(self.data)
        env.update({f"CLASSROOM_{key.upper()}": value for key, value in self.settings.items()})
        env["PYTHONPATH"] = str(ROOT)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "web.cli", "serve",
                cwd=self.workdir, env=env, stdout=log, stderr=log,
            )  # fmt: skip
        async with asyncio.timeout(30), aiohttp.ClientSession() as http:
            while True:
                if self.process.returncode is not None:
                    raise RuntimeError(f"classroom serve exited: {self.output()[-2000:]}")
                try:
                    async with http.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)

    def output(self) -> str:
        """What the server printed so far (its log lines)."""
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def secret(self) -> str:
        """The token secret: the configured one, else the one the server generated."""
        configured = self.settings.get("token_secret")
        if configured:
            return configured
        return (self.data / "token_secret").read_text().strip()

    def mint(self, role: str, name: str, room: str = "demo", **claims: Any) -> str:
        """A join token this server accepts, as ``classroom token`` would mint it."""
        return mint_token(
            room=room, role=role, name=name, now=int(time.time()), ttl_s=3600,
            signing_key=self.secret, algorithm="HS256", audience="classroom",
            issuer="classroom", **claims,
        )  # fmt: skip

    async def kill(self) -> None:
        """Die as in a power cut: SIGKILL, nothing cleaned up."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
