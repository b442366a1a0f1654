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
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import ffmpeg

from recordings import hls, signing, subtitles
from recordings.assemble import Joined, join_track
from recordings.journal import JOURNAL_FILE, read_journal
from recordings.lanes import Lane, plan_lanes
from recordings.library import OUT_DIR
from recordings.recorder import TRACKS_DIR
from recordings.render import (
    FPS,
    Source,
    audio_command,
    audio_groups,
    copied_video,
    copies_video,
    ffmetadata,
    group_lanes,
    lanes_file,
    mux_command,
    rendition_groups,
    renditions_recorded,
    video_command,
    video_graph,
)
from recordings.timeline import Chapter, Plan, Rendition, SignedRendition, plan, titled_spans

log = logging.getLogger("classroom.recordings")

WORK_DIR = "work"
JOINED = "joined.json"
COMPOSED = "video.mp4"  # the composed video, when it is not a copied camera
DOWNLOAD = "download.mp4"
HLS_DIR = "hls"
HLS_VIDEO = "hls-video"  # the video's HLS, cut early, until the master joins it to the rest
POSTER = "poster.jpg"
THUMBS_DIR = "thumbs"
THUMB_EVERY_S = 10
CHAPTERS_VTT = "chapters.vtt"
MANIFEST = "manifest.json"
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
    joined, lanes, warnings = join_step(job, session)
    sources = [
        Source(session.track(j.track).info, job.path(WORK_DIR, j.file), j.start_s, j.end_s)
        for j in joined
    ]
    ends = [j.end_s for j in joined]
    duration = session.stopped_s if session.stopped_s is not None else max(ends, default=0.0)
    duration = round(max(duration, 1.0), 3)
    chapters = [c for c in session.chapters if c.start_s < duration]
    # A camera or a screen: a signer's video alone is drawn over nothing (see signing.py).
    has_video = video_graph(sources, duration) is not None
    extras = Background(job, duration) if has_video else None
    video = copied_video(sources)
    if extras is not None and video is not None:
        extras.start(video)  # the copied camera is the replay's video: no need to wait
    signed = signing.recorded(session.signed, sources)
    video, tracks, signs = encode_step(job, session, sources, lanes, duration, signed)
    if extras is not None and not extras.started:
        extras.start(video if video is not None and video.exists() else job.path(OUT_DIR, DOWNLOAD))
    package_step(job, session, chapters, video, tracks, duration, extras, signs)
    renditions = [r for r, _, _ in tracks]
    thumbnails = extras.result() if extras is not None else 0
    manifest = {
        "duration_s": duration,
        "video": has_video,
        "video_copied": copies_video(sources),
        "audio": [
            {"language": r.language, "channel": r.channel, "name": r.name} for r in renditions
        ],
        "signed": [
            {
                "language": r.language,
                "channel": r.channel,
                "name": r.name,
                "hls": f"{signing.sign_dir(index)}/index.m3u8",
            }
            for index, (r, _) in enumerate(signs)
        ],
        "chapters": [c.to_json() for c in chapters],
        "thumbnails": {"every_s": THUMB_EVERY_S, "count": thumbnails},
        "files": {
            "hls": f"{HLS_DIR}/{hls.MASTER}",
            "download": DOWNLOAD,
            "poster": POSTER if has_video else None,
            "chapters": CHAPTERS_VTT,
        },
        "warnings": warnings,
        "interrupted": session.stopped_s is None,
    }
    # Subtitles a trainer gave while it was recorded or processed (see recordings.subtitles).
    manifest["subtitles"] = subtitles.publish(job.path(OUT_DIR), [], duration)
    _write_atomically(job.path(OUT_DIR, CHAPTERS_VTT), chapters_vtt(chapters, duration))
    _write_atomically(job.path(OUT_DIR, MANIFEST), json.dumps(manifest, ensure_ascii=False))
    return manifest


