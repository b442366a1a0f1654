"""The ffmpeg graphs (through ffmpeg-python) making the replay: one video, an audio per language.

Video: the trainer's camera, and while a screen is shared the screen with the
camera as a picture in picture. A lone H.264 camera is copied as it is; anything
else is composed and encoded to H.264 once. Audio: the renditions are shared
among as many ffmpeg processes as there are cores (``audio_groups``); each reads
its lanes file (``recordings.lanes``: the voices still encoded), decodes every
voice once, puts it on the session clock (silence before it starts and in its
gaps) and makes its renditions from it: the floor alone (the original), or a
channel's interpretation over the floor at -14 dB, with the headroom that keeps
the sum from clipping. The first process decodes the floor and hands it, decoded,
to the others through pipes. The MP4 and the HLS are then copied from the video
and their outputs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import ffmpeg
from ffmpeg.nodes import FilterableStream, FilterNode, Node

from media.tracks import TrackInfo
from recordings.lanes import Lane
from recordings.timeline import Chapter, Plan, Rendition, titled_spans

FLOOR_UNDER_INTERPRETATION_DB = -14.0
UNDER = 10 ** (FLOOR_UNDER_INTERPRETATION_DB / 20)
FPS = 15
# Interpreting standards (ISO 24019) ask for 125 Hz to 15 kHz in every language track:
# 48 kHz carries it (at 24 kHz nothing above 12 kHz survived), as browsers send Opus.
AUDIO_RATE = 48000
# ffmpeg's own AAC encoder, variable bit rate: about 48 kbit/s for speech. Its "fast" coder
# takes half the time of the default one; at a constant bit rate it encodes a frame again
# (up to five times) whenever the frame misses the rate, which constant quality never does.
AUDIO_QUALITY = 0.7
AUDIO_OPTIONS = {"c:a": "aac", "aac_coder": "fast", "q:a": AUDIO_QUALITY, "ac": 1, "ar": AUDIO_RATE}
FLOOR_PIPE = {"f": "f32le", "ar": AUDIO_RATE, "ac": 1}  # the decoded floor between processes
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


def video_graph(
    sources: list[Source], duration_s: float, fps: int = FPS, copy: bool = True
) -> Any | None:
    """The replay's video stream: composed, or the lone H.264 camera as it is (unless
    ``copy`` is False: composed all the same, to draw over it); None: no video."""
    cameras = camera_sources(sources)
    screens = [s for s in sources if s.info.source == "screen"]
    if not cameras and not screens:
        return None
    if copy and copies_video(sources):
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


def _on_session_clock(stream: Any) -> Any:
    """A decoded voice at the replay's rate, with silence before it starts and in its gaps
    (timestamps are session time: the lanes are written so)."""
    return stream.filter("aresample", AUDIO_RATE, **{"async": 1, "first_pts": 0})


def _exactly(stream: Any, duration_s: float) -> Any:
    return stream.filter("apad", whole_dur=f"{duration_s:.3f}").filter(
        "atrim", end=f"{duration_s:.3f}"
    )


def _mix(streams: list[Any], weights: list[float] | None = None, duration: str = "longest") -> Any:
    if len(streams) == 1 and weights is None:
        return streams[0]
    options: dict[str, Any] = {"inputs": len(streams), "duration": duration, "normalize": 0}
    if weights is not None:
        options["weights"] = " ".join(f"{w:.6g}" for w in weights)
    return ffmpeg.filter(streams, "amix", **options)


class _Source(FilterNode):
    """A filter that makes streams of its own (amovie, anullsrc); ffmpeg-python's
    ``FilterNode`` insists on an input."""

    def __init__(self, name: str, *args: Any, **kwargs: Any) -> None:
        Node.__init__(
            self,
            stream_spec=None,
            name=name,
            incoming_stream_types={},
            outgoing_stream_type=FilterableStream,
            min_inputs=0,
            max_inputs=0,
            args=list(args),
            kwargs=kwargs,
        )


def headroom(voices: int) -> float:
    """The gain on an interpretation's mix (its voices over the floor at UNDER) that keeps
    it no louder than the louder of its inputs, so the mix adds no clipping and the AAC
    encoder never turns a frame down (it does above 0.95). With one voice, -1.6 dB; a
    limiter would cost a third as much as decoding the voice."""
    return 1.0 / (max(voices, 1) + UNDER)


def renditions_recorded(plan: Plan, lanes: list[Lane]) -> list[Rendition]:
    """The plan's renditions that have audio: the original, and channels heard on air."""
    heard = {lane.channel for lane in lanes if lane.packets}
    return [r for r in plan.renditions if r.channel is None or r.channel in heard]


