"""Simulcast in real Chromium against ``classroom serve`` run as users run it: a camera is
offered in three layers (q, h, f), a re-published camera too, and a viewer's page tells
the server how tall it shows each video (``video_sizes``) in device pixels."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import pytest
from playwright.async_api import Browser, Page, WebSocket, expect

from tests.browser.conftest import LaunchBrowser
from tests.browser.participants import join
from tests.browser.test_classroom_media import WAIT_MS, decoding
from tests.browser.test_trainer_and_room import Served, served  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

# The publish connection's camera: its m-lines' simulcast lines (offer and answer), its
# sender's encodings and what each layer sent so far.
CAMERA = """
async () => {
  const media = window.classroom.media;
  const pc = media.publisher;
  const transceiver = media.sending.get("camera");
  if (!pc || !transceiver || !pc.remoteDescription) return null;
  const section = (sdp) => {
    const mid = `\\r\\na=mid:${transceiver.mid}\\r\\n`;
    const part = sdp.split(/\\r\\n(?=m=)/).find((p) => p.includes(mid));
    return (part || "").split("\\r\\n").filter((l) => /^a=(simulcast|rid):/.test(l));
  };
  const layers = {};
  (await pc.getStats()).forEach((s) => {
    if (s.type === "outbound-rtp" && s.kind === "video" && s.mid === transceiver.mid) {
      layers[s.rid || ""] = { bytes: s.bytesSent || 0, height: s.frameHeight || 0 };
    }
  });
  const track = transceiver.sender.track;
  return {
    offer: section(pc.localDescription.sdp),
    answer: section(pc.remoteDescription.sdp),
    encodings: transceiver.sender.getParameters().encodings,
    layers,
    camera_height: track ? track.getSettings().height : 0,
    others: pc.getTransceivers().filter((t) => t !== transceiver && t.direction !== "inactive")
      .map((t) => t.sender.getParameters().encodings.length),
  };
}
"""

# Keep only VP8 among the codecs this browser says it decodes (before the page loads).
VP8_ONLY = """
(() => {
  const real = RTCRtpReceiver.getCapabilities.bind(RTCRtpReceiver);
  RTCRtpReceiver.getCapabilities = (kind) => {
    const caps = real(kind);
    if (kind !== "video") return caps;
    return { ...caps, codecs: caps.codecs.filter((c) => !/H264|VP9|AV1|H265/.test(c.mimeType)) };
  };
})();
"""

# How tall the page shows the tile's video of a participant's camera, in device pixels.
TILE_HEIGHT = """
(id) => {
  const tile = `.tile[data-participant="${id}"][data-source="camera"]`;
  const video = document.querySelector(`${tile} video`);
  if (!video) return null;
  const box = video.getBoundingClientRect();
  let height = box.height;
  if (getComputedStyle(video).objectFit === "contain" && video.videoWidth && video.videoHeight) {
    height = Math.min(height, box.width * video.videoHeight / video.videoWidth);
  }
  return Math.round(height * devicePixelRatio);
}
"""


async def camera(page: Page) -> dict[str, Any]:
    """The camera's state once the publish connection has its answer."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while (state := await page.evaluate(CAMERA)) is None:
        assert time.monotonic() < deadline, "the camera was never published"
        await asyncio.sleep(0.2)
    result: dict[str, Any] = state
    return result


async def assert_layered(page: Page) -> None:
    """The camera is offered in the layers its size allows (Chromium's fake camera, 640x480:
    the half and the full picture); those the answer takes are all sent."""
    state = await camera(page)
    assert state["camera_height"] == 480, state
    assert "a=simulcast:send h;f" in state["offer"], state
    assert {"a=rid:h send", "a=rid:f send"} <= set(state["offer"]), state
    assert state["others"] and all(n == 1 for n in state["others"]), state  # the microphone
    if any(line.startswith("a=simulcast:recv") for line in state["answer"]):
        assert [e.get("rid") for e in state["encodings"]] == ["h", "f"], state
        deadline = time.monotonic() + WAIT_MS / 1000
        while {rid: layer["height"] for rid, layer in state["layers"].items()} != {
            "h": 240,
            "f": 480,
        }:
            assert time.monotonic() < deadline, f"not every layer is sent: {state}"
            await asyncio.sleep(0.5)
            state = await camera(page)
        return
    # Not taken (the server answers one layer): the first is kept, sent whole.
    assert len(state["encodings"]) == 1, state
    only = state["encodings"][0]
    assert only["rid"] == "h" and only.get("scaleResolutionDownBy", 1) == 1, state
    assert "maxBitrate" not in only, state
    deadline = time.monotonic() + WAIT_MS / 1000
    while state["layers"].get("h", {}).get("height", 0) != state["camera_height"]:
        assert time.monotonic() < deadline, f"the one layer is not the whole camera: {state}"
        await asyncio.sleep(0.5)
        state = await camera(page)


