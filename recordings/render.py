"""The ffmpeg graph (through ffmpeg-python) making the replay: one video, an audio per language.

Video: the trainer's camera, and while a screen is shared the screen with the
camera as a picture in picture. A lone H.264 camera is copied as it is; anything
else is composed and encoded to H.264 once. Audio: every track is put on the
session clock (silence before it starts and in its gaps), the floor is mixed,
and each interpretation channel is its interpreters (only while on air) over
the floor at about -14 dB. Each is its own ffmpeg process (they run side by side); the
MP4 is then copied together from them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import ffmpeg

from recordings.timeline import Chapter, Plan, Rendition, titled_spans
from recordings.tracks import TrackInfo

FLOOR_UNDER_INTERPRETATION_DB = -14.0
FPS = 15
AUDIO_BITRATE = "48k"
AUDIO_RATE = 24000  # speech: 12 kHz of bandwidth, and half the encoding work of 48 kHz
# ISO 639-2 codes for MP4 (which has no room for two-letter ones); others go as they are.
ISO639_2 = {
    "sr": "srp",
    "bs": "bos",
    "hr": "hrv",
    "mk": "mkd",
    "sq": "sqi",
    "en": "eng",
    "fr": "fra",
    "tr": "tur",
    "ar": "ara",
    "ps": "pus",
    "fa": "fas",
    "de": "deu",
    "it": "ita",
}


@dataclasses.dataclass(frozen=True)
class Source:
    """A joined track file and when (session seconds) its packets start and end."""

    info: TrackInfo
    path: Path
    start_s: float
    end_s: float


def three_letter(language: str) -> str:
    return ISO639_2.get(language, language if len(language) == 3 else "und")


def _between(spans: list[tuple[float, float]]) -> str:
    return "+".join(f"between(t,{a:.3f},{b:.3f})" for a, b in spans) or "0"


def camera_sources(sources: list[Source]) -> list[Source]:
    """The trainers' cameras (everyone's, if no trainer's camera was recorded)."""
    cameras = [s for s in sources if s.info.source == "camera"]
    trainers = [s for s in cameras if s.info.role == "trainer"]
    return trainers or cameras


def copies_video(sources: list[Source]) -> bool:
    """Whether the replay's video is a lone H.264 camera, which is copied, not encoded."""
    cameras = camera_sources(sources)
    screens = [s for s in sources if s.info.source == "screen"]
    return not screens and len(cameras) == 1 and cameras[0].info.codec == "h264"


def canvas(sources: list[Source]) -> tuple[int, int]:
    return (1280, 720) if any(s.info.source == "screen" for s in sources) else (854, 480)