def audio_groups(renditions: list[Rendition], cores: int) -> list[list[Rendition]]:
    """The renditions each ffmpeg process makes: one process per core, the original (and
    the floor's decoding) in the first. Audio encoding is single-threaded in ffmpeg."""
    count = max(1, min(cores, len(renditions)))
    return [renditions[index::count] for index in range(count)]


def lanes_file(group: int) -> str:
    """The lanes file the audio process ``group`` reads."""
    return f"lanes{group}.mkv"


def group_of(file: str) -> int:
    return int(file.removeprefix("lanes").removesuffix(".mkv"))


def rendition_groups(
    renditions: list[Rendition], lanes: list[Lane]
) -> list[tuple[int, list[Rendition]]]:
    """(group, its renditions) as the join shared the lanes out (group g reads lanes file
    g), the first always there; a group left with nothing to make is left out."""
    groups: dict[int, list[Rendition]] = {0: []}
    for rendition in renditions:
        if rendition.channel is None:
            groups[0].append(rendition)
            continue
        group = next(
            group_of(lane.file)
            for lane in lanes
            if lane.channel == rendition.channel and lane.packets
        )
        groups.setdefault(group, []).append(rendition)
    return sorted(groups.items())


def group_lanes(lanes: list[Lane], group: list[Rendition], first: bool) -> list[Lane]:
    """The lanes a group's process reads: the floor's (first process only) and its channels'."""
    channels = {r.channel for r in group if r.channel is not None}
    return [
        lane
        for lane in lanes
        if (lane.channel is None and first)
        or (lane.channel is not None and lane.channel in channels)
    ]


def audio_command(
    group: list[Rendition],
    lanes: list[Lane],
    lanes_path: Path | None,
    duration_s: float,
    destination: Path,
    floor_pipes: list[int] | None = None,
) -> Any:
    """One process's ffmpeg: ``group``'s renditions (AAC, mono) as the audio streams of
    ``destination``, from ``lanes`` (the streams of ``lanes_path``, in order).

    ``floor_pipes`` None: the floor comes decoded on standard input (from the first
    process); otherwise this is the first process: it decodes the floor and also writes
    it, decoded, to each of these file descriptors.
    """
    voices: dict[int, Any] = {}  # lane index -> decoded
    needs_floor = floor_pipes is None
    if lanes_path is not None and lanes:
        if needs_floor:  # the pipe is the input: the lanes come through a filter
            movie = _Source(
                "amovie", str(lanes_path), s="+".join(str(i) for i in range(len(lanes)))
            )
            streams = [movie.stream(index) for index in range(len(lanes))]
        else:  # one input file: ffmpeg reads it in its main thread
            source = ffmpeg.input(str(lanes_path))
            streams = [source[f"a:{index}"] for index in range(len(lanes))]
        voices = {index: _on_session_clock(s) for index, s in enumerate(streams)}
    if needs_floor:
        floor = ffmpeg.input("pipe:0", **FLOOR_PIPE).audio
    else:
        floors = [voices[i] for i, lane in enumerate(lanes) if lane.channel is None]
        if floors:
            floor = _exactly(_mix(floors), duration_s)
        elif voices:
            floor = _exactly(_Source("anullsrc", r=AUDIO_RATE, cl="mono").stream(), duration_s)
        else:
            silence = ffmpeg.input(f"anullsrc=r={AUDIO_RATE}:cl=mono", f="lavfi").audio
            floor = _exactly(silence, duration_s)
    pipes = floor_pipes or []
    users = len(group) + len(pipes)
    if users > 1:
        split = floor.filter_multi_output("asplit", users)
        copies = [split.stream(index) for index in range(users)]
    else:
        copies = [floor]
    outputs = []
    for rendition, copy in zip(group, copies, strict=False):
        if rendition.channel is None:
            outputs.append(copy)
            continue
        heard = [voices[i] for i, lane in enumerate(lanes) if lane.channel == rendition.channel]
        gain = headroom(len(heard))
        weights = [gain * UNDER] + [gain] * len(heard)
        outputs.append(_mix([copy, *heard], weights, duration="first"))  # as long as the floor
    commands = [ffmpeg.output(*outputs, str(destination), f="mp4", **AUDIO_OPTIONS)]
    for fd, copy in zip(pipes, copies[len(group) :], strict=True):
        commands.append(ffmpeg.output(copy, f"pipe:{fd}", **FLOOR_PIPE))
    return timed(ffmpeg.merge_outputs(*commands))


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


