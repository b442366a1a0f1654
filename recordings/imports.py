"""Material recorded elsewhere into the library: a video, its languages, subtitles, chapters.

A trainer uploads a module's video (a conference camera's MP4, a produced film),
optionally an audio file per further language and a subtitle file (WebVTT or SRT)
per language, and a list of chapters. ``check_*`` say at once what is wrong with a
file (not media, no picture, no sound, a subtitle file that is neither format),
before anything is queued. ``prepare`` moves the checked uploads into a new library
entry with ``import.json``; the worker then runs ``process_import``, which makes
what the recording pipeline makes, with its packaging steps: HLS renditions, the MP4
download with a tagged track per language and the chapters, poster and thumbnails.

A video learners' browsers decode (H.264, 4:2:0, 8 bits) is copied, never encoded
again; anything else is encoded once, as the pipeline encodes a composed replay.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from pathlib import Path
from typing import Any

import av
import ffmpeg

from classroom.errors import InvalidValue
from recordings import hls, subtitles
from recordings.pipeline import (
    CHAPTERS_VTT,
    DOWNLOAD,
    HLS_DIR,
    MANIFEST,
    OUT_DIR,
    POSTER,
    THUMB_EVERY_S,
    WORK_DIR,
    Background,
    Command,
    Job,
    PipelineError,
    Progress,
    _partial,
    _write_atomically,
    chapters_vtt,
    package_step,
    run_side_by_side,
)
from recordings.render import AUDIO_OPTIONS, FPS, Rendition
from recordings.timeline import Chapter, Plan
from recordings.uploads import FileRefused

IMPORT_FILE = "import.json"
INPUT_DIR = "input"
MAX_CHAPTERS = 200
_CHAPTER = re.compile(
    r"^\s*(?:(\d{1,2}):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?\s*[-\u2013:]?\s*(.+?)\s*$"
)
COPYABLE_PIXELS = ("yuv420p", "yuvj420p")


@dataclasses.dataclass(frozen=True)
class Language:
    """A language's file among the inputs: ``file`` is its name in ``input/``."""

    language: str
    file: str


