"""The load tool's camera in simulcast: three layers on one m-line, as Chromium sends them.

The receiving side is a plain aiortc peer connection on loopback, playing the server:
its answer is made to take the layers (``a=simulcast:recv``) or not, and what its DTLS
transport decrypts is read packet by packet (mid, rid, SSRC, keyframes, sender reports).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtcpPacket, RtcpSrPacket, RtpPacket, is_rtcp

from loadtest.clip import VIDEO_CLOCK, Clip, EncodedFrame, SimulcastClip, encode_simulcast
from loadtest.media import MediaClient
from loadtest.participant import Participant
from loadtest.simulcast import RTP_STREAM_ID, SimulcastSender, offer_simulcast, read_answer
from media.ice import gather_loopback_when_alone

RIDS = ("q", "h", "f")


@pytest.fixture(scope="module")
def camera() -> SimulcastClip:
    # One keyframe a loop (2 s): a keyframe that comes early was asked for.
    clip = encode_simulcast(bitrate=1_000_000, seconds=2.0, keyframe_every_s=2.0)
    assert [c.keyframes for c in clip.clips] == [(0,)] * 3
    return clip


def test_the_layers_are_a_quarter_a_half_and_the_full_size(camera: SimulcastClip) -> None:
    assert camera.rids == RIDS and camera.rate == 30 and camera.full is camera.clips[2]
    assert [len(c.frames) for c in camera.clips] == [60, 60, 60]
    for clip, bitrate in zip(camera.clips, (150_000, 500_000, 1_000_000), strict=True):
        assert 0.8 <= clip.bitrate / bitrate <= 1.2
    # a VP8 keyframe's header holds its size (RFC 6386 9.1)
    sizes = [int.from_bytes(c.frames[0].data[6:8], "little") & 0x3FFF for c in camera.clips]
    assert sizes == [160, 320, 640]


def test_layers_must_share_their_frame_timing() -> None:
    frames = (EncodedFrame(b"\x00", True),) * 4
    with pytest.raises(ValueError, match="frame rate"):
        SimulcastClip(
            (Clip("video", frames, 30.0, VIDEO_CLOCK), Clip("video", frames, 15.0, VIDEO_CLOCK)),
            ("a", "b"),
        )
    with pytest.raises(ValueError, match="rid"):
        SimulcastClip((Clip("video", frames, 30.0, VIDEO_CLOCK),), ("a", "b"))


OFFER = (
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=ssrc:1 cname:x\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 97 98\r\na=mid:1\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
    "a=ssrc-group:FID 5 6\r\na=ssrc:5 cname:x\r\na=ssrc:6 cname:x\r\n"
)


def test_the_offer_names_the_layers_and_no_ssrc() -> None:
    offer = offer_simulcast(OFFER, "1", RIDS)
    video = offer[offer.index("m=video") :].splitlines()
    assert not [line for line in video if line.startswith("a=ssrc")]
    assert "a=ssrc:1 cname:x" in offer  # the audio m-line keeps its own
    # the first id no m-line of the BUNDLE group uses, after the other extmaps
    assert video[3:5] == [
        "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        f"a=extmap:3 {RTP_STREAM_ID}",
    ]
    assert video[-4:] == ["a=rid:q send", "a=rid:h send", "a=rid:f send", "a=simulcast:send q;h;f"]
    # offered already (a server of this repo in the same process adds it to aiortc's):
    # kept as it is
    again = offer_simulcast(offer.replace("a=simulcast:send q;h;f\r\n", ""), "1", RIDS)
    assert again.count(RTP_STREAM_ID) == 1


def test_the_answer_says_which_layers_it_takes() -> None:
    answer = OFFER + f"a=extmap:3 {RTP_STREAM_ID}\r\na=simulcast:recv q;~h;f,x\r\n"
    answered = read_answer(answer, "1")
    assert answered.rids == ("q", "f") and answered.stream_ids
    assert [e.id for e in answered.extensions] == [1, 2, 3]
    plain = read_answer(OFFER, "1")
    assert plain.rids == () and not plain.stream_ids


@dataclasses.dataclass(frozen=True)
class Seen:
    """An RTP packet as the receiving side decrypted it."""

    at: float
    ssrc: int
    seq: int
    timestamp: int
    marker: int
    mid: str | None
    rid: str | None
    size: int
    keyframe: bool  # it starts a VP8 keyframe


class Wire:
    """What a DTLS transport receives: RTP read with the offer's header extensions (aiortc
    would not read the rid), kept from aiortc's receiver (which would decode one stream);
    RTCP read for its sender reports, then handled as usual."""

    def __init__(self, transport: RTCDtlsTransport, extensions: RTCRtpParameters) -> None:
        self.transport = transport
        self.map = HeaderExtensionsMap()
        self.map.configure(extensions)
        self.packets: list[Seen] = []
        self.reports: list[RtcpSrPacket] = []
        self.lost: set[tuple[int, int]] = set()  # (ssrc, seq) to drop
        self._losing = False
        handle_rtcp = transport._handle_rtcp_data

        async def rtp(data: bytes, arrival_time_ms: int) -> None:
            packet = RtpPacket.parse(data, self.map)
            descriptor, frame = VpxPayloadDescriptor.parse(packet.payload)
            starts = descriptor.partition_start and descriptor.partition_id == 0
            self.packets.append(
                Seen(
                    time.monotonic(),
                    packet.ssrc,
                    packet.sequence_number,
                    packet.timestamp,
                    packet.marker,
                    packet.extensions.mid,
                    packet.extensions.rtp_stream_id,
                    len(packet.payload),
                    bool(starts and not frame[0] & 1),
                )
            )

        async def rtcp(data: bytes) -> None:
            self.reports += [p for p in RtcpPacket.parse(data) if isinstance(p, RtcpSrPacket)]
            await handle_rtcp(data)

        transport._handle_rtp_data = rtp  # type: ignore[method-assign]
        transport._handle_rtcp_data = rtcp  # type: ignore[method-assign]

    def lose(self, ssrc: int, seq: int) -> None:
        """Drop that packet on arrival, before SRTP (whose replay check would drop it
        resent if it had been received)."""
        self.lost.add((ssrc, seq))
        ice = self.transport.transport
        receive = ice._recv  # set when ICE starts

        async def recv() -> bytes:
            while True:
                data = await receive()
                if data[:1] and data[0] >> 6 == 2 and not is_rtcp(data):  # SRTP
                    key = (int.from_bytes(data[8:12], "big"), int.from_bytes(data[2:4], "big"))
                    if key in self.lost:
                        self.lost.discard(key)
                        continue
                return data

        if not self._losing:
            self._losing = True
            ice._recv = recv

    def of(self, ssrc: int, since: float = 0.0, until: float = float("inf")) -> list[Seen]:
        return [p for p in self.packets if p.ssrc == ssrc and since <= p.at < until]

    def frames(self, ssrc: int) -> int:
        return sum(p.marker for p in self.of(ssrc))


class Server:
    """The server's side of ``publish``: a plain aiortc peer connection answers, its answer
    made to take the offer's simulcast layers when ``takes_layers``."""

    id = "publisher"

    def __init__(self, pc: RTCPeerConnection, takes_layers: bool) -> None:
        self.pc = pc
        self.takes_layers = takes_layers
        self.offer = ""
        self.wire: Wire | None = None

    def on(self, type_: str, handler: Callable[..., Any]) -> None:
        pass

    async def request(self, type_: str, reply: str, **fields: Any) -> dict[str, Any]:
        assert (type_, reply) == ("publish", "publish_answer")
        self.offer = fields["sdp"]
        await self.pc.setRemoteDescription(RTCSessionDescription(self.offer, "offer"))
        (transceiver,) = self.pc.getTransceivers()
        mid = transceiver.mid
        assert mid is not None
        offered = read_answer(self.offer, mid).extensions  # its extmaps
        self.wire = Wire(
            transceiver.receiver.transport, RTCRtpParameters(headerExtensions=list(offered))
        )
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        answer = self.pc.localDescription.sdp
        if self.takes_layers:  # what media.description.accept_simulcast adds, and the rid
            rids = re.search(r"a=simulcast:send (\S+)", self.offer)
            stream_id = re.search(rf"a=extmap:(\d+) {RTP_STREAM_ID}", self.offer)
            assert rids is not None and stream_id is not None
            layers = rids.group(1).split(";")
            answer += f"a=extmap:{stream_id.group(1)} {RTP_STREAM_ID}\r\n"
            answer += "".join(f"a=rid:{rid} recv\r\n" for rid in layers)
            answer += f"a=simulcast:recv {';'.join(layers)}\r\n"
        return {"sdp": answer}


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll a condition that sender and receiver tasks make true (no event to wait on)."""
    async with asyncio.timeout(seconds):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)


@pytest.fixture
async def connections() -> AsyncIterator[list[Any]]:
    """Whatever a test opens (clients, peer connections), closed afterwards."""
    gather_loopback_when_alone()
    opened: list[Any] = []
    yield opened
    for thing in reversed(opened):
        await thing.close()


async def publish(
    camera: SimulcastClip, connections: list[Any], takes_layers: bool
) -> tuple[SimulcastSender, Server, Wire]:
    viewer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    connections.append(viewer)
    server = Server(viewer, takes_layers)
    client = MediaClient(cast(Participant, server), camera)
    connections.append(client)
    await client.publish()
    sender = client.sent["camera"]
    assert isinstance(sender, SimulcastSender) and server.wire is not None
    return sender, server, server.wire


def capture_start(report: RtcpSrPacket, first_timestamp: int) -> float:
    """When a layer's first frame was captured, by a sender report of that layer."""
    ntp = report.sender_info.ntp_timestamp
    elapsed = (report.sender_info.rtp_timestamp - first_timestamp) % 2**32 / VIDEO_CLOCK
    return (ntp >> 32) + (ntp & 0xFFFFFFFF) / 2**32 - elapsed


