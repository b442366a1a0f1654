"""Media end to end: two Chromium pages publish through the server and decode each other."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import pytest
from playwright.async_api import Page

from tests.browser.conftest import LiveServer, OpenPage
from tests.conftest import Mint

pytestmark = pytest.mark.browser

# Runs in a page of the service's origin: no UI, only protocol.js and media.js. Every
# remote video gets a <video> of its own; what arrived is kept on window.media.
JOIN = """
async ({ token, codecs, publish }) => {
  if (codecs) {
    const real = RTCRtpReceiver.getCapabilities.bind(RTCRtpReceiver);
    RTCRtpReceiver.getCapabilities = (kind) => {
      const caps = real(kind);
      if (kind !== "video") return caps;
      const kept = caps.codecs.filter((c) => codecs.includes(c.mimeType.split("/")[1]));
      return { ...caps, codecs: kept };
    };
  }
  const { ClassroomConnection } = await import("/static/protocol.js");
  const { MediaSession } = await import("/static/media.js");
  const connection = new ClassroomConnection(token);
  const media = new MediaSession(connection, { iceServers: [] });
  window.media = media;
  window.tracks = [];
  window.ended = [];
  media.addEventListener("track", ({ detail }) => {
    const { participant, source, kind } = detail;
    window.tracks.push({ participant, source, kind });
    if (detail.kind !== "video") return;
    const video = document.createElement("video");
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    video.dataset.participant = detail.participant;
    video.srcObject = detail.stream;
    document.body.append(video);
  });
  media.addEventListener("trackended", ({ detail }) => {
    window.ended.push(detail);
    if (detail.source !== "camera") return;
    document.querySelector(`video[data-participant="${detail.participant}"]`)?.remove();
    delete (window.seen || {})[detail.participant];
  });
  connection.connect();
  if (!publish) return;
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { width: 320, height: 240, frameRate: 15 }, audio: true,
  });
  await media.publish(stream);
}
"""

DECODED = """
(from) => {
  const video = document.querySelector(`video[data-participant="${from}"]`);
  if (!video || video.videoWidth === 0) return false;
  const frames = video.getVideoPlaybackQuality().totalVideoFrames;
  window.seen = window.seen || {};
  const before = window.seen[from];
  window.seen[from] = frames;
  return before !== undefined && frames > before;
}
"""

AUDIO_DECODED = """
async () => {
  const pc = window.media.subscriber;
  if (!pc) return 0;
  let samples = 0;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") samples += s.totalSamplesReceived || 0;
  });
  return samples;
}
"""

CODEC = """
async () => {
  const stats = await window.media.subscriber.getStats();
  const codecs = [];
  stats.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") codecs.push(stats.get(s.codecId).mimeType);
  });
  return codecs;
}
"""


@pytest.fixture
def codec_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every aiortc encoder or decoder the server builds (it must build none)."""
    calls: list[str] = []
    real_encoder = aiortc.rtcrtpsender.get_encoder
    real_decoder = aiortc.rtcrtpreceiver.get_decoder

    def encoder(codec: Any) -> Any:
        calls.append(f"encoder {codec.mimeType}")
        return real_encoder(codec)

    def decoder(codec: Any) -> Any:
        calls.append(f"decoder {codec.mimeType}")
        return real_decoder(codec)

    monkeypatch.setattr(aiortc.rtcrtpsender, "get_encoder", encoder)
    monkeypatch.setattr(aiortc.rtcrtpreceiver, "get_decoder", decoder)
    yield calls


async def join(
    open_page: OpenPage,
    server: LiveServer,
    token: str,
    codecs: list[str] | None,
    publish: bool = True,
) -> Page:
    page = await open_page(server.url + "/healthz")
    await page.evaluate(JOIN, {"token": token, "codecs": codecs, "publish": publish})
    return page


@pytest.mark.parametrize("codecs", [None, ["VP8"]], ids=["H264", "VP8"])
async def test_two_browsers_see_and_hear_each_other_through_the_server(
    live_server: LiveServer,
    open_page: OpenPage,
    mint: Mint,
    codec_calls: list[str],
    codecs: list[str] | None,
) -> None:
    from web.context import HUB

    ana = await join(open_page, live_server, mint("trainer", "Ana", sub="ana"), codecs)
    bojan = await join(open_page, live_server, mint("trainee", "Bojan", sub="bojan"), codecs)
    for page, other in ((ana, "bojan"), (bojan, "ana")):
        await page.wait_for_function(DECODED, arg=other, timeout=20_000, polling=300)
        await page.wait_for_function(f"({AUDIO_DECODED})().then((n) => n > 0)", timeout=20_000)
    expected = "video/VP8" if codecs else "video/H264"
    assert await ana.evaluate(CODEC) == [expected]
    assert await bojan.evaluate(CODEC) == [expected]
    tracks = await ana.evaluate("window.tracks")
    assert {(t["participant"], t["source"]) for t in tracks} == {
        ("bojan", "camera"),
        ("bojan", "microphone"),
    }
    router = live_server.app[HUB].rooms["demo"].media
    assert router.counters.packets_forwarded > 0
    assert router.counters.keyframe_requests_sent > 0
    assert codec_calls == []  # the server neither decoded nor encoded