def join_step(job: Job, session: Plan) -> tuple[list[Joined], list[Lane], list[str]]:
    """Every track on the session clock, packets copied: each video track into a file of
    its own, the voices into lanes files, one per audio process (each written by a process
    of its own, side by side with the video)."""
    record = job.path(WORK_DIR, JOINED)
    if record.exists():
        data = json.loads(record.read_text())
        if isinstance(data, dict):  # (a list: written before lanes; joined again)
            done = [Joined(**{**j, "warnings": tuple(j["warnings"])}) for j in data["joined"]]
            return done, [Lane.from_json(lane) for lane in data["lanes"]], _warnings(data["joined"])
    lanes = plan_lanes(session)
    planned = [
        r
        for r in session.renditions
        if r.channel is None or any(lane.channel == r.channel for lane in lanes)
    ]
    writers = []
    for index, group in enumerate(audio_groups(planned, os.cpu_count() or 1)):
        mine = group_lanes(lanes, group, first=index == 0)
        if mine:
            writers.append(LanesWriter(job, lanes_file(index), mine))
    own = [t for t in session.tracks if t.info.kind != "audio"]
    joined: list[Joined] = []
    lanes = []
    try:
        for index, track in enumerate(own):
            _check(job)
            result = join_track(track, job.path(TRACKS_DIR), job.path(WORK_DIR, f"{track.dir}.mkv"))
            if result is not None:
                joined.append(result)
            job.report("join", (index + 1) / (len(own) + len(writers)))
        for index, writer in enumerate(writers):
            written, read = writer.result()
            lanes += written
            joined += read
            job.report("join", (len(own) + index + 1) / (len(own) + len(writers)))
    finally:
        for writer in writers:
            writer.stop()
    data = {
        "joined": [dataclasses.asdict(j) for j in joined],
        "lanes": [lane.to_json() for lane in lanes],
    }
    _write_atomically(record, json.dumps(data))
    return joined, lanes, _warnings(data["joined"])


def _warnings(data: list[dict[str, Any]]) -> list[str]:
    return [w for j in data for w in j["warnings"]]


class LanesWriter:
    """``python -m recordings.lanes``, writing one lanes file in a process of its own."""

    def __init__(self, job: Job, file: str, lanes: list[Lane]) -> None:
        self.job = job
        spec = job.path(WORK_DIR, f"{file}.json")
        body = {"directory": str(job.directory.resolve()), "work": WORK_DIR, "file": file}
        spec.write_text(json.dumps({**body, "lanes": [lane.to_json() for lane in lanes]}))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "recordings.lanes", str(spec.resolve())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=Path(__file__).resolve().parent.parent,  # where the package is
        )

    def result(self) -> tuple[list[Lane], list[Joined]]:
        while True:
            try:
                out, err = self.process.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                _check(self.job)
        if self.process.returncode != 0:
            said = " | ".join(err.decode(errors="replace").strip().splitlines()[-5:])
            raise PipelineError(f"joining the voices failed: {said or self.process.returncode}")
        data = json.loads(out)
        lanes = [Lane.from_json(lane) for lane in data["lanes"]]
        joined = [Joined(**{**j, "warnings": tuple(j["warnings"])}) for j in data["joined"]]
        return lanes, joined

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def encode_step(
    job: Job,
    session: Plan,
    sources: list[Source],
    lanes: list[Lane],
    duration: float,
    signed: list[SignedRendition],
) -> tuple[Path | None, list[tuple[Rendition, Path, int]], list[tuple[SignedRendition, Path]]]:
    """The composed video (if any), each sign language's and the audio processes, side by
    side. Returns the replay's video file (a copied camera: its joined file), for each
    rendition in order the file and audio stream it is in, and each signed video's file."""
    renditions = renditions_recorded(session, lanes)
    groups = rendition_groups(renditions, lanes)
    audio = [job.path(WORK_DIR, f"audio{index}.mp4") for index, _ in groups]
    composed = job.path(WORK_DIR, COMPOSED)
    made = video_command(sources, duration, _partial(composed), job.fps)
    video = copied_video(sources) or (composed if made is not None else None)
    where = {
        r: (path, group.index(r))
        for (_, group), path in zip(groups, audio, strict=True)
        for r in group
    }
    tracks = [(r, *where[r]) for r in renditions]
    signs = [(r, job.path(WORK_DIR, f"{signing.sign_dir(i)}.mp4")) for i, r in enumerate(signed)]
    if _packaged(job):
        return video, tracks, signs
    commands: list[Command] = []
    if made is not None and not composed.exists():
        commands.append(Command(made, composed, 3.0 * len(renditions)))
    for rendition, path in signs:
        if not path.exists():
            command = signing.signed_command(sources, rendition, duration, _partial(path), job.fps)
            commands.append(Command(command, path, 3.0 * len(renditions)))
    if not all(path.exists() for path in audio):
        commands += _audio_commands(job, groups, lanes, duration, audio)
    run_side_by_side(job, "encode", commands, duration)
    return video, tracks, signs


def _packaged(job: Job) -> bool:
    return job.path(OUT_DIR, DOWNLOAD).exists() and job.path(OUT_DIR, HLS_DIR, hls.MASTER).exists()


