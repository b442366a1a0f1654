"""ICE for the server's peer connections: configured servers only, a public address, loopback.

- aiortc falls back to a public STUN server when given no configuration; the
  service passes ``iceServers=[]`` unless ``ice_servers`` is set.
- ``public_ip`` (1:1 NAT): every IPv4 host candidate in the descriptions the server
  sends is also announced at the public address with the same port.
- aioice never gathers 127.0.0.1; on a machine whose only IPv4 address is the
  loopback one there would be no candidate at all, so ``gather_loopback_when_alone``
  adds 127.0.0.1 in exactly that case (a machine with a network keeps its
  behaviour).
- Every ICE socket gets a receive buffer of ``SOCKET_BUFFER_BYTES``
  (``larger_socket_buffers``). One socket carries all of a participant's media and
  its ICE checks; with the kernel's default (208 KiB, about 0.1 s of a camera at
  full rate) a moment in which the event loop is busy (a join, a burst of answers)
  overflows it, and the kernel drops what comes next, ICE checks included. Firefox
  sends each consent check once; a few lost in a row and its connection reads
  ``disconnected``. The kernel caps the size at ``net.core.rmem_max``;
  ``buffer_limits`` says what it allows, and ``classroom serve`` warns at start-up
  when that is less (README, "Sizing").
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import aioice.ice
import aioice.turn
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer

LOOPBACK = "127.0.0.1"
#: Each ICE socket's receive buffer: about 2 s of six cameras at 2 Mbit/s.
SOCKET_BUFFER_BYTES = 4 * 1024 * 1024

log = logging.getLogger("classroom.media")


def rtc_configuration(
    ice_servers: Sequence[str], username: str = "", password: str = ""
) -> RTCConfiguration:
    """The server's configuration: the configured STUN/TURN servers, never a default.

    Everything on one transport (max-bundle): with aiortc's default (balanced), a
    second video m-line of the same offer stays on a transport that the answer's
    BUNDLE then stops, and never sends.
    """
    return RTCConfiguration(
        iceServers=ice_server_objects(ice_servers, username, password),
        bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
    )


def ice_server_objects(
    urls: Sequence[str], username: str = "", password: str = ""
) -> list[RTCIceServer]:
    servers = []
    for url in urls:
        if url.startswith(("turn:", "turns:")):
            servers.append(RTCIceServer(urls=url, username=username, credential=password))
        else:
            servers.append(RTCIceServer(urls=url))
    return servers


def browser_ice_servers(
    urls: Sequence[str], username: str = "", password: str = ""
) -> list[dict[str, str]]:
    """The same servers as ``RTCPeerConnection`` in a browser takes them."""
    servers = []
    for url in urls:
        entry = {"urls": url}
        if url.startswith(("turn:", "turns:")):
            entry |= {"username": username, "credential": password}
        servers.append(entry)
    return servers


def announce_public_ip(sdp: str, public_ip: str) -> str:
    """Add, after each IPv4 host candidate, the same candidate at ``public_ip``."""
    if not public_ip:
        return sdp
    address = ipaddress.ip_address(public_ip)
    lines = sdp.split("\r\n")
    out: list[str] = []
    for line in lines:
        out.append(line)
        if not line.startswith("a=candidate:"):
            continue
        parts = line[len("a=candidate:") :].split()
        # foundation component transport priority address port "typ" type ...
        if len(parts) < 8 or parts[6] != "typ" or parts[7] != "host":
            continue
        try:
            own = ipaddress.ip_address(parts[4])
        except ValueError:
            continue
        if own.version != address.version or own == address:
            continue
        parts[0] = parts[0] + "p"  # its own foundation
        parts[3] = str(max(int(parts[3]) - 1, 0))
        parts[4] = str(address)
        out.append("a=candidate:" + " ".join(parts))
    return "\r\n".join(out)


def with_loopback(addresses: list[str]) -> list[str]:
    """The host addresses to gather, with 127.0.0.1 when there is no other IPv4 one."""
    if any(ipaddress.ip_address(a).version == 4 for a in addresses):
        return addresses
    return [LOOPBACK, *addresses]


_original_get_host_addresses: Callable[[bool, bool], list[str]] | None = None


def gather_loopback_when_alone() -> None:
    """Let aioice gather 127.0.0.1 on a loopback-only machine (idempotent)."""
    global _original_get_host_addresses
    if _original_get_host_addresses is not None:
        return
    original = aioice.ice.get_host_addresses
    _original_get_host_addresses = original

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        found = original(use_ipv4, use_ipv6)
        return with_loopback(found) if use_ipv4 else found

    aioice.ice.get_host_addresses = get_host_addresses


def larger_socket_buffers(size: int = SOCKET_BUFFER_BYTES) -> None:
    """Give every socket aioice opens from now on a receive buffer of ``size`` bytes (as
    far as the kernel allows): aioice sets its own ``UDP_SOCKET_BUFFER_SIZE`` (256 KiB)
    on each host and TURN socket it opens. Idempotent."""
    aioice.turn.UDP_SOCKET_BUFFER_SIZE = max(size, aioice.turn.UDP_SOCKET_BUFFER_SIZE)


def buffer_limit(proc: Path = Path("/proc/sys/net/core")) -> int | None:
    """The kernel's cap on socket receive buffers (``rmem_max``), where it says."""
    try:
        return int((proc / "rmem_max").read_text().strip())
    except (OSError, ValueError):
        return None


def warn_small_buffers(
    size: int = SOCKET_BUFFER_BYTES, proc: Path = Path("/proc/sys/net/core")
) -> str | None:
    """Warn (and return the sysctl setting to make) when the kernel caps socket receive
    buffers below ``size``."""
    cap = buffer_limit(proc)
    if cap is None or cap >= size:
        return None
    advice = f"net.core.rmem_max={size}"
    log.warning(
        "the kernel caps UDP receive buffers at %d bytes: media may be dropped in a busy "
        "moment; set %s (sysctl -w, or a file in /etc/sysctl.d)",
        cap,
        advice,
    )
    return advice
