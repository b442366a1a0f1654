"""Reading offers as JSEP (RFC 9429) and BUNDLE (RFC 9143) define them, with real offers.

The fixtures are offers Debian's Chromium 156 and Firefox ESR 153 made the way
web/static/media.js makes them (sendonly transceivers, max-bundle): a trainee's camera
and microphone, then the same connection's next offer with the camera republished on a
new m-line and the microphone's transceiver stopped, and an interpreter's three audio
m-lines before a camera. ``tests/media/fixtures/capture.py`` captures them again.
Firefox offers every m-line after the first one with port 0 and ``a=bundle-only``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiortc import RTCConfiguration
from aiortc import sdp as aiortc_sdp

from media.codecs import Codec, choose_video_codec
from media.description import BadDescription, parse_description
from media.publisher import Publisher

FIXTURES = Path(__file__).parent / "fixtures"
BROWSERS = ("chromium", "firefox-esr")


def offer(browser: str, name: str) -> str:
    return (FIXTURES / browser / f"{name}.sdp").read_text().replace("\n", "\r\n")


def read(sdp: str) -> dict[str, tuple[str, bool, bool]]:
    """mid -> (kind, rejected, sending)."""
    description = parse_description(sdp)
    return {
        str(m.rtp.muxId): (m.kind, description.rejected(m), description.sending(m))
        for m in description.media
    }


def test_firefox_offers_its_microphone_bundle_only_and_it_is_sending() -> None:
    sdp = offer("firefox-esr", "trainee")
    assert "m=audio 0 " in sdp and "a=bundle-only" in sdp  # what the fixture is about
    assert read(sdp) == {"0": ("video", False, True), "1": ("audio", False, True)}


@pytest.mark.parametrize("browser", BROWSERS)
def test_every_m_line_of_an_interpreter_is_sending(browser: str) -> None:
    assert read(offer(browser, "interpreter")) == {
        "0": ("audio", False, True),
        "1": ("audio", False, True),
        "2": ("audio", False, True),
        "3": ("video", False, True),
    }


@pytest.mark.parametrize("browser", BROWSERS)
def test_a_stopped_transceiver_is_rejected_and_an_inactive_one_is_not_sending(browser: str) -> None:
    assert read(offer(browser, "republish")) == {
        "0": ("video", False, False),  # inactive: the camera moved to a new m-line
        "1": ("audio", True, False),  # stopped: port 0 without bundle-only
        "2": ("video", False, True),  # the new one (Firefox: bundle-only)
    }


def test_port_zero_with_bundle_only_outside_any_bundle_group_is_rejected() -> None:
    sdp = offer("firefox-esr", "trainee").replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0")
    assert read(sdp)["1"] == ("audio", True, False)


@pytest.mark.parametrize("browser", BROWSERS)
def test_m_lines_in_any_order(browser: str) -> None:
    """The microphone's m-line before the camera's, the group in that order too."""
    session, rest = offer(browser, "trainee").split("m=video", 1)
    video, audio = rest.split("m=audio", 1)
    swapped = session.replace("BUNDLE 0 1", "BUNDLE 1 0") + "m=audio" + audio + "m=video" + video
    if browser == "firefox-esr":  # the tagged m-line is now the microphone's
        swapped = swapped.replace("m=audio 0 ", "m=audio 9 ").replace("a=bundle-only\r\n", "")
        swapped = swapped.replace("a=mid:0\r\n", "a=mid:0\r\na=bundle-only\r\n")
        swapped = swapped.replace("m=video " + video.split()[0], "m=video 0")
    assert [m.rtp.muxId for m in parse_description(swapped).media] == ["1", "0"]
    assert read(swapped) == {"1": ("audio", False, True), "0": ("video", False, True)}


def test_a_bundle_group_led_by_a_bundle_only_m_line_is_refused() -> None:
    sdp = offer("firefox-esr", "trainee").replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 1 0")
    with pytest.raises(BadDescription, match="BUNDLE"):
        parse_description(sdp)


def test_a_bundle_group_naming_a_missing_m_line_is_refused() -> None:
    sdp = offer("chromium", "trainee").replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0 1 7")
    with pytest.raises(BadDescription, match="BUNDLE"):
        parse_description(sdp)


def choose(offered: dict[str, Codec]) -> Codec:
    return choose_video_codec(offered, [])


def publisher() -> Publisher:
    return Publisher("p1", RTCConfiguration(), "", lambda *_: None, lambda *_: None)


@pytest.mark.parametrize("browser", BROWSERS)
async def test_a_publisher_takes_the_microphone_of_either_browser(browser: str) -> None:
    server = publisher()
    try:
        answer = await server.negotiate(
            offer(browser, "trainee"), {"0": "camera", "1": "microphone"}, choose
        )
        assert {i.mid: i.source for i in server.inbound} == {"0": "camera", "1": "microphone"}
        parsed = aiortc_sdp.SessionDescription.parse(answer)
        assert [(m.rtp.muxId, m.port != 0) for m in parsed.media] == [("0", True), ("1", True)]
    finally:
        await server.close()


@pytest.mark.parametrize("browser", BROWSERS)
async def test_the_next_offer_moves_the_camera_and_the_answer_rejects_what_the_offer_did(
    browser: str,
) -> None:
    server = publisher()
    try:
        await server.negotiate(
            offer(browser, "trainee"), {"0": "camera", "1": "microphone"}, choose
        )
        answer = await server.negotiate(offer(browser, "republish"), {"2": "camera"}, choose)
        assert {i.mid: i.source for i in server.inbound} == {"0": None, "1": None, "2": "camera"}
        parsed = aiortc_sdp.SessionDescription.parse(answer)
        assert [(m.rtp.muxId, m.port == 0) for m in parsed.media] == [
            ("0", False),
            ("1", True),
            ("2", False),
        ]
        assert [g.items for g in parsed.group if g.semantic == "BUNDLE"] == [["0", "2"]]
    finally:
        await server.close()


@pytest.mark.parametrize("browser", BROWSERS)
async def test_an_interpreter_publishes_three_audio_m_lines_and_a_camera(browser: str) -> None:
    server = publisher()
    sources = {"0": "microphone", "1": "interpretation", "2": "booth", "3": "camera"}
    try:
        await server.negotiate(offer(browser, "interpreter"), sources, choose)
        assert {i.mid: i.source for i in server.inbound} == sources
        assert [i.kind for i in server.inbound] == ["audio", "audio", "audio", "video"]
    finally:
        await server.close()


def test_the_answer_asks_publishers_for_fullband_opus() -> None:
    from media.description import OPUS_FMTP, opus_fullband

    answer = "\r\n".join(
        [
            "v=0",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111",
            "a=rtpmap:111 opus/48000/2",
            "a=fmtp:111 minptime=10;useinbandfec=0",
            "m=audio 9 UDP/TLS/RTP/SAVPF 109",
            "a=rtpmap:109 OPUS/48000/2",
            "m=video 9 UDP/TLS/RTP/SAVPF 96",
            "a=rtpmap:96 VP8/90000",
            "a=fmtp:96 max-fr=30",
            "",
        ]
    )
    lines = opus_fullband(answer).split("\r\n")
    wanted = ";".join(f"{k}={v}" for k, v in OPUS_FMTP.items())
    assert (
        "a=fmtp:111 minptime=10;useinbandfec=1;maxplaybackrate=48000;maxaveragebitrate=64000"
        in lines
    )
    assert lines[lines.index("a=rtpmap:109 OPUS/48000/2") + 1] == f"a=fmtp:109 {wanted}"
    assert "a=fmtp:96 max-fr=30" in lines  # video untouched
    assert OPUS_FMTP["maxaveragebitrate"] == "64000"