def _audio_commands(
    job: Job,
    groups: list[tuple[int, list[Rendition]]],
    lanes: list[Lane],
    duration: float,
    audio: list[Path],
) -> list[Command]:
    """One ffmpeg per group; the first hands the decoded floor to the others through pipes
    (the read end is the other's standard input)."""
    pipes = [os.pipe() for _ in groups[1:]]
    commands = []
    for order, ((index, group), path) in enumerate(zip(groups, audio, strict=True)):
        file = lanes_file(index)
        mine = sorted((lane for lane in lanes if lane.file == file), key=lambda lane: lane.stream)
        first = order == 0
        command = audio_command(
            group,
            mine,
            Path(file) if mine else None,
            duration,
            _partial(path),
            [w for _, w in pipes] if first else None,
        )
        commands.append(
            Command(
                command,
                path,
                1.0,
                stdin=None if first else pipes[order - 1][0],
                pass_fds=tuple(w for _, w in pipes) if first else (),
                cwd=job.path(WORK_DIR),
            )
        )
    return commands


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".part")


@dataclasses.dataclass
class Command:
    """An ffmpeg command, the file it makes (renamed into place when it is complete), its
    share of the step's work, and what it gets of ours (pipe ends, working directory)."""

    command: Any
    result: Path | None = None
    weight: float = 1.0
    stdin: int | None = None
    pass_fds: tuple[int, ...] = ()
    cwd: Path | None = None


def run_side_by_side(job: Job, step: str, commands: list[Command], duration_s: float) -> None:
    """Run ffmpeg commands all at once (those joined by pipes must); each result is renamed
    into place when all are complete. Progress is their weighted mean. Pipe ends given to
    them are closed here once every process has its own."""
    done = dict.fromkeys(range(len(commands)), 0.0)
    total = sum(c.weight for c in commands) or 1.0
    processes = []
    try:
        for command in commands:
            processes.append(start_ffmpeg(job, step, command))
    finally:
        for command in commands:
            for fd in (command.stdin, *command.pass_fds):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
    failures: list[BaseException] = []

    def one(index: int) -> None:
        weight = commands[index].weight

        def fraction(value: float) -> None:
            done[index] = value * weight
            job.report(step, sum(done.values()) / total)

        try:
            watch_ffmpeg(job, step, processes[index], duration_s, fraction)
        except BaseException as error:
            failures.append(error)
            for other in processes:  # a process joined by a pipe would wait for ever
                with contextlib.suppress(OSError):
                    other.kill()
            raise

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(len(commands), 1)) as pool:
        futures = [pool.submit(one, index) for index in range(len(commands))]
        concurrent.futures.wait(futures)
    if failures:
        raise failures[0]
    for command in commands:
        if command.result is not None:
            _partial(command.result).replace(command.result)


def package_step(
    job: Job,
    session: Plan,
    chapters: list[Chapter],
    video: Path | None,
    tracks: list[tuple[Rendition, Path, int]],
    duration: float,
    extras: Background | None,
    signs: list[tuple[SignedRendition, Path]],
) -> None:
    """The MP4 download (with chapters) and the languages' and sign languages' HLS, side by
    side, all copied from the encoded files; then the HLS master over them and the video's
    (cut beside)."""
    commands = []
    final = job.path(OUT_DIR, DOWNLOAD)
    if not final.exists():
        metadata = job.path(WORK_DIR, "chapters.ffmeta")
        title = str(session.info.get("title") or "")
        metadata.write_text(ffmetadata(title, chapters, duration))
        extra = signing.download_streams(signs, (video is not None) + len(tracks))
        command = mux_command(video, tracks, title, metadata, _partial(final), extra)
        commands.append(Command(command, final))
    published = job.path(OUT_DIR, HLS_DIR)
    building = job.path(WORK_DIR, HLS_DIR)
    if not (published / hls.MASTER).exists():
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir()
        commands.append(Command(hls.audio_command(tracks, building)))
        for index, (_, path) in enumerate(signs):
            folder = building / signing.sign_dir(index)
            folder.mkdir()
            commands.append(Command(hls.video_command(path, folder)))
    run_side_by_side(job, "hls", commands, duration)
    if not building.is_dir():
        return
    resolution = None
    if extras is not None:
        resolution = extras.video_hls()
        job.path(WORK_DIR, HLS_VIDEO).replace(building / hls.VIDEO)
    renditions = [r for r, _, _ in tracks]
    variants = [
        (r.name, r.language, signing.sign_dir(index), _resolution(path))
        for index, (r, path) in enumerate(signs)
    ]
    (building / hls.MASTER).write_text(hls.master(renditions, building, resolution, variants))
    shutil.rmtree(published, ignore_errors=True)
    building.replace(published)


