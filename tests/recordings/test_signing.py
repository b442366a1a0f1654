"""Sign language in the replay: the plan of a journal with signers, and the rendition made
by real ffmpeg (a signer's colour bars over the trainer's camera, while on air)."""

from __future__ import annotations

from pathlib import Path

import ffmpeg
import numpy as np
import pytest

from media.tracks import TrackInfo
from recordings import pipeline
from recordings.library import Library
from recordings.timeline import SignedRendition, Signer, plan
from tests.recordings.conftest import probe
from tests.recordings.synthetic import generate_session

pytestmark = pytest.mark.timeout(300)

T0 = 1_700_000_000.0
RGB = {"f": "rawvideo", "pix_fmt": "rgb24"}


def track(pid: str, source: str, kind: str, language: str | None = None) -> dict:
    info = TrackInfo(f"{pid}/{source}", pid, source, kind, "vp8", 90000, language, pid)
    return {"kind": "track", "t": T0, "track": info.to_json(), "dir": f"{pid}-{source}"}


def segment(pid: str, source: str, at: float) -> dict:
    where = {"seq": 0, "file": "0.mkv", "pts": 0}
    return {"kind": "segment", "t": T0 + at, "track": f"{pid}/{source}", **where}


def on_air(channel: str, who: str | None, at: float) -> dict:
    data = {"channel": channel, "id": who, "name": who}
    return {"kind": "event", "t": T0 + at, "type": "on_air_changed", "data": data}


def test_each_sign_channel_recorded_is_a_rendition_with_its_signers_on_air() -> None:
    entries = [
        {"kind": "started", "t": T0, "room": "r", "title": "", "floor_language": "sr"},
        track("ana", "camera", "video"),
        track("sanja", "signing", "video", "ysl"),
        track("goran", "signing", "video", "ysl"),
        track("ilan", "signing", "video", "ils"),
        track("nobody", "signing", "video", "ils"),  # published, never on air
        track("mira", "signing", "video", "ils"),  # on air, but nothing recorded
        *(segment(p, s, 1.0) for p, s in [("ana", "camera"), ("sanja", "signing")]),
        *(segment(p, "signing", 2.0) for p in ("goran", "ilan", "nobody")),
        on_air("ysl", "sanja", 3.0),
        on_air("ils", "ilan", 4.0),
        on_air("ysl", "goran", 10.0),  # the booth hands over
        on_air("ysl", "sanja", 20.0),  # and back, until the end
        on_air("ils", "mira", 25.0),
        {"kind": "stopped", "t": T0 + 30.0},
    ]
    signed = plan(entries).signed
    assert signed == [
        SignedRendition(
            "ysl",
            "ysl",
            "Sign language (ysl)",
            (
                Signer("sanja/signing", ((3.0, 10.0), (20.0, None))),
                Signer("goran/signing", ((10.0, 20.0),)),
            ),
        ),
        SignedRendition(
            "ils", "ils", "Sign language (ils)", (Signer("ilan/signing", ((4.0, 25.0),)),)
        ),
    ]


def test_a_channel_without_on_air_events_shows_its_signer_whenever_recorded() -> None:
    entries = [
        {"kind": "started", "t": T0, "room": "r", "title": ""},
        track("sanja", "signing", "video", "ysl"),
        segment("sanja", "signing", 1.0),
    ]
    assert plan(entries).signed == [
        SignedRendition("ysl", "ysl", "Sign language (ysl)", (Signer("sanja/signing", ()),))
    ]


def frame(path: Path, stream: int, at: float, size: tuple[int, int]) -> np.ndarray:
    """One decoded picture of a video stream at ``at`` seconds, scaled to ``size`` (RGB)."""
    width, height = size
    raw, _ = (
        ffmpeg.input(str(path), ss=f"{at:.3f}")
        .output("pipe:", map=f"0:v:{stream}", frames=1, vf=f"scale={width}:{height}", **RGB)
        .run(capture_stdout=True, quiet=True)
    )
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3).astype(np.int16)


def difference(a: np.ndarray, b: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """The mean difference of two pictures in a box (x, y, width, height)."""
    x, y, w, h = box
    return float(np.abs(a[y : y + h, x : x + w] - b[y : y + h, x : x + w]).mean())


def test_a_signer_is_a_picture_in_picture_of_its_own_rendition(
    library: Library, clips: Path
) -> None:
    duration = 12.0
    made = generate_session(
        library, clips, duration_s=duration, channels=("sq",), video_codec="h264", screen=None,
        signed=("ysl",), signing_s=(0.3, 0.7),
    )  # fmt: skip
    manifest = pipeline.process(made.directory, lambda step, pct: None)
    out = made.directory / "out"

    assert manifest["signed"] == [
        {
            "language": "ysl",
            "channel": "ysl",
            "name": "Sign language (ysl)",
            "hls": "sign0/index.m3u8",
        }
    ]
    assert manifest["video_copied"]  # the floor's video is the camera as it came
    master = (out / "hls" / "master.m3u8").read_text().splitlines()
    variants = [line for line in master if line.startswith("#EXT-X-STREAM-INF")]
    assert len(variants) == 2 and master[master.index(variants[1]) + 1] == "sign0/index.m3u8"
    assert 'NAME="Sign language (ysl)",LANGUAGE="ysl"' in variants[1]
    assert "RESOLUTION=854x480" in variants[1] and 'AUDIO="group_audio"' in variants[1]
    assert "#EXT-X-ENDLIST" in (out / "hls" / "sign0" / "index.m3u8").read_text()

    # The download: the camera, the languages, then the signed video, tagged.
    streams = probe(out / "download.mp4")["streams"]
    video = [s for s in streams if s["codec_type"] == "video"]
    assert [(v["width"], v["height"]) for v in video] == [(640, 360), (854, 480)]
    assert video[1]["tags"]["language"] == "ysl"
    assert float(video[1]["duration"]) == pytest.approx(duration, abs=0.3)

    # Bottom start corner, a third of the height (160 of 480, 16:9): the colour bars while
    # the signer is on air, the camera alone before and after; elsewhere the same picture.
    size = (854, 480)
    pip = (16 + 40, 480 - 16 - 160 + 30, 200, 100)
    elsewhere = (500, 40, 300, 200)
    for at, shown in ((1.5, False), (6.0, True), (10.5, False)):
        floor = frame(out / "download.mp4", 0, at, size)
        signed = frame(out / "download.mp4", 1, at, size)
        assert difference(floor, signed, elsewhere) < 8, at
        assert (difference(floor, signed, pip) > 30) is shown, (at, difference(floor, signed, pip))


def test_a_signer_without_a_picture_to_go_over_leaves_a_replay_of_sound(
    library: Library, clips: Path
) -> None:
    """No camera and no screen: the signer alone is no replay video (and no failure)."""
    made = generate_session(
        library, clips, duration_s=8.0, channels=(), camera=False, screen=None, signed=("ysl",)
    )
    manifest = pipeline.process(made.directory, lambda step, pct: None)
    assert manifest["video"] is False and manifest["signed"] == []
    master = (made.directory / "out" / "hls" / "master.m3u8").read_text()
    assert "sign" not in master and 'CODECS="mp4a.40.2"' in master
