"""Recording processing speed: a generated 10-minute session with three interpretation channels."""

from __future__ import annotations

import resource
import subprocess
import time
from pathlib import Path
from typing import Any

from recordings.library import Library
from recordings.pipeline import process
from recordings.synthetic import generate_session
from tests.bench import report

SESSION_S = 600.0
CHANNELS = ("en", "sq", "mk")
TARGET = 100.0  # times real time, when no video is transcoded
RECORDING_NOTES = """
Even with the video copied, the `encode` step takes nearly all the time: each
language's audio is decoded from Opus, the floor mixed under the interpreters
(-14 dB), limited, resampled onto the session clock and encoded to AAC, once
per rendition, for the whole session. Copying is an order of magnitude cheaper
(the reference line above). What would reach 100x: keep the Opus packets as
they were recorded and make each language a copied track (the floor, and each
channel's interpretation joined across booth handovers by cutting at packet
boundaries), served as HLS/fMP4 and MP4 audio tracks tagged with their language;
the player then lowers the floor under the chosen interpretation exactly as the
live classroom does (DESIGN.md: the listener's browser mixes). A mixed AAC
rendition would then be made only where a device cannot mix, in the background
after the replay is already available.
"""


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(tmp: Path, name: str, **session: Any) -> dict[str, Any]:
    library = Library(tmp / name)
    generated = generate_session(
        library, tmp / "clips", duration_s=SESSION_S, channels=CHANNELS, **session
    )
    steps: dict[str, float] = {}
    last = [time.monotonic(), ""]

    def progress(step: str, percent: float) -> None:
        now = time.monotonic()
        if step != last[1]:
            last[0], last[1] = now, step
        steps[step] = now - float(last[0])

    cpu_before, wall_before = own_cpu() + children_cpu(), time.monotonic()
    manifest = process(generated.directory, progress)
    wall = time.monotonic() - wall_before
    cpu = own_cpu() + children_cpu() - cpu_before
    return {
        "directory": generated.directory,
        "name": name,
        "wall_s": wall,
        "cpu_s": cpu,
        "speed": manifest["duration_s"] / wall,
        "duration_s": manifest["duration_s"],
        "copied": manifest["video_copied"],
        "renditions": len(manifest["audio"]),
        "steps": steps,
    }


def remux_floor(directory: Path, duration_s: float) -> dict[str, float]:
    """Every joined track copied into one MP4 (no decoding, mixing or encoding): the least
    any processing of these tracks can cost."""
    tracks = sorted((directory / "work").glob("t*.mkv"))
    command = ["ffmpeg", "-v", "error", "-y"]
    for track in tracks:
        command += ["-i", str(track)]
    for index in range(len(tracks)):
        command += ["-map", str(index)]
    command += ["-c", "copy", str(directory / "remux-floor.mp4")]
    cpu_before, wall_before = children_cpu(), time.monotonic()
    subprocess.run(command, check=True)
    wall = time.monotonic() - wall_before
    return {
        "tracks": len(tracks),
        "wall_s": wall,
        "cpu_s": children_cpu() - cpu_before,
        "speed": duration_s / wall,
    }


def test_recording_processing_speed(tmp_path: Path) -> None:
    copy = measure(tmp_path, "h264-camera", video_codec="h264", screen=None)
    transcode = measure(tmp_path, "vp8-camera-and-screen", video_codec="vp8")
    assert copy["copied"] and not transcode["copied"]
    floor = remux_floor(copy["directory"], copy["duration_s"])
    rows = [
        (
            "H.264 camera, copied (no video transcoding)",
            m["duration_s"],
            m["renditions"],
            m["wall_s"],
            m["cpu_s"],
            m["speed"],
        )
        for m in (copy,)
    ] + [
        (
            "VP8 camera and a screen share, encoded to H.264",
            transcode["duration_s"],
            transcode["renditions"],
            transcode["wall_s"],
            transcode["cpu_s"],
            transcode["speed"],
        )
    ]
    body = (
        f"`recordings.synthetic.generate_session` writes a stopped {SESSION_S / 60:.0f}-minute "
        f"recording (a trainer's camera and microphone, interpreters in booths of two on "
        f"{len(CHANNELS)} channels {', '.join(CHANNELS)} beside the floor, polls, a quiz); "
        f"`recordings.pipeline.process` then builds the replay (joined tracks, an audio "
        f"rendition per language, HLS, the MP4 download, poster, thumbnails, chapters). "
        f"Generation is not timed. CPU counts this process and its ffmpeg children; both "
        f"cores are available to ffmpeg.\n\n"
        + report.table(
            ("session", "length (s)", "audio renditions", "wall (s)", "CPU (s)", "x real time"),
            rows,
        )
        + f"\nFor reference, the same {floor['tracks']} joined tracks of the H.264 session "
        f"only copied into one MP4 (`ffmpeg -c copy`, no decoding, mixing or encoding): "
        f"{floor['wall_s']:.1f} s wall, {floor['cpu_s']:.1f} s CPU, "
        f"**{floor['speed']:.0f}x real time**.\n"
        + "\nWhere the time goes (wall seconds per pipeline step):\n\n"
        + report.table(
            ("step", *(str(s) for s in copy["steps"])),
            [
                ("copied", *copy["steps"].values()),
            ],
        )
        + "\n"
        + report.table(
            ("step", *(str(s) for s in transcode["steps"])),
            [("transcoded", *transcode["steps"].values())],
        )
        + RECORDING_NOTES
    )
    report.write(
        report.Section(
            name="recording_speed",
            title="Recording processing speed",
            target=f">= {TARGET:.0f}x real time without video transcoding",
            result=f"{copy['speed']:.0f}x copied, {transcode['speed']:.0f}x transcoded",
            met=copy["speed"] >= TARGET,
            body=body,
            command=".venv/bin/python -m pytest tests/bench/test_recording_speed.py "
            "-o addopts='' -s",
        )
    )