def images_step(job: Job, video: Path, duration: float) -> int:
    """A poster and a thumbnail every THUMB_EVERY_S of ``video`` (from keyframes only:
    no full decode, in one thread: a frame now and then is not worth a pool)."""
    thumbs = job.path(OUT_DIR, THUMBS_DIR)
    if not thumbs.is_dir():
        building = job.path(WORK_DIR, THUMBS_DIR)
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir()
        source = ffmpeg.input(str(video), skip_frame="nokey", threads=1)
        command = ffmpeg.output(
            source.video.filter("fps", f"1/{THUMB_EVERY_S}").filter("scale", 160, -2),
            str(building / "%05d.jpg"),
            start_number=0,
            fps_mode="vfr",
        ).global_args("-nostats", "-progress", "pipe:1")
        run_ffmpeg(job, "images", Command(command), duration, lambda _: None)
        building.replace(thumbs)
    poster = job.path(OUT_DIR, POSTER)
    if not poster.exists():
        partial = job.path(WORK_DIR, POSTER)
        # A tenth of the way in, else the first picture: ffmpeg writes nothing (and
        # says nothing) when it finds no picture from the point it was asked for.
        for at in (min(duration * 0.1, 30.0), 0.0):
            command = ffmpeg.output(
                ffmpeg.input(str(video), ss=f"{at:.3f}", threads=1).video.filter("scale", 640, -2),
                str(partial),
                frames=1,
                f="image2",
            )
            run_ffmpeg(job, "images", Command(command), 0, lambda _: None)
            if partial.exists():
                break
        else:
            raise PipelineError(f"no picture for a poster in {video.name}")
        partial.replace(poster)
    return len(list(thumbs.glob("*.jpg")))


class Background:
    """What the replay's video alone gives, in a thread of its own, started as soon as the
    video is there, beside the other steps: its HLS playlist, then the images (whose
    progress is reported when the result is asked for)."""

    def __init__(self, job: Job, duration: float) -> None:
        self.job, self.duration = job, duration
        self.thread: threading.Thread | None = None
        self.cut = threading.Event()  # the video's HLS is done (or failed: see error)
        self.resolution: tuple[int, int] | None = None
        self.count = 0
        self.error: BaseException | None = None

    @property
    def started(self) -> bool:
        return self.thread is not None

    def start(self, video: Path) -> None:
        def run() -> None:
            try:
                try:
                    self.resolution = video_hls_step(self.job, video)
                finally:
                    self.cut.set()
                self.count = images_step(self.job, video, self.duration)
            except BaseException as error:
                self.error = error
                self.cut.set()

        self.thread = threading.Thread(target=run, name="video-extras", daemon=True)
        self.thread.start()

    def video_hls(self) -> tuple[int, int]:
        """Wait for the video's HLS; its resolution."""
        self.cut.wait()
        if self.resolution is None:
            self.result()  # raises what went wrong
        assert self.resolution is not None
        return self.resolution

    def result(self) -> int:
        assert self.thread is not None
        self.thread.join()
        if self.error is not None:
            raise self.error
        self.job.report("images", 1.0)
        return self.count


def _resolution(video: Path) -> tuple[int, int]:
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        return (stream.width, stream.height)


def video_hls_step(job: Job, video: Path) -> tuple[int, int]:
    """The video's HLS playlist and segments (in work/, until the master is written);
    returns the video's resolution."""
    resolution = _resolution(video)
    done = job.path(WORK_DIR, HLS_VIDEO)
    if done.is_dir() or job.path(OUT_DIR, HLS_DIR, hls.MASTER).exists():
        return resolution
    building = _partial(done)
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    run_ffmpeg(job, "hls", Command(hls.video_command(video, building)), 0, lambda _: None)
    building.replace(done)
    return resolution


def run_ffmpeg(
    job: Job,
    step: str,
    command: Command,
    duration_s: float,
    fraction: Callable[[float], None] | None = None,
) -> None:
    """Run one ffmpeg command, turning its ``-progress`` lines into the job's progress
    (or into ``fraction(done)`` calls, when several run at once)."""
    watch_ffmpeg(job, step, start_ffmpeg(job, step, command), duration_s, fraction)


def start_ffmpeg(job: Job, step: str, command: Command) -> subprocess.Popen[bytes]:
    _check(job)
    args = command.command.global_args("-hide_banner", "-nostdin", "-loglevel", "error")
    args = args.overwrite_output().compile()
    log.info("ffmpeg", extra={"step": step, "command": " ".join(args)})
    return subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL if command.stdin is None else command.stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=command.pass_fds,
        cwd=command.cwd,
    )


def watch_ffmpeg(
    job: Job,
    step: str,
    process: subprocess.Popen[bytes],
    duration_s: float,
    fraction: Callable[[float], None] | None = None,
) -> None:
    """Follow a started ffmpeg to its end (killing it if the job is cancelled)."""
    report = fraction or functools.partial(job.report, step)
    errors: collections.deque[str] = collections.deque(maxlen=20)
    drain = threading.Thread(target=_drain, args=(process, errors), daemon=True)
    drain.start()
    try:
        assert process.stdout is not None
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
