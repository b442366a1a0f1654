"""The relay between two TUN devices: the host's end and the test namespace's end.

Run inside the namespace (``ip netns exec NS python -m tests.net.relay HOST_FD DEV SEED``)
with the host's TUN device already open as ``HOST_FD`` (made by ``tests.net.netns`` in
the host's namespace): it makes the namespace's TUN device ``DEV``, prints ``ready``,
then moves every IP packet between the two through a ``Link`` per direction (``down``:
host to namespace, ``up``: back). Each line on stdin is a JSON object that sets
either direction's impairment (``{"down": {"loss": 0.05}}``; ``{}`` sets nothing),
answered with what each direction did so far, as JSON; so is the end of stdin, after
which it exits.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import struct
import sys
import time

from tests.net.link import Impairment, Link

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000


def open_tun(name: str) -> int:
    """Make (or attach to) TUN device ``name`` in this process's namespace; its fd."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def drain(fd: int, link: Link, now: float) -> None:
    while True:
        try:
            packet = os.read(fd, 65_535)
        except BlockingIOError:
            return
        link.put(packet, now)


def flush(fd: int, link: Link, now: float) -> None:
    for packet in link.due(now):
        with contextlib.suppress(OSError):  # the device is down or full: lost, as on a wire
            os.write(fd, packet)


def main(host_fd: int, device: str, seed: int) -> None:
    os.set_blocking(host_fd, False)
    ns_fd = open_tun(device)
    links = {"down": Link(Impairment(), seed), "up": Link(Impairment(), seed + 1)}
    print("ready", flush=True)
    control = sys.stdin.fileno()
    while True:
        now = time.monotonic()
        due = [d for d in (link.next_due() for link in links.values()) if d is not None]
        timeout = max(0.0, min(due) - now) if due else None
        readable, _, _ = select.select([host_fd, ns_fd, control], [], [], timeout)
        now = time.monotonic()
        if host_fd in readable:
            drain(host_fd, links["down"], now)
        if ns_fd in readable:
            drain(ns_fd, links["up"], now)
        if control in readable:
            line = sys.stdin.readline()
            if not line:
                break
            for direction, given in json.loads(line).items():
                links[direction].impairment = Impairment.from_json(given)
            print(json.dumps({name: link.figures() for name, link in links.items()}), flush=True)
        flush(ns_fd, links["down"], now)
        flush(host_fd, links["up"], now)
    print(json.dumps({name: link.figures() for name, link in links.items()}), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
