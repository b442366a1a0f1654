"""Processing a stopped recording into what learners replay: HLS, the MP4, images, chapters.

``process(directory, progress)`` runs the steps in order; each leaves its result
under a final name only when it is complete, and is skipped when that result is
already there, so a job that ran halfway (a crash, a restart) picks up where it
stopped. The raw recording (journal and segments) is only read, never changed.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import functools
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
from recordings.render import (
    FPS,
    Source,
    audio_command,
    copies_video,
    ffmetadata,
    mux_command,
    renditions_recorded,
    video_command,
)
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
    reporting: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    reported: float = -1.0

    def path(self, *parts: str) -> Path:
        return self.directory.joinpath(*parts)

    def report(self, step: str, fraction: float) -> None:
        """Progress never goes back, though ffmpeg runs side by side report from threads."""
        low, high = STEPS[step]
        percent = round(low + (high - low) * min(max(fraction, 0.0), 1.0), 1)
        with self.reporting:
            if percent > self.reported:
                self.reported = percent
                self.progress(step, percent)


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
    """The video and each language side by side (one ffmpeg each), then copied into the MP4."""
    renditions = renditions_recorded(session, sources)
    final = job.path(OUT_DIR, DOWNLOAD)
    if final.exists():
        return renditions
    video = job.path(WORK_DIR, "video.mp4")
    audio = [job.path(WORK_DIR, f"audio{index}.m4a") for index in range(len(renditions))]
    commands: list[tuple[Any, Path, float]] = []  # (command, result, share of the work)
    made = video_command(sources, duration, _partial(video), job.fps)
    if made is not None and not video.exists():
        commands.append((made, video, 1.0 if copies_video(sources) else 3.0 * len(audio)))
    for rendition, path in zip(renditions, audio, strict=True):
        if not path.exists():
            command = audio_command(session, sources, rendition, duration, _partial(path))
            commands.append((command, path, 1.0))
    run_side_by_side(job, "encode", commands, duration)
    metadata = job.path(WORK_DIR, "chapters.ffmeta")
    title = str(session.info.get("title") or "")
    metadata.write_text(ffmetadata(title, chapters, duration))
    partial = _partial(final)
    has_video = made is not None
    mux = mux_command(
        video if has_video else None,
        list(zip(renditions, audio, strict=True)),
        title,
        metadata,
        partial,
    )
    run_ffmpeg(job, "encode", mux, 0)
    partial.replace(final)
    return renditions


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".part")


def run_side_by_side(
    job: Job, step: str, commands: list[tuple[Any, Path, float]], duration_s: float
) -> None:
    """Run ffmpeg commands at once (as many as there are cores); each result is renamed
    into place when it is complete. Progress is their weighted mean."""
    done = dict.fromkeys(range(len(commands)), 0.0)
    total = sum(weight for _, _, weight in commands) or 1.0

    def one(index: int) -> None:
        command, result, weight = commands[index]

        def fraction(value: float) -> None:
            done[index] = value * weight
            job.report(step, sum(done.values()) / total)

        run_ffmpeg(job, step, command, duration_s, fraction)
        _partial(result).replace(result)

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for future in [pool.submit(one, index) for index in range(len(commands))]:
            future.result()  # the first failure is raised; the others finish first


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


def run_ffmpeg(
    job: Job,
    step: str,
    command: Any,
    duration_s: float,
    fraction: Callable[[float], None] | None = None,
) -> None:
    """Run one ffmpeg command, turning its ``-progress`` lines into the job's progress
    (or into ``fraction(done)`` calls, when several run at once)."""
    report = fraction or functools.partial(job.report, step)
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
                report(min(int(value) / 1e6 / duration_s, 1.0))
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
    report(1.0)


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
