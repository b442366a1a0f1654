"""A codec switch while recording: the trainer's H.264 camera is republished in VP8 when a
VP8-only viewer (Firefox ESR on Debian) arrives, under the same track id, on a new RTP
clock. The recording keeps both halves, each in its own files, and is processed whole."""

from __future__ import annotations

import fractions
import json
import subprocess
from pathlib import Path

import av

from media.tracks import TrackInfo
from recordings import pipeline
from recordings.journal import read_journal
from recordings.recorder import Recorder
from tests.recordings.conftest import probe
from tests.recordings.synthetic import clip_packets, encode_clip

H264 = TrackInfo("tea/camera", "tea", "camera", "video", "h264", 90000, None, "Tea", "trainer")
VP8 = TrackInfo("tea/camera", "tea", "camera", "video", "vp8", 90000, None, "Tea", "trainer")
MIC = TrackInfo("tea/microphone", "tea", "microphone", "audio", "opus", 48000, None, "Tea")
HALF_S = 4.0
T0 = 1000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def packet(data: bytes, pts: int, rate: int) -> av.Packet:
    made = av.Packet(data)
    made.pts, made.time_base = pts, fractions.Fraction(1, rate)
    return made


def record(recorder: Recorder, clock: Clock, clips: Path) -> None:
    h264 = clip_packets(encode_clip(clips / "camera.h264", "video", "h264"), 90000)
    vp8 = clip_packets(encode_clip(clips / "camera.vp8", "video", "vp8"), 90000)
    voice = clip_packets(encode_clip(clips / "tone300.opus", "audio", "opus", tone_hz=300), 48000)
    recorder.start(room="demo", title="Codec switch")
    recorder.on_track(MIC)
    recorder.on_track(H264)
    # (session seconds, track, RTP timestamp, frame): the camera's two halves on clocks of
    # their own (a new m-line starts a new one), the microphone throughout.
    items = [(t / 48000, MIC.id, t + 5_000, data) for t, data in voice if t < 2 * HALF_S * 48000]
    items += [(t / 90000, "h264", t + 77_000, d) for t, d in h264 if t < HALF_S * 90000]
    items += [(HALF_S + t / 90000, "vp8", t + 3_000_000, d) for t, d in vp8 if t < HALF_S * 90000]
    switched = False
    for at, what, pts, data in sorted(items, key=lambda item: item[0]):
        clock.now = T0 + at
        if what == "vp8" and not switched:
            switched = True
            recorder.on_track_ended(H264.id)  # the router ends the track, then starts it anew
            recorder.on_track(VP8)
        rate = 48000 if what == MIC.id else 90000
        recorder.on_packet(MIC.id if what == MIC.id else H264.id, packet(data, pts, rate))
    clock.now = T0 + 2 * HALF_S
    recorder.stop()


def test_a_camera_republished_in_vp8_is_recorded_whole_and_processed(
    tmp_path: Path, clips: Path
) -> None:
    clock = Clock()
    directory = tmp_path / "recording"
    directory.mkdir()
    recorder = Recorder(directory, clock, segment_s=1.0)
    record(recorder, clock, clips)

    # Two camera tracks in the journal, each with its own id, codec and files.
    entries = read_journal(directory / "journal.jsonl")
    cameras = [e for e in entries if e["kind"] == "track" and e["track"]["source"] == "camera"]
    assert [(c["track"]["codec"], c["track"]["id"]) for c in cameras] == [
        ("h264", "tea/camera"),
        ("vp8", "tea/camera#3"),
    ]
    assert cameras[0]["dir"] != cameras[1]["dir"]
    for camera in cameras:
        files = sorted((directory / "tracks" / camera["dir"]).glob("*.mkv"))
        assert files
        for file in files:
            codec = probe(file)["streams"][0]["codec_name"]
            assert codec == camera["track"]["codec"], file

    manifest = pipeline.process(directory, lambda step, pct: None)
    assert manifest["video"] and not manifest["video_copied"]
    assert manifest["duration_s"] >= 2 * HALF_S - 0.5
    out = directory / "out"
    assert (out / "poster.jpg").stat().st_size > 0
    info = probe(out / "download.mp4")
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    assert float(video["duration"]) >= 2 * HALF_S - 0.5
    # The whole replay decodes without an error, and pictures keep changing in both halves.
    decoded = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(out / "download.mp4"), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert decoded.stderr == ""
    manifest_file = json.loads((out / "manifest.json").read_text())
    assert manifest_file["files"]["poster"] == "poster.jpg"
