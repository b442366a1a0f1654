"""CPU per forwarded packet in a bare loop: the packet path alone, without an event loop,
network peers or a load generator, so that two versions of the code compare on a busy
machine (the best of five rounds of process CPU time)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

import pytest
from aiortc import RTCPeerConnection
from pylibsrtp import Policy, Session

from media.codecs import codec_named
from media.forwarding import Counters, Outlet, PublishedTrack
from media.tracks import TrackInfo
from media.wire import IdleTrack, Wire
from tests.bench import report

VIEWERS, PACKETS, ROUNDS = 100, 3000, 5
KEY, DELTA = b"\x10\x00\x9d\x01\x2a" + bytes(1100), b"\x10\x01" + bytes(1100)


@pytest.fixture
def sink() -> Iterator[socket.socket]:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    receiver.setblocking(False)
    yield receiver
    receiver.close()


def drain(sink: socket.socket) -> None:
    while True:
        try:
            sink.recv(2048)
        except BlockingIOError:
            return


async def test_cpu_per_forwarded_packet_in_a_bare_loop(sink: socket.socket) -> None:
    counters = Counters()
    info = TrackInfo("a/camera", "a", "camera", "video", "vp8", 90000)
    track = PublishedTrack(info, codec_named("VP8"), counters, lambda: None, 0.0)
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.setblocking(False)
    pc = RTCPeerConnection()
    try:
        for n in range(VIEWERS):
            sender = pc.addTransceiver(IdleTrack("video"), direction="sendonly").sender
            session = Session(Policy(key=os.urandom(30), ssrc_type=Policy.SSRC_ANY_OUTBOUND))
            outlet = Outlet("video", counters)
            outlet.bind(track)
            wire = Wire(out.sendto, sink.getsockname(), session, n + 1, 96, counters, sender)
            outlet.connect(wire)
        rounds = []
        for r in range(ROUNDS):
            start = time.process_time()
            for i in range(PACKETS):
                seq = r * PACKETS + i
                payload = KEY if seq == 0 else DELTA
                ts = 90_000 + 3000 * (seq // 4)
                track.forward(seq & 0xFFFF, ts, 1, payload, 0, payload[1:])
                if i % 200 == 0:
                    drain(sink)
            rounds.append((time.process_time() - start) / (PACKETS * VIEWERS) * 1e6)
    finally:
        out.close()
        await pc.close()
    best = min(rounds)
    print(f"{best:.2f} us per forwarded packet (rounds: {[round(x, 2) for x in rounds]})")
    assert counters.packets_forwarded == VIEWERS * PACKETS * ROUNDS
    report.write(
        report.Section(
            name="forwarding_loop",
            title="CPU per forwarded packet, the packet path alone",
            target="(to compare versions of the code)",
            result=f"{best:.2f} us per forwarded packet",
            met=None,
            body=(
                f"One published video track forwarded to {VIEWERS} outlets, each with its "
                "own wire (header, SRTP with libsrtp, `sendto` to one local socket, drained "
                f"every 200 packets), {PACKETS} packets of 1,100 bytes per round in a plain "
                "loop (no event loop, no peers): `PublishedTrack.forward`, `Outlet.send`, "
                "`Wire.send`. Process CPU time per forwarded packet, best of "
                f"{ROUNDS} rounds: **{best:.2f} us** (all rounds: "
                f"{', '.join(f'{x:.2f}' for x in rounds)})."
            ),
            command=(
                ".venv/bin/python -m pytest tests/bench/test_forwarding_loop.py "
                "-o addopts='' -p no:cacheprovider -s"
            ),
        )
    )
