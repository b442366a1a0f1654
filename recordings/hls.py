"""HLS for the replay: the video and the languages cut apart (copied, fMP4 segments), and
the master playlist that ties them together, written here.

The video is cut as soon as it exists (beside the audio encoding, when the camera is
copied) and the languages from the encoded files, beside the MP4; ffmpeg's own master
would need both in one run, and it takes a video's bandwidth from a bit rate that a
joined Matroska file does not carry. Here BANDWIDTH is what HLS asks for: the peak
bit rate of a segment (of the video plus the heaviest language).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import ffmpeg

from recordings.render import replay_streams, timed
from recordings.timeline import Rendition

MASTER = "master.m3u8"
VIDEO = "video"
AUDIO_GROUP = "group_audio"
SEGMENT_S = 6


def audio_name(index: int) -> str:
    return f"audio{index}"


def video_command(video: Path, directory: Path) -> Any:
    """The video's playlist and segments, under ``directory``."""
    return timed(
        ffmpeg.output(
            ffmpeg.input(str(video)).video,
            str(directory / "index.m3u8"),
            c="copy",
            **_options(directory / "segment%05d.m4s"),
            hls_fmp4_init_filename="init.mp4",
        )
    )


def audio_command(audio: list[tuple[Rendition, Path, int]], directory: Path) -> Any:
    """Each language's playlist and segments, under ``directory/audio<index>/``."""
    variants = " ".join(f"a:{index},name:{audio_name(index)}" for index in range(len(audio)))
    return timed(
        ffmpeg.output(
            *replay_streams(None, audio),
            str(directory / "%v" / "index.m3u8"),
            c="copy",
            var_stream_map=variants,
            **_options(directory / "%v" / "segment%05d.m4s"),
        )
    )


def _options(segments: Path) -> dict[str, Any]:
    return {
        "f": "hls",
        "hls_time": SEGMENT_S,
        "hls_playlist_type": "vod",
        "hls_segment_type": "fmp4",
        "hls_segment_filename": str(segments),
    }


def bandwidth(playlist: Path) -> tuple[int, int]:
    """(peak, average) bit rate of a media playlist's segments, in bits per second."""
    peak = 0.0
    total_bits = total_s = 0.0
    duration: float | None = None
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].split(",")[0])
        elif line and not line.startswith("#") and duration:
            bits = (playlist.parent / line).stat().st_size * 8
            peak = max(peak, bits / duration)
            total_bits, total_s = total_bits + bits, total_s + duration
            duration = None
    return math.ceil(peak), math.ceil(total_bits / total_s) if total_s else 0


def master(
    renditions: list[Rendition],
    directory: Path,
    resolution: tuple[int, int] | None,
    signed: list[tuple[str, str, str, tuple[int, int]]] | None = None,
) -> str:
    """The master playlist of what is under ``directory``: every language an audio
    rendition (the first the default), and the video (``resolution``; None: no video)
    or, with no video, each language as a variant of its own. Each ``signed`` (name,
    language, folder, resolution) is a variant after the video's, with the same sounds,
    named (NAME, which players that do not know it ignore, as HLS asks them to)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7"]
    rates = []
    for index, rendition in enumerate(renditions):
        uri = f"{audio_name(index)}/index.m3u8"
        rates.append(bandwidth(directory / uri))
        name = rendition.name.replace('"', "'")
        default = "YES" if index == 0 else "NO"
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}",NAME="{name}",AUTOSELECT=YES,'
            f'DEFAULT={default},LANGUAGE="{rendition.language}",URI="{uri}"'
        )
    heaviest = max(rates, default=(0, 0))
    if resolution is not None:
        peak, average = bandwidth(directory / VIDEO / "index.m3u8")
        width, height = resolution
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={peak + heaviest[0]},"
            f"AVERAGE-BANDWIDTH={average + heaviest[1]},RESOLUTION={width}x{height},"
            f'AUDIO="{AUDIO_GROUP}"'
        )
        lines.append(f"{VIDEO}/index.m3u8")
        for name, language, folder, (width, height) in signed or []:
            peak, average = bandwidth(directory / folder / "index.m3u8")
            named = name.replace('"', "'")
            lines.append(
                f"#EXT-X-STREAM-INF:BANDWIDTH={peak + heaviest[0]},"
                f"AVERAGE-BANDWIDTH={average + heaviest[1]},RESOLUTION={width}x{height},"
                f'AUDIO="{AUDIO_GROUP}",NAME="{named}",LANGUAGE="{language}"'
            )
            lines.append(f"{folder}/index.m3u8")
    else:
        for index, (peak, average) in enumerate(rates):
            lines.append(
                f"#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},"
                f'CODECS="mp4a.40.2",AUDIO="{AUDIO_GROUP}"'
            )
            lines.append(f"{audio_name(index)}/index.m3u8")
    return "\n".join(lines) + "\n"
