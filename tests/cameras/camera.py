"""The RTSP camera of the tests: ``rtsp_server.py`` run by Debian's python3, on a port of
the test's choosing, killed and started again on the same port."""

from __future__ import annotations

import asyncio
import shutil
import signal
from pathlib import Path

from tests.conftest import free_port

SERVER = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"


class RtspCamera:
    """A gst-rtsp-server serving ``/camera`` on 127.0.0.1 (``extra``: its options)."""

    def __init__(self, *extra: str) -> None:
        self.port = free_port()
        self.extra = extra
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/camera"

    async def start(self) -> None:
        if not shutil.which(SYSTEM_PYTHON):
            raise RuntimeError("Debian's python3 with GObject introspection is needed")
        self.process = await asyncio.create_subprocess_exec(
            SYSTEM_PYTHON, str(SERVER), str(self.port), *self.extra,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self.process.stdout is not None and self.process.stderr is not None
        async with asyncio.timeout(20):
            line = await self.process.stdout.readline()
        if line.strip() != b"ready":
            error = await self.process.stderr.read()
            raise RuntimeError(
                "the RTSP server did not start (`make test` installs GStreamer's RTSP server):"
                f" {error.decode(errors='replace')}"
            )

    async def kill(self) -> None:
        """The camera dies (a power cut): its connections drop at once."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()