async def test_three_layers_each_with_its_ssrc_rid_rate_keyframes_and_reports(
    camera: SimulcastClip, connections: list[Any]
) -> None:
    sender, server, wire = await publish(camera, connections, takes_layers=True)
    video = server.offer[server.offer.index("m=video") :]
    assert "a=simulcast:send q;h;f" in video and "a=ssrc" not in video

    await until(lambda: len(sender.layers) == 3 and all(wire.frames(s.ssrc) for s in sender.layers))
    layers = {layer.rid: layer for layer in sender.layers}
    assert list(layers) == list(RIDS) and [x.clip for x in sender.layers] == list(camera.clips)
    ssrcs = [layer.ssrc for layer in sender.layers]
    assert len(set(ssrcs)) == 3 and sender.sender._ssrc not in ssrcs

    # Two loops of the clips: each layer at its clip's rate, 30 frames a second.
    start = time.monotonic()
    await asyncio.sleep(4.0)
    end = time.monotonic()
    for layer in sender.layers:
        window = wire.of(layer.ssrc, start, end)
        bps = sum(p.size for p in window) * 8 / (end - start)
        assert 0.8 <= bps / layer.clip.bitrate <= 1.25, (layer, bps)
        assert 27 <= sum(p.marker for p in window) / (end - start) <= 33

    assert {p.ssrc for p in wire.packets} == set(ssrcs)
    for layer in sender.layers:
        seen = wire.of(layer.ssrc)
        # every packet says its m-line and layer; none lost, none out of order
        assert {(p.mid, p.rid) for p in seen} == {(sender.transceiver.mid, layer.rid)}
        assert [(p.seq - seen[0].seq) % 2**16 for p in seen] == list(range(len(seen)))
    # frame n of every layer has the same RTP time offset from its layer's first frame
    offsets = [
        [(p.timestamp - wire.of(s)[0].timestamp) % 2**32 for p in wire.of(s) if p.marker]
        for s in ssrcs
    ]
    frames = min(len(o) for o in offsets)
    assert offsets[0][:frames] == offsets[1][:frames] == offsets[2][:frames]
    assert offsets[0][:frames] == [3000 * n for n in range(frames)]

    # Sender reports of each layer (none of aiortc's own SSRC), all of one capture clock.
    reported = {r.ssrc for r in wire.reports}
    assert reported == set(ssrcs)
    starts = [capture_start(r, wire.of(r.ssrc)[0].timestamp) for r in wire.reports]
    assert max(starts) - min(starts) < 0.005

    # A picture loss of the middle layer: it (only) goes on from a keyframe at once.
    half = layers["h"]
    await until(lambda: 15 <= half.playhead.index <= 40)  # its keyframe is far away
    mark = len(wire.packets)
    (receiver,) = [t.receiver for t in server.pc.getTransceivers()]
    await receiver._send_rtcp_pli(half.ssrc)
    await until(lambda: any(p.keyframe for p in wire.packets[mark:] if p.ssrc == half.ssrc))
    assert [layer.keyframe_requests for layer in sender.layers] == [0, 1, 0]
    after = wire.packets[mark:]
    of_h = [p for p in after if p.ssrc == half.ssrc]
    first_keyframe = next(i for i, p in enumerate(of_h) if p.keyframe)
    assert sum(p.marker for p in of_h[:first_keyframe]) <= 2  # sent before the PLI came
    assert not [p for p in after if p.keyframe and p.ssrc != half.ssrc]

    # A lost packet of the full layer is sent again on its SSRC.
    full = layers["f"]
    seq = (wire.of(full.ssrc)[-1].seq + 20) % 2**16  # a few frames on
    wire.lose(full.ssrc, seq)
    await until(lambda: any(p.seq == (seq + 10) % 2**16 for p in wire.of(full.ssrc)))
    assert not [p for p in wire.of(full.ssrc) if p.seq == seq]
    await receiver._send_rtcp_nack(full.ssrc, [seq])
    await until(lambda: any(p.seq == seq for p in wire.of(full.ssrc)))
    (again,) = [p for p in wire.of(full.ssrc) if p.seq == seq]
    assert (again.ssrc, again.rid, again.mid) == (full.ssrc, "f", sender.transceiver.mid)


async def test_an_answer_without_simulcast_gets_the_full_size_clip_on_one_ssrc(
    camera: SimulcastClip, connections: list[Any]
) -> None:
    sender, _, wire = await publish(camera, connections, takes_layers=False)
    await until(lambda: len(sender.layers) == 1 and wire.frames(sender.layers[0].ssrc) > 0)
    (layer,) = sender.layers
    assert layer.clip is camera.full and layer.rid is None
    start = time.monotonic()
    await until(lambda: len(wire.reports) > 0, seconds=3.0)
    await asyncio.sleep(max(0.0, start + 2.0 - time.monotonic()))
    end = time.monotonic()
    assert {p.ssrc for p in wire.packets} == {layer.ssrc}
    assert {(p.mid, p.rid) for p in wire.packets} == {(sender.transceiver.mid, None)}
    bps = sum(p.size for p in wire.of(layer.ssrc, start, end)) * 8 / (end - start)
    assert 0.75 <= bps / camera.full.bitrate <= 1.3
    assert {r.ssrc for r in wire.reports} == {layer.ssrc}
    assert sender.frames_sent == layer.frames_sent > 0
