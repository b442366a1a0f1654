"""Processing a stopped recording into what learners replay: HLS, the MP4, images, chapters.

``process(directory, progress)`` runs the steps in order; each leaves its result
under a final name only when it is complete, and is skipped when that result is
already there, so a job that ran halfway (a crash, a restart) picks up where it
stopped. The raw recording (journal and segments) is only read, never changed.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ffmpeg

from recordings.assemble import Joined, join_track
from recordings.journal import JOURNAL_FILE, read_journal
from recordings.library import OUT_DIR
from recordings.recorder import TRACKS_DIR
from recordings.render import FPS, Source, copies_video, encode_command, ffmetadata
from recordings.timeline import Chapter, Plan, Rendition, plan, titled_spans

log = logging.getLogger("classroom.recordings")

WORK_DIR = "work"
DOWNLOAD = "download.mp4"
HLS_DIR = "hls"
MASTER_PLAYLIST = "master.m3u8"
POSTER = "poster.jpg"
THUMBS_DIR = "thumbs"
THUMB_EVERY_S = 10
CHAPTERS_VTT = "chapters.vtt"
MANIFEST = "manifest.json"
HLS_SEGMENT_S = 6
# Share of the whole job each step takes, for the progress shown to users.
STEPS = {"join": (0, 10), "encode": (10, 80), "hls": (80, 90), "images": (90, 98)}

Progress = Callable[[str, float], None]  # (step, percent of the whole job)


class PipelineError(Exception):
    """A step failed; the message says which and why (ffmpeg's last words)."""


class Cancelled(PipelineError):
    """The job was asked to stop (the process is shutting down); it will run again."""


@dataclasses.dataclass
class Job:
    directory: Path
    progress: Progress
    cancel: threading.Event
    fps: int = FPS

    def path(self, *parts: str) -> Path:
        return self.directory.joinpath(*parts)

    def report(self, step: str, fraction: float) -> None:
        low, high = STEPS[step]
        self.progress(step, round(low + (high - low) * min(max(fraction, 0.0), 1.0), 1))


def process(
    directory: Path,
    progress: Progress,
    cancel: threading.Event | None = None,
    fps: int = FPS,
) -> dict[str, Any]:
    """Run every step that is not done yet; returns the manifest (also in out/manifest.json)."""
    job = Job(directory, progress, cancel or threading.Event(), fps)
    entries = read_journal(job.path(JOURNAL_FILE))
    if not entries:
        raise PipelineError("the recording has no journal")
    try:
        session = plan(entries)
    except (ValueError, KeyError, TypeError) as error:
        raise PipelineError(f"the journal cannot be read: {error}") from None
    for name in (WORK_DIR, OUT_DIR):
        job.path(name).mkdir(exist_ok=True)
    joined, warnings = join_step(job, session)
    sources = [
        Source(session.track(j.track).info, job.path(WORK_DIR, j.file), j.start_s, j.end_s)
        for j in joined
    ]
    ends = [j.end_s for j in joined]
    duration = session.stopped_s if session.stopped_s is not None else max(ends, default=0.0)
    duration = round(max(duration, 1.0), 3)
    chapters = [c for c in session.chapters if c.start_s < duration]
    renditions = encode_step(job, session, sources, duration, chapters)
    has_video = any(s.info.kind == "video" for s in sources)
    hls_step(job, renditions, has_video)
    thumbnails = images_step(job, duration) if has_video else 0
    manifest = {
        "duration_s": duration,
        "video": has_video,
        "video_copied": copies_video(sources),
        "audio": [
            {"language": r.language, "channel": r.channel, "name": r.name} for r in renditions
        ],
        "chapters": [c.to_json() for c in chapters],
        "thumbnails": {"every_s": THUMB_EVERY_S, "count": thumbnails},
        "files": {
            "hls": f"{HLS_DIR}/{MASTER_PLAYLIST}",
            "download": DOWNLOAD,
            "poster": POSTER if has_video else None,
            "chapters": CHAPTERS_VTT,
        },
        "warnings": warnings,
        "interrupted": session.stopped_s is None,
    }
    _write_atomically(job.path(OUT_DIR, CHAPTERS_VTT), chapters_vtt(chapters, duration))
    _write_atomically(job.path(OUT_DIR, MANIFEST), json.dumps(manifest, ensure_ascii=False))
    return manifest


def join_step(job: Job, session: Plan) -> tuple[list[Joined], list[str]]:
    record = job.path(WORK_DIR, "joined.json")
    if record.exists():
        data = json.loads(record.read_text())
        return [Joined(**{**j, "warnings": tuple(j["warnings"])}) for j in data], _warnings(data)
    joined: list[Joined] = []
    for index, track in enumerate(session.tracks):
        _check(job)
        result = join_track(track, job.path(TRACKS_DIR), job.path(WORK_DIR, f"{track.dir}.mkv"))
        if result is not None:
            joined.append(result)
        job.report("join", (index + 1) / len(session.tracks))
    data = [dataclasses.asdict(j) for j in joined]
    _write_atomically(record, json.dumps(data))
    return joined, _warnings(data)


def _warnings(data: list[dict[str, Any]]) -> list[str]:
    return [w for j in data for w in j["warnings"]]


def encode_step(
    job: Job, session: Plan, sources: list[Source], duration: float, chapters: list[Chapter]
) -> list[Rendition]:
    metadata = job.path(WORK_DIR, "chapters.ffmeta")
    partial = job.path(WORK_DIR, DOWNLOAD + ".part")
    command, renditions = encode_command(session, sources, duration, metadata, partial, job.fps)
    final = job.path(OUT_DIR, DOWNLOAD)
    if not final.exists():
        title = str(session.info.get("title") or "")
        metadata.write_text(ffmetadata(title, chapters, duration))
        run_ffmpeg(job, "encode", command, duration)
        partial.replace(final)
    return renditions


def hls_step(job: Job, renditions: list[Rendition], has_video: bool) -> None:
    """HLS in fMP4 segments, copied from the MP4: the video and one playlist per language."""
    final = job.path(OUT_DIR, HLS_DIR)
    if (final / MASTER_PLAYLIST).exists():
        return
    building = job.path(WORK_DIR, HLS_DIR)
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    source = ffmpeg.input(str(job.path(OUT_DIR, DOWNLOAD)))
    streams = [source["v:0"]] if has_video else []
    variants = ["v:0,agroup:audio,name:video"] if has_video else []
    names = []
    for index, rendition in enumerate(renditions):
        streams.append(source[f"a:{index}"])
        default = ",default:yes" if index == 0 else ""
        lang = rendition.language
        variants.append(f"a:{index},agroup:audio,language:{lang},name:audio{index}{default}")
        names.append(rendition.name)
    command = ffmpeg.output(
        *streams,
        str(building / "%v" / "index.m3u8"),
        c="copy",
        f="hls",
        hls_time=HLS_SEGMENT_S,
        hls_playlist_type="vod",
        hls_segment_type="fmp4",
        hls_segment_filename=str(building / "%v" / "segment%05d.m4s"),
        master_pl_name=MASTER_PLAYLIST,
        var_stream_map=" ".join(variants),
    ).global_args("-nostats", "-progress", "pipe:1")
    duration = _probe_duration(job.path(OUT_DIR, DOWNLOAD))
    run_ffmpeg(job, "hls", command, duration)
    _name_renditions(building / MASTER_PLAYLIST, names)
    shutil.rmtree(final, ignore_errors=True)
    building.replace(final)


def _name_renditions(master: Path, names: list[str]) -> None:
    """ffmpeg names audio renditions audio_0, audio_1...: give them, in order, their names."""
    lines, remaining = [], iter(names)
    for line in master.read_text().splitlines():
        if line.startswith("#EXT-X-MEDIA:TYPE=AUDIO"):
            name = next(remaining, None)
            if name is not None:
                name = name.replace('"', "'")
                line = re.sub(r'NAME="[^"]*"', f'NAME="{name}",AUTOSELECT=YES', line, count=1)
        lines.append(line)
    master.write_text("\n".join(lines) + "\n")


def images_step(job: Job, duration: float) -> int:
    """A poster and a thumbnail every THUMB_EVERY_S (from keyframes only: no full decode)."""
    thumbs = job.path(OUT_DIR, THUMBS_DIR)
    if not thumbs.is_dir():
        building = job.path(WORK_DIR, THUMBS_DIR)
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir()
        source = ffmpeg.input(str(job.path(OUT_DIR, DOWNLOAD)), skip_frame="nokey")
        command = ffmpeg.output(
            source.video.filter("fps", f"1/{THUMB_EVERY_S}").filter("scale", 160, -2),
            str(building / "%05d.jpg"),
            start_number=0,
            fps_mode="vfr",
        ).global_args("-nostats", "-progress", "pipe:1")
        run_ffmpeg(job, "images", command, duration)
        building.replace(thumbs)
    poster = job.path(OUT_DIR, POSTER)
    if not poster.exists():
        partial = job.path(WORK_DIR, POSTER)
        at = min(duration * 0.1, 30.0)
        command = ffmpeg.output(
            ffmpeg.input(str(job.path(OUT_DIR, DOWNLOAD)), ss=f"{at:.3f}").video.filter(
                "scale", 640, -2
            ),
            str(partial),
            frames=1,
            f="image2",
        )
        run_ffmpeg(job, "images", command, 0)
        partial.replace(poster)
    return len(list(thumbs.glob("*.jpg")))


def run_ffmpeg(job: Job, step: str, command: Any, duration_s: float) -> None:
    """Run one ffmpeg command, turning its ``-progress`` lines into the job's progress."""
    _check(job)
    args = command.global_args("-hide_banner", "-loglevel", "error").overwrite_output()
    log.info("ffmpeg", extra={"step": step, "command": " ".join(args.get_args())})
    process = args.run_async(pipe_stdout=True, pipe_stderr=True)
    errors: collections.deque[str] = collections.deque(maxlen=20)
    drain = threading.Thread(target=_drain, args=(process, errors), daemon=True)
    drain.start()
    try:
        for raw in process.stdout:
            if job.cancel.is_set():
                process.kill()
                break
            key, _, value = raw.decode(errors="replace").strip().partition("=")
            if key == "out_time_us" and duration_s > 0 and value.lstrip("-").isdigit():
                job.report(step, int(value) / 1e6 / duration_s)
        code = process.wait()
    finally:
        with contextlib.suppress(OSError):
            process.kill()
        process.wait()
        drain.join(5)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    _check(job)
    if code != 0:
        said = " | ".join(errors) or f"exit status {code}"
        raise PipelineError(f"ffmpeg failed in step {step}: {said}")
    job.report(step, 1.0)


def _drain(process: subprocess.Popen[bytes], lines: collections.deque[str]) -> None:
    assert process.stderr is not None
    for raw in process.stderr:
        text = raw.decode(errors="replace").strip()
        if text:
            lines.append(text)


def _check(job: Job) -> None:
    if job.cancel.is_set():
        raise Cancelled("processing was interrupted; it will resume")


def _probe_duration(path: Path) -> float:
    try:
        return float(ffmpeg.probe(str(path))["format"]["duration"])
    except (ffmpeg.Error, KeyError, ValueError):
        return 0.0


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}"


def chapters_vtt(chapters: list[Chapter], duration: float) -> str:
    cues = ["WEBVTT", ""]
    for start, end, title in titled_spans(chapters, duration):
        cues += [f"{_timestamp(start)} --> {_timestamp(end)}", title.replace("-->", "->"), ""]
    return "\n".join(cues)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(path)
