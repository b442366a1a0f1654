"""Servers under test as processes of their own: started, pinned to a core, and measured.

CPU is read from /proc/<pid>/stat (user + system time of every thread), memory
from /proc/<pid>/status (resident set), so what is measured is the server alone,
not the load generator beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp

from tests.bench.report import ROOT

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds the process (all its threads) has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class CpuMeter:
    """Cores used by a process between ``start()`` and ``stop()`` (1.0 = one core busy)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._cpu = self._wall = 0.0

    def start(self) -> None:
        self._cpu, self._wall = cpu_seconds(self.pid), time.monotonic()

    def stop(self) -> float:
        cpu, wall = cpu_seconds(self.pid), time.monotonic()
        return (cpu - self._cpu) / (wall - self._wall)


def pin_this_process(cores: Sequence[int]) -> None:
    """Run the load generator on other cores than the server (no-op where not possible)."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, set(cores) & os.sched_getaffinity(0) or os.sched_getaffinity(0))


class Server:
    """A server process on 127.0.0.1:port, optionally pinned to some cores."""

    def __init__(
        self,
        argv: Sequence[str],
        port: int,
        *,
        cores: Sequence[int] | None = None,
        env: dict[str, str] | None = None,
        log: Path | None = None,
    ) -> None:
        self.argv, self.port, self.cores = list(argv), port, cores
        self.env = {**os.environ, **(env or {})}
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def spawn(self) -> subprocess.Popen[bytes]:
        prefix = ["taskset", "-c", ",".join(map(str, self.cores))] if self.cores else []
        output = self.log.open("wb") if self.log else None
        try:
            return subprocess.Popen(
                [*prefix, *self.argv],
                cwd=ROOT,
                env=self.env,
                stdout=output or subprocess.DEVNULL,
                stderr=output or subprocess.DEVNULL,
            )
        finally:
            if output is not None:
                output.close()  # the child has its own copy

    async def start(self, health_path: str = "/healthz", timeout_s: float = 30.0) -> None:
        """Start the process and wait until it answers ``health_path``."""
        self.process = self.spawn()
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.argv} exited with {self.process.returncode}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(self.url + health_path) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.argv} did not answer {health_path} in {timeout_s} s")

    async def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        for _ in range(100):
            if self.process.poll() is not None:
                return
            await asyncio.sleep(0.05)
        self.process.kill()
        self.process.wait()


def classroom_server(
    port: int, data_dir: Path, secret: str, cores: Sequence[int] | None = None, **env: str
) -> Server:
    """This service (`classroom serve`) with its own data directory and token secret."""
    settings = {
        "CLASSROOM_DATA_DIR": str(data_dir),
        "CLASSROOM_TOKEN_SECRET": secret,
        "CLASSROOM_BASE_URL": f"http://127.0.0.1:{port}",
        "CLASSROOM_LOG_LEVEL": "WARNING",
        **env,
    }
    argv = [sys.executable, "-m", "web.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return Server(argv, port, cores=cores, env=settings, log=data_dir / "server.log")


def stock_relay(port: int, log: Path, cores: Sequence[int] | None = None) -> Server:
    argv = [sys.executable, "-m", "tests.bench.stock_relay", "--port", str(port)]
    return Server(argv, port, cores=cores, log=log)
