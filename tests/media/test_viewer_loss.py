"""Viewers' loss reaches the publisher: an audio outlet's receiver reports go to its track,
and the publisher's next receiver report carries the worst of them (capped), so that its
Opus encoder adds in-band FEC for the viewers' links."""

from __future__ import annotations

from aiortc import RTCPeerConnection
from aiortc.rtp import RtcpReceiverInfo, RtcpRrPacket

from media.codecs import codec_named
from media.forwarding import VIEWER_LOSS_CAP, Counters, Outlet
from media.passthrough import keep_encoded
from media.wire import IdleTrack, attach
from tests.media.test_forwarding import KEY, FakeWire, packet, published


def block(ssrc: int, fraction_lost: int) -> RtcpReceiverInfo:
    return RtcpReceiverInfo(ssrc, fraction_lost, 0, 0, 0, 0, 0)


async def test_the_worst_audio_loss_since_the_last_report_is_taken_once_and_capped() -> None:
    counters, asked = Counters(), []
    voice, camera = published("ana", counters, asked, "audio"), published("ana", counters, asked)
    outlets = [Outlet("audio", counters) for _ in range(3)] + [Outlet("video", counters)]
    for outlet in outlets:
        outlet.bind(camera if outlet.kind == "video" else voice)
        outlet.connect(FakeWire())
    voice.forward(1, 960, 1, b"opus", 0, b"opus")
    packet(camera, 1, 3000, KEY)
    for outlet, lost in zip(outlets, (5, 13, 0, 200), strict=True):
        outlet.viewer_reported(lost)
    assert voice.take_viewer_loss() == 13 and voice.take_viewer_loss() == 0
    assert camera.viewer_loss == 0  # video loss is not passed on
    outlets[0].viewer_reported(128)
    assert voice.take_viewer_loss() == VIEWER_LOSS_CAP
    waiting = Outlet("audio", counters)
    waiting.bind(voice)  # not connected: it sent nothing, it reports nothing
    waiting.viewer_reported(50)
    assert voice.take_viewer_loss() == 0


async def test_a_viewers_receiver_report_reaches_the_track_of_its_m_line_only() -> None:
    counters, asked = Counters(), []
    voice = published("ana", counters, asked, "audio")
    pc = RTCPeerConnection()
    try:
        sender = pc.addTransceiver(IdleTrack("audio"), direction="sendonly").sender
        outlet = Outlet("audio", counters)
        attach(sender, outlet, counters)
        outlet.bind(voice)
        outlet.connect(FakeWire())
        voice.forward(1, 960, 1, b"opus", 0, b"opus")
        report = RtcpRrPacket(ssrc=7, reports=[block(sender._ssrc, 20), block(12345, 90)])
        await sender._handle_rtcp_packet(report)
        assert voice.take_viewer_loss() == 20
    finally:
        await pc.close()


async def test_the_publishers_receiver_report_carries_the_viewers_loss_when_worse() -> None:
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("audio", direction="recvonly").receiver
        sent: list[RtcpRrPacket] = []

        async def capture(packet: RtcpRrPacket) -> None:
            sent.append(packet)

        receiver._send_rtcp = capture  # type: ignore[method-assign,assignment]
        losses = iter((20, 3))
        frames = keep_encoded(
            receiver, codec_named("opus"), lambda p: None, viewer_loss=lambda: next(losses)
        )
        frames.ssrc = 1111
        await receiver._send_rtcp(RtcpRrPacket(ssrc=1, reports=[block(1111, 5), block(2, 0)]))
        await receiver._send_rtcp(RtcpRrPacket(ssrc=1, reports=[block(1111, 5)]))
        assert [[r.fraction_lost for r in p.reports] for p in sent] == [[20, 0], [5]]
    finally:
        await pc.close()
