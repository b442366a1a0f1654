"""The pipeline on generated recordings, with real ffmpeg; the outputs checked with ffprobe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recordings import pipeline
from recordings.library import Library
from tests.recordings.conftest import peak, probe, tone_levels
from tests.recordings.synthetic import generate_session

# Real ffmpeg (and browsers) on a busy 2-core machine: a bound on hanging, not on speed.
pytestmark = pytest.mark.timeout(300)

DURATION = 16.0


def run(directory: Path) -> tuple[dict, list[tuple[str, float]]]:
    seen: list[tuple[str, float]] = []
    manifest = pipeline.process(directory, lambda step, pct: seen.append((step, pct)))
    return manifest, seen


def test_a_session_becomes_an_mp4_and_hls_with_every_language(
    library: Library, clips: Path
) -> None:
    made = generate_session(library, clips, duration_s=DURATION, channels=("en", "sq"))
    manifest, progress = run(made.directory)
    out = made.directory / "out"

    info = probe(out / "download.mp4")
    assert float(info["format"]["duration"]) == pytest.approx(DURATION, abs=0.3)
    video = [s for s in info["streams"] if s["codec_type"] == "video"]
    audio = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert [v["codec_name"] for v in video] == ["h264"] and video[0]["width"] == 1280
    assert [a["tags"]["language"] for a in audio] == ["srp", "eng", "sqi"]
    assert all(float(a["duration"]) == pytest.approx(DURATION, abs=0.3) for a in audio)
    titles = [c["tags"]["title"] for c in info["chapters"]]
    assert "Trainer joins: Ana Petrović" in titles
    assert "Screen share: Ana Petrović" in titles
    assert "Poll: Which route is most used?" in titles
    assert "Quiz question 1: Who may apply for asylum?" in titles
    assert "Interpreter (en): Interpreter EN B · Interpreter (sq): Interpreter SQ B" in titles
    handover = next(c for c in info["chapters"] if "EN B" in c["tags"]["title"])
    assert float(handover["start_time"]) == pytest.approx(made.handover_s, abs=0.01)

    master = (out / "hls" / "master.m3u8").read_text()
    media = [line for line in master.splitlines() if line.startswith("#EXT-X-MEDIA:TYPE=AUDIO")]
    assert [m.split('LANGUAGE="')[1].split('"')[0] for m in media] == ["sr", "en", "sq"]
    assert 'NAME="Interpretation (en)"' in master and "DEFAULT=YES" in media[0]
    assert "#EXT-X-STREAM-INF" in master and 'AUDIO="group_audio"' in master
    peak = int(master.split("BANDWIDTH=")[1].split(",")[0])  # of a segment, video and audio
    assert peak > int(video[0]["bit_rate"]) + int(audio[1]["bit_rate"])
    for line in master.splitlines():
        if line.endswith(".m3u8"):
            playlist = out / "hls" / line
            assert "#EXT-X-ENDLIST" in playlist.read_text()
    hls_video = probe(out / "hls" / "video" / "index.m3u8")
    assert float(hls_video["format"]["duration"]) == pytest.approx(DURATION, abs=1.0)

    vtt = (out / "chapters.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "Poll: Which route is most used?" in vtt
    assert (out / "poster.jpg").stat().st_size > 1000
    assert manifest["thumbnails"]["count"] == len(list((out / "thumbs").glob("*.jpg"))) >= 1
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert manifest["audio"][0] == {"language": "sr", "channel": None, "name": "Original (sr)"}
    assert not manifest["interrupted"] and not manifest["video_copied"]

    percents = [pct for _, pct in progress]
    assert percents == sorted(percents) and percents[-1] >= 98
    assert {"join", "encode", "hls", "images"} <= {step for step, _ in progress}


def test_each_language_is_its_interpreter_over_the_lowered_floor(
    library: Library, clips: Path
) -> None:
    made = generate_session(library, clips, duration_s=DURATION, channels=("en",), screen=None)
    run(made.directory)
    mp4 = made.directory / "out" / "download.mp4"
    floor = next(v.tone_hz for v in made.voices if v.source == "microphone")
    first, second = (v.tone_hz for v in made.voices if v.language == "en")
    tones = [floor, first, second]
    half = made.handover_s

    original = tone_levels(mp4, 0, 2, half - 1, tones)
    assert original[floor] > 0.01
    assert original[first] < original[floor] / 100 and original[second] < original[floor] / 100

    before = tone_levels(mp4, 1, 2, half - 1, tones)  # interpreter A on air
    after = tone_levels(mp4, 1, half + 1, DURATION - 1, tones)  # B took over
    assert before[first] > 0.01 and before[second] < before[first] / 100
    assert after[second] > 0.01 and after[first] < after[second] / 100
    # Every voice is a tone of the same level: the floor is 14 dB under the interpreter,
    # and the interpretation keeps its level but for the headroom (-1.6 dB).
    under = before[floor] / before[first]
    assert 10 ** (-15 / 20) < under < 10 ** (-13 / 20)
    kept = before[first] / original[floor]
    assert 10 ** (-2.5 / 20) < kept < 10 ** (-0.7 / 20)


def test_nothing_clips_when_every_voice_is_loud(library: Library, clips: Path) -> None:
    made = generate_session(
        library, clips, duration_s=8, channels=("en",), screen=None, amplitude=0.9
    )
    run(made.directory)
    mp4 = made.directory / "out" / "download.mp4"
    # Under 0.95, where ffmpeg's AAC encoder turns a whole frame down so as not to clip.
    assert 0.8 < peak(mp4, 0) < 0.94  # the floor alone, as loud as it was
    assert 0.8 < peak(mp4, 1) < 0.94  # interpreter over the floor: the mix kept its headroom


def test_a_lone_h264_camera_is_copied_not_encoded(library: Library, clips: Path) -> None:
    made = generate_session(library, clips, duration_s=12, video_codec="h264", screen=None)
    manifest, _ = run(made.directory)
    assert manifest["video_copied"]
    info = probe(made.directory / "out" / "download.mp4")
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    assert video["codec_name"] == "h264" and (video["width"], video["height"]) == (640, 360)
    source = probe(made.directory / "work" / "t01-camera.mkv")["streams"][0]
    assert video["profile"] == source["profile"]  # the publisher's own stream


def test_steps_done_are_not_done_again(library: Library, clips: Path) -> None:
    made = generate_session(library, clips, duration_s=8, screen=None)
    run(made.directory)
    out = made.directory / "out"
    stamps = {p: p.stat().st_mtime_ns for p in (out / "download.mp4", out / "hls" / "master.m3u8")}
    _, progress = run(made.directory)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert "encode" not in {step for step, pct in progress if pct < 80}


def test_a_damaged_segment_costs_only_itself(library: Library, clips: Path) -> None:
    made = generate_session(library, clips, duration_s=15, channels=("en",), screen=None)
    segment = sorted((made.directory / "tracks" / "t02-microphone").glob("*.mkv"))[2]
    data = bytearray(segment.read_bytes())
    segment.write_bytes(b"garbage" * 10 + data[len(data) // 2 :])
    manifest, _ = run(made.directory)
    assert any("000003.mkv" in w for w in manifest["warnings"])
    info = probe(made.directory / "out" / "download.mp4")
    assert float(info["format"]["duration"]) == pytest.approx(15, abs=0.3)
    assert len([s for s in info["streams"] if s["codec_type"] == "audio"]) == 2


def test_a_recording_without_a_journal_fails_clearly(library: Library, tmp_path: Path) -> None:
    directory = tmp_path / "empty"
    directory.mkdir()
    with pytest.raises(pipeline.PipelineError, match="no journal"):
        run(directory)
