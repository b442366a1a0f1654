"""ICE configuration: no servers unless configured, the public address, loopback-only hosts."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import aioice.ice
import pytest
from aiortc import RTCPeerConnection

from media.codecs import Codec, choose_video_codec, codec_named, offered_video_codecs
from media.ice import (
    SOCKET_BUFFER_BYTES,
    announce_public_ip,
    browser_ice_servers,
    buffer_limit,
    gather_loopback_when_alone,
    larger_socket_buffers,
    rtc_configuration,
    warn_small_buffers,
    with_loopback,
)

SDP = "\r\n".join(
    [
        "v=0",
        "m=video 9 UDP/TLS/RTP/SAVPF 96",
        "a=candidate:1 1 udp 2130706431 10.0.0.5 40000 typ host",
        "a=candidate:2 1 udp 2130706431 fd00::5 40002 typ host",
        "a=candidate:3 1 udp 1694498815 198.51.100.9 40000 typ srflx raddr 10.0.0.5 rport 40000",
        "a=end-of-candidates",
        "",
    ]
)


def test_no_ice_server_unless_configured() -> None:
    assert rtc_configuration(()).iceServers == []
    servers = rtc_configuration(("stun:stun.example.org:3478", "turn:turn.example.org"), "u", "p")
    assert [(s.urls, s.username, s.credential) for s in servers.iceServers] == [
        ("stun:stun.example.org:3478", None, None),
        ("turn:turn.example.org", "u", "p"),
    ]
    assert browser_ice_servers(("turn:turn.example.org",), "u", "p") == [
        {"urls": "turn:turn.example.org", "username": "u", "credential": "p"}
    ]


def test_the_public_address_is_announced_beside_each_ipv4_host_candidate() -> None:
    announced = announce_public_ip(SDP, "203.0.113.7")
    lines = announced.split("\r\n")
    host = lines.index("a=candidate:1 1 udp 2130706431 10.0.0.5 40000 typ host")
    assert lines[host + 1] == "a=candidate:1p 1 udp 2130706430 203.0.113.7 40000 typ host"
    assert len(lines) == len(SDP.split("\r\n")) + 1  # not for IPv6 nor server-reflexive
    assert announce_public_ip(SDP, "") == SDP


def test_loopback_is_gathered_only_when_there_is_no_other_address() -> None:
    assert with_loopback([]) == ["127.0.0.1"]
    assert with_loopback(["fd00::2"]) == ["127.0.0.1", "fd00::2"]
    assert with_loopback(["192.0.2.2", "fd00::2"]) == ["192.0.2.2", "fd00::2"]
    gather_loopback_when_alone()
    gather_loopback_when_alone()  # idempotent
    found = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
    assert found and all(":" not in a for a in found)


async def test_a_server_connection_gathers_host_candidates_only() -> None:
    gather_loopback_when_alone()
    pc = RTCPeerConnection(rtc_configuration(()))
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    lines = pc.localDescription.sdp.split("\r\n")
    candidates = [line for line in lines if line.startswith("a=candidate")]
    assert candidates and all(" typ host" in line for line in candidates)
    await pc.close()


async def test_every_ice_socket_gets_a_buffer_for_a_busy_moment() -> None:
    """The kernel's default (about 208 KiB) overflows in a second of a busy event loop,
    and what it drops includes ICE checks (Firefox's consent checks go once each)."""
    larger_socket_buffers()
    larger_socket_buffers()  # idempotent
    pc = RTCPeerConnection(rtc_configuration(()))
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    connection = pc.getTransceivers()[0].receiver.transport.transport.iceGatherer._connection
    sockets = [p.transport.get_extra_info("socket") for p in connection._protocols]
    assert sockets
    cap = buffer_limit() or SOCKET_BUFFER_BYTES
    for sock in sockets:  # Linux reports twice what was set (its own bookkeeping)
        got = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        assert got >= 2 * min(SOCKET_BUFFER_BYTES, cap), got
    await pc.close()


def test_the_server_says_which_sysctl_lets_the_buffers_be_that_large(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "rmem_max").write_text("212992\n")
    with caplog.at_level(logging.WARNING, "classroom.media"):
        advice = warn_small_buffers(proc=tmp_path)
    assert advice == f"net.core.rmem_max={SOCKET_BUFFER_BYTES}"
    assert advice in caplog.text and "212992" in caplog.text
    caplog.clear()
    (tmp_path / "rmem_max").write_text(f"{SOCKET_BUFFER_BYTES}\n")
    assert warn_small_buffers(proc=tmp_path) is None
    assert warn_small_buffers(proc=tmp_path / "absent") is None  # not Linux: nothing said
    assert not caplog.text


def test_h264_only_when_every_viewer_decodes_it() -> None:
    offered = offered_video_codecs(
        [
            ("VP8", {}),
            ("H264", {"packetization-mode": "0", "profile-level-id": "42e01f"}),
            ("H264", {"packetization-mode": "1", "profile-level-id": "42e01f"}),
        ]
    )
    assert set(offered) == {"vp8", "h264"}  # SDP's names, spelled as media.tracks spells them
    assert offered["h264"].capability.parameters["profile-level-id"] == "42e01f"
    both, vp8 = frozenset({"vp8", "h264"}), frozenset({"vp8"})
    assert choose_video_codec(offered, [both, both]).name == "h264"
    assert choose_video_codec(offered, [both, vp8]).name == "vp8"
    assert choose_video_codec({"h264": offered["h264"]}, [vp8]).name == "h264"  # all it has
    assert isinstance(codec_named("opus"), Codec) and codec_named("opus").clock_rate == 48000
    assert (
        offered_video_codecs([("H264", {"packetization-mode": "1", "profile-level-id": "640c1f"})])
        == {}
    )