def video_graph(sources: list[Source], duration_s: float, fps: int = FPS) -> Any | None:
    """The replay's video stream: composed, or the lone H.264 camera as it is; None: no video."""
    cameras = camera_sources(sources)
    screens = [s for s in sources if s.info.source == "screen"]
    if not cameras and not screens:
        return None
    if copies_video(sources):
        return ffmpeg.input(str(cameras[0].path)).video
    width, height = canvas(sources)
    video = ffmpeg.input(
        f"color=c=black:s={width}x{height}:r={fps}:d={duration_s:.3f}", f="lavfi"
    ).video
    shared = _between([(s.start_s, s.end_s) for s in screens])
    centred = {"x": "(W-w)/2", "y": "(H-h)/2", "eof_action": "pass"}
    pips = []
    for camera in cameras:
        split = ffmpeg.input(str(camera.path)).video.filter_multi_output("split", 2)
        full, pip = split.stream(0), split.stream(1)
        full = full.filter("scale", width, height, force_original_aspect_ratio="decrease")
        video = video.overlay(full, enable=f"not({shared})", **centred)
        pips.append(
            pip.filter("scale", width // 4, height // 4, force_original_aspect_ratio="decrease")
        )
    for screen in screens:
        picture = ffmpeg.input(str(screen.path)).video.filter(
            "scale", width, height, force_original_aspect_ratio="decrease"
        )
        video = video.overlay(picture, **centred)
    for pip in pips:
        video = video.overlay(pip, x="W-w-16", y="H-h-16", eof_action="pass", enable=f"{shared}")
    return video.filter("format", "yuv420p")


def _on_session_clock(source: Source) -> Any:
    """The decoded track with silence before it starts and in its gaps."""
    return ffmpeg.input(str(source.path)).audio.filter("aresample", **{"async": 1, "first_pts": 0})


def _mix(streams: list[Any]) -> Any:
    if len(streams) == 1:
        return streams[0]
    return ffmpeg.filter(streams, "amix", inputs=len(streams), duration="longest", normalize=0)


def renditions_recorded(plan: Plan, sources: list[Source]) -> list[Rendition]:
    """The plan's renditions that have audio: the original, and channels with interpreters."""
    channels = {s.info.language for s in sources if s.info.source == "interpretation"}
    return [r for r in plan.renditions if r.channel is None or r.channel in channels]


def audio_graph(plan: Plan, sources: list[Source], rendition: Rendition, duration_s: float) -> Any:
    """One rendition's mix, exactly ``duration_s`` long (see the module's docstring)."""
    floors = [s for s in sources if s.info.kind == "audio" and s.info.source == "microphone"]
    if floors:
        mixed = _mix([_on_session_clock(s) for s in floors])
    else:
        mixed = ffmpeg.input("anullsrc=r=48000:cl=mono", f="lavfi").audio
    if rendition.channel is not None:
        under = mixed.filter("volume", f"{FLOOR_UNDER_INTERPRETATION_DB}dB")
        voices = []
        spans = plan.on_air.get(rendition.channel)
        for interpreter in sources:
            if interpreter.info.source != "interpretation":
                continue
            if interpreter.info.language != rendition.channel:
                continue
            voice = _on_session_clock(interpreter)
            if spans is not None:  # silent whenever this interpreter was not on air
                mine = [
                    (a, duration_s if b is None else b)
                    for who, a, b in spans
                    if who == interpreter.info.participant
                ]
                voice = voice.filter("volume", 0, enable=f"not({_between(mine)})")
            voices.append(voice)
        mixed = _mix([under, *voices]).filter("alimiter", limit=0.95, level=0)
    return mixed.filter("apad", whole_dur=f"{duration_s:.3f}").filter(
        "atrim", end=f"{duration_s:.3f}"
    )


def escape_metadata(text: str) -> str:
    for char in "\\=;#\n":
        text = text.replace(char, "\\" + char)
    return text


def ffmetadata(title: str, chapters: list[Chapter], duration_s: float) -> str:
    """Chapters in ffmpeg's metadata format (each ends where the next begins)."""
    lines = [";FFMETADATA1", f"title={escape_metadata(title)}"]
    for start, end, name in titled_spans(chapters, duration_s):
        lines += [
            "[CHAPTER]",
            "TIMEBASE=1/1000",
            f"START={round(start * 1000)}",
            f"END={round(end * 1000)}",
            f"title={escape_metadata(name)}",
        ]
    return "\n".join(lines) + "\n"


def _timed(command: Any) -> Any:
    """Timestamps kept as they are (the session clock), progress reported on stdout."""
    return command.global_args("-copyts", "-nostats", "-progress", "pipe:1")


def video_command(
    sources: list[Source], duration_s: float, destination: Path, fps: int = FPS
) -> Any | None:
    """The ffmpeg command writing the replay's video alone (MP4); None when there is none."""
    video = video_graph(sources, duration_s, fps)
    if video is None:
        return None
    if copies_video(sources):
        options: dict[str, Any] = {"c:v": "copy"}
    else:
        options = {"c:v": "libx264", "preset": "superfast", "crf": 26, "g": fps * 2}
        options["force_key_frames"] = "expr:gte(t,n_forced*2)"  # HLS segments cut cleanly
    return _timed(ffmpeg.output(video, str(destination), f="mp4", **options))


def audio_command(
    plan: Plan, sources: list[Source], rendition: Rendition, duration_s: float, destination: Path
) -> Any:
    """The ffmpeg command writing one rendition (AAC, mono: the voices of a classroom)."""
    stream = audio_graph(plan, sources, rendition, duration_s)
    options = {"c:a": "aac", "b:a": AUDIO_BITRATE, "ac": 1, "ar": AUDIO_RATE}
    return _timed(ffmpeg.output(stream, str(destination), f="mp4", **options))


def mux_command(
    video: Path | None,
    audio: list[tuple[Rendition, Path]],
    title: str,
    metadata_file: Path,
    destination: Path,
) -> Any:
    """The MP4 download, copied together: the video, each language a tagged track, chapters."""
    streams: list[Any] = [ffmpeg.input(str(video)).video] if video is not None else []
    options: dict[str, Any] = {}
    for index, (rendition, path) in enumerate(audio):
        # The language by audio index, the title by absolute index: two distinct options,
        # as ffmpeg-python takes each option name once.
        options[f"metadata:s:a:{index}"] = f"language={three_letter(rendition.language)}"
        options[f"metadata:s:{len(streams)}"] = f"title={rendition.name}"
        options[f"disposition:a:{index}"] = "default" if index == 0 else "0"
        streams.append(ffmpeg.input(str(path)).audio)
    chapters = ffmpeg.input(str(metadata_file), f="ffmetadata")
    command = ffmpeg.output(
        *streams,
        chapters["d?"],  # brings the chapters input in; its chapters are copied
        str(destination),
        c="copy",
        movflags="+faststart",
        metadata=f"title={title}",
        f="mp4",
        **options,
    )
    return _timed(command)