async def test_cameras_are_offered_in_three_layers_and_again_when_republished(
    served: Served,  # noqa: F811 (the fixture imported above)
    launch_browser: LaunchBrowser,
) -> None:
    browser = await launch_browser()
    tea = await join(browser, served, served.mint("trainer", "Tea", sub="tea"))  # type: ignore[arg-type]
    besa = await join(browser, served, served.mint("trainee", "Besa", sub="besa"))  # type: ignore[arg-type]
    await decoding(besa, "tea")
    await decoding(tea, "besa")
    for page in (tea, besa):
        await assert_layered(page)
    first_mid = await tea.evaluate("window.classroom.media.sending.get('camera').mid")

    # A viewer that decodes VP8 only: the H.264 cameras are published again on new
    # m-lines, in the same three layers.
    context = await browser.new_context()
    await context.add_init_script(VP8_ONLY)
    cara = await context.new_page()
    await cara.goto(served.join_url(served.mint("trainee", "Cara", sub="cara")))
    await cara.locator("#join-button").click()
    await expect(cara.locator("#classroom")).to_have_attribute(
        "data-phase", "room", timeout=WAIT_MS
    )
    await tea.wait_for_function(
        # While republishing, the camera is briefly in no transceiver at all.
        "(mid) => { const t = window.classroom.media.sending.get('camera');"
        " return !!t && !!t.mid && t.mid !== mid; }",
        arg=first_mid,
        timeout=WAIT_MS,
    )
    await decoding(cara, "tea")
    await assert_layered(tea)
    await decoding(besa, "tea")


class Sizes:
    """The ``video_sizes`` messages a page sends, with when they were sent."""

    def __init__(self, page: Page) -> None:
        self.sent: list[tuple[float, dict[str, int]]] = []
        page.on("websocket", self.watch)

    def watch(self, ws: WebSocket) -> None:
        def sent(payload: str | bytes) -> None:
            message = json.loads(payload)
            if message.get("type") == "video_sizes":
                self.sent.append((time.monotonic(), message["heights"]))

        ws.on("framesent", sent)

    async def until(self, page: Page, check: Any, what: str) -> dict[str, int]:
        """The first message (from the latest on back... no: the newest) that passes."""
        deadline = time.monotonic() + WAIT_MS / 1000
        while True:
            if self.sent and check(self.sent[-1][1]):
                return self.sent[-1][1]
            assert time.monotonic() < deadline, f"never sent {what}: {self.sent[-5:]}"
            await asyncio.sleep(0.2)


async def tile_height(page: Page, pid: str) -> int:
    height: int = await page.evaluate(TILE_HEIGHT, pid)
    return height


async def enter_kiosk(browser: Browser, server: Served, token: str) -> tuple[Page, Sizes]:
    """A 3840x2160 screen at devicePixelRatio 2 (1920x1080 CSS pixels), watched from the
    start."""
    context = await browser.new_context(
        viewport={"width": 1920, "height": 1080}, device_scale_factor=2
    )
    page = await context.new_page()
    sizes = Sizes(page)
    await page.goto(server.join_url(token))
    await page.locator("#join-button").click()
    await expect(page.locator("#classroom")).to_have_attribute(
        "data-phase", "room", timeout=WAIT_MS
    )
    return page, sizes


