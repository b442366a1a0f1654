"""A network namespace behind a link the test shapes: bandwidth by ``tc tbf``, delay,
jitter and loss by a relay in user space (``tests.net.relay``; this kernel has no netem).

::

    host namespace                      test namespace (``ip netns``)
    server 10.250.X.Y+1 ── TUN ═ relay (Link down / Link up) ═ TUN ── 10.250.X.Y+2 Chromium
                   tbf on the host TUN's egress: the viewer's downlink

The host's TUN device is made here (in the host's namespace) and handed to the relay,
which runs inside the namespace and makes the other one there; both devices live as
long as the relay does. The host gains one point-to-point address on a device of its
own and its connected route, nothing else. Names are unique per run
(``clsnet-<pid>-<hex>``); closing deletes the namespace, and a run's start deletes the
namespaces of earlier runs whose process is gone (never anyone else's).
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from types import TracebackType

from tests.net.link import Impairment
from tests.net.relay import open_tun

ROOT = Path(__file__).resolve().parent.parent.parent
PREFIX = "clsnet"
CAP_NET_ADMIN = 12


def unavailable() -> str | None:
    """Why namespaces cannot be made here (None: they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root (run the tests as root)"
    status = Path("/proc/self/status").read_text()
    effective = int(re.search(r"^CapEff:\s*([0-9a-f]+)", status, re.M).group(1), 16)  # type: ignore[union-attr]
    if not effective >> CAP_NET_ADMIN & 1:
        return "network namespaces need CAP_NET_ADMIN"
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if missing or not Path("/dev/net/tun").exists():
        return f"missing {missing or '/dev/net/tun'}: scripts/setup.sh test installs iproute2"
    return None


def run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


def sweep() -> None:
    """Delete this harness's namespaces left by runs whose process is gone."""
    for line in run("ip", "netns", "list").splitlines():
        found = re.match(rf"({PREFIX}-(\d+)-[0-9a-f]+)\b", line)
        if found and not Path(f"/proc/{found.group(2)}").exists():
            subprocess.run(["ip", "netns", "del", found.group(1)], check=False)


def free_subnet() -> tuple[str, str]:
    """Two addresses of a /30 in 10.250.0.0/16 that no interface here uses."""
    taken = run("ip", "-o", "-4", "addr", "show")
    for _ in range(100):
        net = ipaddress.ip_network(f"10.250.{random.randrange(256)}.{4 * random.randrange(64)}/30")
        host, viewer = (str(a) for a in net.hosts())
        if f" {host}" not in taken and f" {viewer}" not in taken:
            return host, viewer
    raise RuntimeError("no free /30 in 10.250.0.0/16")


class Namespace:
    """``with Namespace() as ns:`` a namespace at ``ns.viewer_ip`` that reaches the host
    at ``ns.host_ip``; ``shape`` and ``impair`` set its link, ``exec`` runs in it."""

    def __init__(self, seed: int = 1) -> None:
        token = secrets.token_hex(3)
        self.name = f"{PREFIX}-{os.getpid()}-{token}"
        self.host_dev, self.ns_dev = f"cn{token}h", f"cn{token}v"
        self.seed = seed
        self.host_ip, self.viewer_ip = "", ""
        self.relay: subprocess.Popen[str] | None = None
        self.figures: dict[str, dict[str, int]] = {}  # what the relay did, once closed

    def __enter__(self) -> Namespace:
        sweep()
        self.host_ip, self.viewer_ip = free_subnet()
        run("ip", "netns", "add", self.name)
        try:
            self._link()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _link(self) -> None:
        self.exec("ip", "link", "set", "lo", "up")
        host_fd = open_tun(self.host_dev)
        try:
            self.relay = subprocess.Popen(
                [*self.prefix(), sys.executable, "-m", "tests.net.relay", str(host_fd),
                 self.ns_dev, str(self.seed)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, pass_fds=(host_fd,),
                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            )  # fmt: skip
            self._expect("ready")
        finally:
            os.close(host_fd)  # the relay holds it: the device goes when the relay does
        run("ip", "addr", "add", self.host_ip, "peer", f"{self.viewer_ip}/32", "dev", self.host_dev)
        run("ip", "link", "set", self.host_dev, "up")
        self.exec(
            "ip", "addr", "add", self.viewer_ip, "peer", f"{self.host_ip}/32", "dev", self.ns_dev
        )
        self.exec("ip", "link", "set", self.ns_dev, "up")

    def _expect(self, word: str) -> None:
        assert self.relay is not None and self.relay.stdout is not None
        line = self.relay.stdout.readline().strip()
        if line != word:
            raise RuntimeError(f"the relay said {line!r}, not {word!r}")

    def prefix(self) -> list[str]:
        """Put before a command to run it in the namespace."""
        return ["ip", "netns", "exec", self.name]

    def exec(self, *argv: str) -> str:
        return run(*self.prefix(), *argv)

    def shape(self, rate_bit_s: int | None, queue_s: float = 0.3) -> None:
        """Limit the viewer's downlink to ``rate_bit_s`` with a token bucket whose queue
        holds ``queue_s`` at that rate (None: no limit)."""
        if rate_bit_s is None:
            subprocess.run(
                ["tc", "qdisc", "del", "dev", self.host_dev, "root"], capture_output=True
            )
            return
        burst = max(3_000, rate_bit_s // 8 // 50)  # 20 ms of the rate, at least 2 packets
        latency = f"{int(queue_s * 1000)}ms"
        run("tc", "qdisc", "replace", "dev", self.host_dev, "root", "tbf",
            "rate", f"{rate_bit_s}bit", "burst", str(burst), "latency", latency)  # fmt: skip

    def impair(
        self, down: Impairment | None = None, up: Impairment | None = None
    ) -> dict[str, dict[str, int]]:
        """Delay, jitter and loss toward the viewer (``down``) and from it (``up``); what
        the relay did so far (``{"down": {"arrived": .., "lost": .., "sent": ..}, ...}``)."""
        assert self.relay is not None and self.relay.stdin is not None
        assert self.relay.stdout is not None
        given = {name: i.to_json() for name, i in (("down", down), ("up", up)) if i is not None}
        self.relay.stdin.write(json.dumps(given) + "\n")
        self.relay.stdin.flush()
        figures: dict[str, dict[str, int]] = json.loads(self.relay.stdout.readline())
        return figures

    def relayed(self) -> dict[str, dict[str, int]]:
        """What the relay did so far, in each direction."""
        return self.impair()

    def chromium(self, directory: Path, chromium: str) -> str:
        """An executable that starts ``chromium`` in the namespace (for Playwright)."""
        script = directory / f"chromium-{self.name}"
        script.write_text(f'#!/bin/sh\nexec {" ".join(self.prefix())} {chromium} "$@"\n')
        script.chmod(0o755)
        return str(script)

    def close(self) -> None:
        relay, self.relay = self.relay, None
        if relay is not None:
            try:
                out, _ = relay.communicate(timeout=10)  # end of stdin: it reports and exits
                self.figures = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
            except (subprocess.TimeoutExpired, ValueError):
                relay.kill()
                relay.wait()
        subprocess.run(["ip", "netns", "del", self.name], check=False, capture_output=True)