def timed(command: Any) -> Any:
    """Timestamps kept as they are (the session clock), progress reported on stdout."""
    return command.global_args("-copyts", "-nostats", "-progress", "pipe:1")


def copied_video(sources: list[Source]) -> Path | None:
    """The joined camera file the replay's video is copied from, if it is copied."""
    return camera_sources(sources)[0].path if copies_video(sources) else None


def video_command(
    sources: list[Source], duration_s: float, destination: Path, fps: int = FPS
) -> Any | None:
    """The ffmpeg command composing and encoding the replay's video (MP4); None when there
    is nothing to encode (no video, or a lone H.264 camera, copied as it is)."""
    if copies_video(sources):
        return None
    video = video_graph(sources, duration_s, fps)
    if video is None:
        return None
    return timed(ffmpeg.output(video, str(destination), f="mp4", **video_options(fps)))


def video_options(fps: int) -> dict[str, Any]:
    """How a composed video is encoded: H.264, a keyframe every 2 s (HLS segments cut
    cleanly), its colours tagged as they are (BT.601, limited range: browsers' cameras and
    ffmpeg's conversions): Chromium shows an untagged H.264 darker than the same colours
    tagged (the camera's green 135 at 77), so a composed rendition would not match the
    copied camera's."""
    options: dict[str, Any] = {"c:v": "libx264", "preset": "superfast", "crf": 26, "g": fps * 2}
    options["force_key_frames"] = "expr:gte(t,n_forced*2)"
    options.update(color_range="tv", colorspace="smpte170m")
    options.update(color_primaries="smpte170m", color_trc="smpte170m")
    return options


def replay_streams(video: Path | None, audio: list[tuple[Rendition, Path, int]]) -> list[Any]:
    """The replay's streams in order: the video (if any), then each rendition as the file
    and audio stream index it is in (each file read once)."""
    streams: list[Any] = [ffmpeg.input(str(video)).video] if video is not None else []
    inputs: dict[Path, Any] = {}
    for _, path, stream in audio:
        if path not in inputs:
            inputs[path] = ffmpeg.input(str(path))
        streams.append(inputs[path][f"a:{stream}"])
    return streams


def mux_command(
    video: Path | None,
    audio: list[tuple[Rendition, Path, int]],
    title: str,
    metadata_file: Path,
    destination: Path,
    extra: tuple[list[Any], dict[str, Any]] = ([], {}),
) -> Any:
    """The MP4 download, copied together: the video, each language a tagged track, chapters;
    then ``extra`` streams (with their options): each sign language a video track."""
    streams = replay_streams(video, audio) + extra[0]
    first = 1 if video is not None else 0
    options: dict[str, Any] = {}
    for index, (rendition, _, _) in enumerate(audio):
        # The language by audio index, the title by absolute index: two distinct options,
        # as ffmpeg-python takes each option name once.
        options[f"metadata:s:a:{index}"] = f"language={three_letter(rendition.language)}"
        options[f"metadata:s:{first + index}"] = f"title={rendition.name}"
        options[f"disposition:a:{index}"] = "default" if index == 0 else "0"
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
        **extra[1],
    )
    return timed(command)