async def test_a_viewer_tells_how_tall_it_shows_each_video(
    served: Served,  # noqa: F811 (the fixture imported above)
    launch_browser: LaunchBrowser,
) -> None:
    browser = await launch_browser()
    tea = await join(browser, served, served.mint("trainer", "Tea", sub="tea"))  # type: ignore[arg-type]
    besa, sizes = await enter_kiosk(browser, served, served.mint("trainee", "Besa", sub="besa"))
    await decoding(besa, "tea")
    assert await besa.evaluate("devicePixelRatio") == 2

    # The trainer's camera is on the stage: its height in device pixels, not CSS pixels.
    def near(expected: int) -> Any:
        return lambda heights: abs(heights.get("tea/camera", -1) - expected) <= 2

    big = await tile_height(besa, "tea")
    assert big > 600  # the stage of a 1080-CSS-pixel page at twice the density
    await sizes.until(besa, near(big), f"tea/camera at {big}")

    # A smaller window: a smaller stage, told again.
    await besa.set_viewport_size({"width": 960, "height": 540})
    await besa.wait_for_function(f"({TILE_HEIGHT})('tea') < {big * 0.8}", timeout=WAIT_MS)
    await asyncio.sleep(1)  # let the layout settle
    small = await tile_height(besa, "tea")
    assert small < big * 0.8
    await sizes.until(besa, near(small), f"tea/camera at {small}")

    # The tile hidden: 0.
    await besa.evaluate(
        """document.querySelector('.tile[data-participant="tea"][data-source="camera"]')
        .style.display = "none";"""
    )
    await sizes.until(besa, lambda h: h.get("tea/camera") == 0, "tea/camera at 0")
    # Shown again: told again.
    await besa.evaluate(
        """document.querySelector('.tile[data-participant="tea"][data-source="camera"]')
        .style.display = "";"""
    )
    await sizes.until(besa, near(small), f"tea/camera at {small} again")

    # Never a message per frame: nothing while nothing changes, never two within 500 ms.
    count = len(sizes.sent)
    await asyncio.sleep(4)
    assert len(sizes.sent) == count
    times = [at for at, _ in sizes.sent]
    assert all(b - a > 0.4 for a, b in itertools.pairwise(times)), times
    # The trainer's page tells of Besa's camera too (her tile in the gallery).
    await decoding(tea, "besa")
    assert await tea.evaluate(TILE_HEIGHT, "besa") > 0


# The height of the frames a page decodes of a participant's camera (inbound-rtp).
DECODED_HEIGHT = """
async (id) => {
  const media = window.classroom.media;
  const shown = [...media.shown.values()].find(
    (s) => s.kind === "video" && s.participant === id && s.source === "camera");
  if (!shown || !media.subscriber) return null;
  let height = null;
  (await media.subscriber.getStats(shown.track)).forEach((s) => {
    if (s.type === "inbound-rtp" && s.framesDecoded > 0) height = s.frameHeight;
  });
  return height;
}
"""


async def decoded_height(page: Page, pid: str, check: Any, what: str) -> int:
    """The height of tea's decoded frames once ``check`` holds for it."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        height = await page.evaluate(DECODED_HEIGHT, pid)
        if height is not None and check(height):
            return int(height)
        assert time.monotonic() < deadline, f"{pid}'s camera never decoded {what}: {height}"
        await asyncio.sleep(0.3)


async def test_each_viewer_gets_the_layer_that_fits_how_big_it_shows_the_video(
    served: Served,  # noqa: F811 (the fixture imported above)
    launch_browser: LaunchBrowser,
) -> None:
    browser = await launch_browser()
    tea = await join(browser, served, served.mint("trainer", "Tea", sub="tea"))  # type: ignore[arg-type]
    await assert_layered(tea)
    full = (await camera(tea))["camera_height"]

    # A room screen shows the trainer on its stage, larger than the camera: the full layer.
    kiosk, _ = await enter_kiosk(browser, served, served.mint("trainee", "Kiosk", sub="kiosk"))
    await decoding(kiosk, "tea")
    assert await tile_height(kiosk, "tea") > full
    await decoded_height(kiosk, "tea", lambda h: h == full, f"at {full}")

    # A low window: the stage is far lower than the camera's picture, so the half layer
    # (still taller than the tile) is what it gets; the room screen keeps the full one.
    laptop = await (await browser.new_context(viewport={"width": 1280, "height": 400})).new_page()
    await laptop.goto(served.join_url(served.mint("trainee", "Lena", sub="lena")))
    await laptop.locator("#join-button").click()
    await expect(laptop.locator("#classroom")).to_have_attribute(
        "data-phase", "room", timeout=WAIT_MS
    )
    await decoding(laptop, "tea")
    shown = await tile_height(laptop, "tea")
    assert shown <= full // 2, shown
    got = await decoded_height(laptop, "tea", lambda h: h < full, "below the full layer")
    assert got >= shown * 0.9, (got, shown)  # never smaller than the tile
    await decoded_height(kiosk, "tea", lambda h: h == full, f"still at {full}")

    # The laptop's window grows: the full layer again, and the picture never stopped.
    await laptop.set_viewport_size({"width": 1280, "height": 900})
    await decoded_height(laptop, "tea", lambda h: h == full, f"at {full} again")
    await decoding(laptop, "tea")
