"""Where a server process spends its CPU: py-spy samples, folded by function and by area.

``py-spy record --format raw`` writes one line per distinct stack, the frames
outermost first separated by ``;``, then the number of samples. Idle threads are
not sampled, so the counts are CPU time.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pylibsrtp

from tests.bench import report

#: Areas of the forwarding path, by the file a frame is in (first match wins, innermost frame).
AREAS = (
    ("SRTP encryption (pylibsrtp)", ("pylibsrtp/",)),
    ("RTP packetizing (aiortc codecs)", ("aiortc/codecs/",)),
    ("RTP send loop (aiortc sender: headers, serialize, history)", ("aiortc/rtcrtpsender.py",)),
    ("RTP/RTCP parsing (aiortc rtp)", ("aiortc/rtp.py",)),
    ("receive and jitter (aiortc receiver)", ("aiortc/rtcrtpreceiver.py",)),
    ("DTLS transport (aiortc)", ("aiortc/rtcdtlstransport.py",)),
    ("ICE and UDP (aioice)", ("aioice/",)),
    ("this server's forwarding (media/)", ("media/",)),
    ("web layer (web/, aiohttp)", ("web/", "aiohttp/")),
    ("event loop and sockets (asyncio)", ("asyncio/", "selectors.py", "socket.py")),
)
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:()]*)(?::\d+)?\)$")


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise RuntimeError("py-spy is not installed (it is in the dev extras)")
    return found


async def record(pid: int, seconds: float, out: Path, rate: int = 250) -> Path:
    """Sample a running process for ``seconds`` (while the caller keeps the load on)."""
    process = await asyncio.create_subprocess_exec(
        py_spy(),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(round(seconds)),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--nonblocking",
        "-o",
        str(out),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, error = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"py-spy failed: {error.decode(errors='replace')[-500:]}")
    return out


def _frames(stack: str) -> list[tuple[str, str]]:
    frames = []
    for frame in stack.split(";"):
        match = FRAME.match(frame.strip())
        frames.append((match["function"], match["file"]) if match else (frame, ""))
    return frames


def fold(path: Path) -> tuple[int, collections.Counter[str], collections.Counter[str]]:
    """Samples in all, self samples per function, samples per area (innermost known area)."""
    total = 0
    functions: collections.Counter[str] = collections.Counter()
    areas: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _frames(stack)
        total += count
        function, file = frames[-1]
        functions[f"{function} ({file})"] += count
        areas[_area(frames)] += count
    return total, functions, areas


def _area(frames: list[tuple[str, str]]) -> str:
    for _, file in reversed(frames):
        for name, markers in AREAS:
            if any(marker in file for marker in markers):
                return name
    return "other"


def summary(path: Path, cores: float, packets_per_s: float, top: int = 12) -> str:
    """Markdown: CPU per area and the functions with the most self time, in us per packet."""
    total, functions, areas = fold(path)
    if not total:
        return "(no samples)\n"

    def per_packet(count: int) -> float:
        return cores * count / total / packets_per_s * 1e6 if packets_per_s else 0.0

    area_rows = [
        (name, f"{100 * count / total:.0f}%", per_packet(count))
        for name, count in areas.most_common()
    ]
    function_rows = [
        (name, f"{100 * count / total:.1f}%", per_packet(count))
        for name, count in functions.most_common(top)
    ]
    return (
        report.table(("area (innermost frame)", "share of CPU", "us per packet"), area_rows)
        + "\n"
        + report.table(("function (self time)", "share of CPU", "us per packet"), function_rows)
    )


def packet_floor(count: int = 50_000) -> dict[str, float]:
    """Microseconds of CPU per packet for what forwarding at the transport cannot avoid:
    rewriting an RTP header (sequence, timestamp, SSRC), SRTP-protecting it (libsrtp,
    AES-128 with an 80-bit tag, as WebRTC negotiates) and one ``sendto`` on loopback."""
    policy = pylibsrtp.Policy(
        key=os.urandom(30),
        ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    )
    session = pylibsrtp.Session(policy=policy)
    packet = bytearray(struct.pack("!BBHII", 0x80, 96, 0, 0, 0)) + os.urandom(1188)
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out,
    ):
        sink.bind(("127.0.0.1", 0))
        out.setblocking(False)
        address = sink.getsockname()
        started = time.process_time()
        for n in range(count):
            struct.pack_into("!HII", packet, 2, n & 0xFFFF, n * 3000 & 0xFFFFFFFF, 0x5EED)
            protected = session.protect(bytes(packet))
        protected_at = time.process_time()
        for _ in range(count):
            with contextlib.suppress(BlockingIOError):  # the sink never reads: may fill up
                out.sendto(protected, address)
        sent_at = time.process_time()
    return {
        "rewrite_and_srtp_us": (protected_at - started) / count * 1e6,
        "sendto_us": (sent_at - protected_at) / count * 1e6,
    }