async def test_media_comes_back_by_itself_after_the_websocket_reconnects(
    live_server: LiveServer, open_page: OpenPage, mint: Mint
) -> None:
    ana = await join(open_page, live_server, mint("trainer", "Ana", sub="ana"), ["VP8"])
    bojan = await join(open_page, live_server, mint("trainee", "Bojan", sub="bojan"), ["VP8"])
    await bojan.wait_for_function(DECODED, arg="ana", timeout=20_000, polling=300)
    from web.context import HUB

    # The server loses Ana's websocket (1011: an error, not a goodbye): her page reconnects.
    live_server.app[HUB].rooms["demo"].connections["ana"].close(1011, "trouble")
    await bojan.wait_for_function(
        "window.ended.some((t) => t.participant === 'ana' && t.source === 'camera')",
        timeout=20_000,
    )
    for page, other in ((bojan, "ana"), (ana, "bojan")):
        await page.wait_for_function(DECODED, arg=other, timeout=30_000, polling=300)
    tracks = await bojan.evaluate("window.tracks.filter((t) => t.participant === 'ana')")
    assert len([t for t in tracks if t["source"] == "camera"]) == 2  # before and after


async def test_an_observer_without_a_camera_sees_and_hears_the_trainer(
    live_server: LiveServer, open_page: OpenPage, mint: Mint
) -> None:
    # No getUserMedia: Chromium may hide its addresses behind mDNS names; the server
    # then learns the observer's address from its connectivity checks.
    observer = await join(open_page, live_server, mint("observer", "Olja", sub="o"), None, False)
    await join(open_page, live_server, mint("trainer", "Ana", sub="ana"), None)
    await observer.wait_for_function(DECODED, arg="ana", timeout=20_000, polling=300)
    await observer.wait_for_function(f"({AUDIO_DECODED})().then((n) => n > 0)", timeout=20_000)


async def test_h264_cameras_are_republished_for_a_browser_that_decodes_only_vp8(
    live_server: LiveServer, open_page: OpenPage, mint: Mint, codec_calls: list[str]
) -> None:
    from web.context import HUB

    ana = await join(open_page, live_server, mint("trainer", "Ana", sub="ana"), None)
    bojan = await join(open_page, live_server, mint("trainee", "Bojan", sub="bojan"), None)
    await bojan.wait_for_function(DECODED, arg="ana", timeout=20_000, polling=300)
    assert await bojan.evaluate(CODEC) == ["video/H264"]
    router = live_server.app[HUB].rooms["demo"].media

    def cameras() -> dict[str, str]:
        return {t.id: t.codec for t in router.published() if t.kind == "video"}

    assert cameras() == {"ana/camera": "h264", "bojan/camera": "h264"}
    # Cara's browser decodes VP8 only: both cameras move to new m-lines, in VP8.
    cara = await join(open_page, live_server, mint("observer", "Cara", sub="c"), ["VP8"], False)
    async with asyncio.timeout(30):
        while True:
            if cameras() == {"ana/camera": "vp8", "bojan/camera": "vp8"}:
                break
            await asyncio.sleep(0.1)
    for page, other in ((cara, "ana"), (cara, "bojan"), (bojan, "ana"), (ana, "bojan")):
        await page.wait_for_function(DECODED, arg=other, timeout=30_000, polling=300)
    assert await cara.evaluate(CODEC) == ["video/VP8", "video/VP8"]
    assert "video/VP8" in await bojan.evaluate(CODEC)
    for page in (ana, bojan):  # the old m-line is inactive, the track on the new one
        senders = await page.evaluate(
            "window.media.publisher.getTransceivers()"
            ".map((t) => [t.direction, t.sender.track?.kind])"
        )
        assert sorted(map(tuple, senders)) == [
            ("inactive", None),
            ("sendonly", "audio"),
            ("sendonly", "video"),
        ]
    assert codec_calls == []  # the server neither decoded nor encoded