@dataclasses.dataclass(frozen=True)
class ImportSpec:
    """What an import is made of (written as ``import.json``)."""

    title: str
    language: str  # spoken in the video's own sound
    video: str
    audio: tuple[Language, ...] = ()
    subtitles: tuple[Language, ...] = ()
    chapters: tuple[tuple[float, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImportSpec:
        return cls(
            title=str(data["title"]),
            language=str(data["language"]),
            video=str(data["video"]),
            audio=tuple(Language(**a) for a in data.get("audio", [])),
            subtitles=tuple(Language(**s) for s in data.get("subtitles", [])),
            chapters=tuple((float(s), str(t)) for s, t in data.get("chapters", [])),
        )


def parse_chapters(text: str) -> tuple[tuple[float, str], ...]:
    """One chapter per line, ``[h:]mm:ss title`` (``00:00 Welcome``, ``1:02:30 - Quiz``)."""
    found: list[tuple[float, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _CHAPTER.match(line)
        if match is None:
            raise FileRefused(
                "bad_chapter", f"line {number}", f"write it as 'mm:ss title': {line!r}"
            )
        hours, minutes, seconds, fraction, title = match.groups()
        if int(seconds) >= 60 or (hours is not None and int(minutes) >= 60):
            raise FileRefused("bad_chapter", f"line {number}", f"{line.split()[0]} is not a time")
        start = (
            int(hours or 0) * 3600
            + int(minutes) * 60
            + int(seconds)
            + (float(f"0.{fraction}") if fraction else 0.0)
        )
        if found and start <= found[-1][0]:
            raise FileRefused("bad_chapter", f"line {number}", "chapters must go forward in time")
        found.append((start, title[:200]))
    if len(found) > MAX_CHAPTERS:
        raise InvalidValue(f"at most {MAX_CHAPTERS} chapters")
    return tuple(found)


@dataclasses.dataclass(frozen=True)
class Probed:
    duration_s: float
    video_codec: str | None
    copyable: bool  # a video learners' browsers decode as it is
    audio_streams: int


def probe(path: Path, name: str) -> Probed:
    """What a media file holds; InvalidValue naming ``name`` when it is not media."""
    try:
        with av.open(str(path)) as container:
            videos = [s for s in container.streams.video if s.codec_context is not None]
            audios = list(container.streams.audio)
            duration = (container.duration or 0) / av.time_base
            video = videos[0] if videos else None
            codec = video.codec_context.name if video is not None else None
            pixels = video.codec_context.format.name if video and video.codec_context.format else ""
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        raise FileRefused("not_media", name, "not a video or audio file ffmpeg can read") from None
    if duration <= 0:
        raise FileRefused("no_length", name, "the file says nothing of its length")
    copyable = codec == "h264" and pixels in COPYABLE_PIXELS
    return Probed(duration, codec, copyable, len(audios))


def check_video(path: Path, name: str) -> Probed:
    found = probe(path, name)
    if found.video_codec is None:
        raise FileRefused("no_picture", name, "has no picture")
    return found


def check_audio(path: Path, name: str) -> Probed:
    found = probe(path, name)
    if not found.audio_streams:
        raise FileRefused("no_sound", name, "has no sound")
    return found


def prepare(directory: Path, spec: ImportSpec, files: dict[str, Path]) -> None:
    """Move the checked uploads (``input/`` name -> where they are) into ``directory``
    and write its ``import.json``; the worker does the rest."""
    inputs = directory / INPUT_DIR
    inputs.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        source.replace(inputs / name)
    _write_atomically(directory / IMPORT_FILE, json.dumps(spec.to_json(), ensure_ascii=False))


def read_manifest(path: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    _write_atomically(path, json.dumps(manifest, ensure_ascii=False))


def is_import(directory: Path) -> bool:
    return (directory / IMPORT_FILE).is_file()


def process_import(
    directory: Path,
    progress: Progress,
    cancel: threading.Event | None = None,
    fps: int = FPS,
) -> dict[str, Any]:
    """Every step not done yet; the manifest, as ``pipeline.process`` gives for a recording."""
    job = Job(directory, progress, cancel or threading.Event(), fps)
    try:
        spec = ImportSpec.from_json(json.loads(job.path(IMPORT_FILE).read_text()))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PipelineError(f"the import cannot be read: {error}") from None
    for name in (WORK_DIR, OUT_DIR):
        job.path(name).mkdir(exist_ok=True)
    source = job.path(INPUT_DIR, spec.video)
    try:
        found = check_video(source, spec.video)
    except InvalidValue as error:
        raise PipelineError(error.message) from None
    duration = round(max(found.duration_s, 1.0), 3)
    renditions = [Rendition(spec.language, None, f"Original ({spec.language})")]
    renditions += [Rendition(a.language, a.language, a.language) for a in spec.audio]
    audio = job.path(WORK_DIR, "audio0.mp4")
    video = source if found.copyable else job.path(WORK_DIR, "video.mp4")
    commands = []
    if not video.exists():
        commands.append(Command(_encode_video(source, _partial(video), fps), video, 3.0))
    if not audio.exists():
        command = _audio(source, found.audio_streams > 0, spec, job, duration, _partial(audio))
        commands.append(Command(command, audio, 1.0 * len(renditions)))
    extras = Background(job, duration)
    if video.exists():
        extras.start(video)
    run_side_by_side(job, "encode", commands, duration)
    if not extras.started:
        extras.start(video)
    chapters = [Chapter(0.0, "start", spec.title, {})] if not spec.chapters else []
    chapters += [Chapter(s, "chapter", t, {}) for s, t in spec.chapters if s < duration]
    session = Plan(0.0, {"title": spec.title}, [], duration, duration, spec.language, renditions,
                   {}, chapters)  # fmt: skip
    tracks = [(r, audio, index) for index, r in enumerate(renditions)]
    package_step(job, session, chapters, video, tracks, duration, extras, [])
    folder = job.path(OUT_DIR, subtitles.SUBTITLES_DIR)
    folder.mkdir(exist_ok=True)
    for given in spec.subtitles:
        made = folder / f"{given.language}.vtt"
        if not made.exists():
            subtitles.to_webvtt(job.path(INPUT_DIR, given.file), made)
    languages = [s.language for s in spec.subtitles]
    captions = subtitles.publish(job.path(OUT_DIR), languages, duration)
    thumbnails = extras.result()
    manifest = {
        "duration_s": duration,
        "video": True,
        "video_copied": found.copyable,
        "audio": [
            {"language": r.language, "channel": r.channel, "name": r.name} for r in renditions
        ],
        "signed": [],
        "subtitles": captions,
        "chapters": [c.to_json() for c in chapters],
        "thumbnails": {"every_s": THUMB_EVERY_S, "count": thumbnails},
        "files": {
            "hls": f"{HLS_DIR}/{hls.MASTER}",
            "download": DOWNLOAD,
            "poster": POSTER,
            "chapters": CHAPTERS_VTT,
        },
        "warnings": [],
        "interrupted": False,
        "imported": True,
    }
    _write_atomically(job.path(OUT_DIR, CHAPTERS_VTT), chapters_vtt(chapters, duration))
    write_manifest(job.path(OUT_DIR, MANIFEST), manifest)
    return manifest


def _encode_video(source: Path, destination: Path, fps: int) -> Any:
    """A video browsers cannot decode as it is, in H.264 (at most 1080 lines), as the
    pipeline encodes a composed replay."""
    picture = ffmpeg.input(str(source)).video.filter("scale", -2, "min(ih,1080)")
    options: dict[str, Any] = {"c:v": "libx264", "preset": "superfast", "crf": 23, "g": fps * 2}
    options["force_key_frames"] = "expr:gte(t,n_forced*2)"
    picture = picture.filter("format", "yuv420p")
    return _progress(ffmpeg.output(picture, str(destination), f="mp4", an=None, **options))


def _audio(
    source: Path, has_sound: bool, spec: ImportSpec, job: Job, duration: float, destination: Path
) -> Any:
    """Each language as an audio stream of one file, as long as the video: its own sound
    (silence when it has none) first, then each further language's file."""
    if has_sound:
        streams = [ffmpeg.input(str(source))["a:0"]]
    else:
        streams = [ffmpeg.input("anullsrc=r=48000:cl=mono", f="lavfi").audio]
    streams += [ffmpeg.input(str(job.path(INPUT_DIR, a.file)))["a:0"] for a in spec.audio]
    exact = [
        s.filter("apad", whole_dur=f"{duration:.3f}").filter("atrim", end=f"{duration:.3f}")
        for s in streams
    ]
    return _progress(ffmpeg.output(*exact, str(destination), f="mp4", **AUDIO_OPTIONS))


def _progress(command: Any) -> Any:
    """Progress on stdout, as the pipeline reads it (timestamps from zero, as the file has)."""
    return command.global_args("-nostats", "-progress", "pipe:1")
