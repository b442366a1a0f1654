"""Subtitles of a replay: one WebVTT file per language, in the HLS and in the MP4.

A trainer gives a language's subtitles as WebVTT or SRT (with an upload, or later for
any recording). They are checked (ffmpeg must read cues from them), converted to
WebVTT under ``out/subtitles/<lang>.vtt``, offered in the HLS master as a
``TYPE=SUBTITLES`` rendition per language (a one-segment playlist each: the whole
file, as players take it), and carried in the MP4 download as ``mov_text`` tracks
tagged with their language. Replacing a language's subtitles does all three again;
the video and the sound are never touched (the MP4 is copied with the new tracks).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import av

from classroom.errors import InvalidValue
from recordings.hls import MASTER
from recordings.render import three_letter
from recordings.uploads import FileRefused

SUBTITLES_DIR = "subtitles"
DOWNLOAD_RECORD = "in-download.json"  # which subtitles the MP4 carries now
GROUP = "subs"
MAX_BYTES = 4 * 1024 * 1024  # a module's subtitles are a few hundred kB at most
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


def check_language(language: str) -> str:
    if not _LANGUAGE.match(language):
        raise InvalidValue(f"{language[:20]!r} is not a language code (sr, en, sr-Latn...)")
    return language


def check(path: Path, name: str) -> int:
    """The number of cues in a WebVTT or SRT file; InvalidValue when it has none or is
    not one of them."""
    if path.stat().st_size > MAX_BYTES:
        raise FileRefused(
            "too_large", name, f"larger than a subtitle file can be ({MAX_BYTES} bytes)"
        )
    try:
        with av.open(str(path)) as container:
            if container.format.name not in ("webvtt", "srt"):
                raise FileRefused("not_subtitles", name, "not a WebVTT or SRT subtitle file")
            cues = sum(1 for packet in container.demux() if packet.size)
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        raise FileRefused("not_subtitles", name, "not a WebVTT or SRT subtitle file") from None
    if not cues:
        raise FileRefused("no_cues", name, "holds no subtitles")
    return cues


def to_webvtt(source: Path, destination: Path) -> None:
    """Convert (or rewrite) ``source`` as WebVTT, in place of ``destination``."""
    partial = destination.with_name(destination.name + ".part")
    _ffmpeg(["-i", str(source), "-f", "webvtt", str(partial)])
    partial.replace(destination)


def publish(out: Path, languages: Iterable[str], duration_s: float) -> list[dict[str, Any]]:
    """Offer every language under ``out/subtitles`` in the HLS master and the MP4 (those
    given in ``languages`` first, in that order); what the manifest lists."""
    folder = out / SUBTITLES_DIR
    present = sorted(p.stem for p in folder.glob("*.vtt")) if folder.is_dir() else []
    ordered = [lang for lang in languages if lang in present]
    ordered += [lang for lang in present if lang not in ordered]
    for language in ordered:
        playlist = folder / f"{language}.m3u8"
        text = _playlist(f"{language}.vtt", duration_s)
        if not playlist.is_file() or playlist.read_text() != text:
            playlist.write_text(text)
    master = out / "hls" / MASTER
    if master.is_file():
        before = master.read_text()
        after = with_subtitles(before, ordered)
        if after != before:  # (a step done is not done again)
            master.write_text(after)
    download = out / "download.mp4"
    carried = folder / DOWNLOAD_RECORD
    wanted = [[lang, _digest(folder / f"{lang}.vtt")] for lang in ordered]
    had = json.loads(carried.read_text()) if carried.is_file() else []
    if download.is_file() and wanted != had:
        remux(download, [(lang, folder / f"{lang}.vtt") for lang in ordered])
        folder.mkdir(exist_ok=True)
        carried.write_text(json.dumps(wanted))
    return [{"language": lang, "file": f"{SUBTITLES_DIR}/{lang}.vtt"} for lang in ordered]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _playlist(file: str, duration_s: float) -> str:
    length = max(math.ceil(duration_s), 1)
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n"
        f"#EXT-X-TARGETDURATION:{length}\n#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-PLAYLIST-TYPE:VOD\n"
        f"#EXTINF:{duration_s:.3f},\n{file}\n#EXT-X-ENDLIST\n"
    )


def with_subtitles(master: str, languages: list[str]) -> str:
    """``master`` with a SUBTITLES rendition per language (none: as it was made)."""
    lines = [
        line
        for line in master.splitlines()
        if not line.startswith(f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="{GROUP}"')
    ]
    lines = [re.sub(rf',SUBTITLES="{GROUP}"', "", line) for line in lines]
    if not languages:
        return "\n".join(lines) + "\n"
    media = [
        f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="{GROUP}",NAME="{lang}",LANGUAGE="{lang}",'
        f'AUTOSELECT=YES,DEFAULT=NO,URI="../{SUBTITLES_DIR}/{lang}.m3u8"'
        for lang in languages
    ]
    first_variant = next(i for i, line in enumerate(lines) if line.startswith("#EXT-X-STREAM-INF"))
    lines[first_variant:first_variant] = media
    lines = [
        f'{line},SUBTITLES="{GROUP}"' if line.startswith("#EXT-X-STREAM-INF") else line
        for line in lines
    ]
    return "\n".join(lines) + "\n"


def remux(download: Path, tracks: list[tuple[str, Path]]) -> None:
    """The MP4 with its picture and sound copied and ``tracks`` as its subtitle tracks
    (replacing those it had)."""
    partial = download.with_name(download.name + ".subs.part")
    args = ["-i", str(download)]
    for _, path in tracks:
        args += ["-i", str(path)]
    args += ["-map", "0:v?", "-map", "0:a?"]
    for index in range(len(tracks)):
        args += ["-map", f"{index + 1}:s:0"]
    args += ["-c", "copy", "-c:s", "mov_text", "-map_chapters", "0", "-movflags", "+faststart"]
    for index, (language, _) in enumerate(tracks):
        args += [f"-metadata:s:s:{index}", f"language={three_letter(language)}"]
        args += [f"-metadata:s:s:{index}", f"title={language}"]
    _ffmpeg([*args, "-f", "mp4", str(partial)])
    partial.replace(download)


def listed(manifest_file: Path) -> list[dict[str, Any]]:
    try:
        found = json.loads(manifest_file.read_text()).get("subtitles", [])
    except (OSError, ValueError):
        return []
    return list(found) if isinstance(found, list) else []


def _ffmpeg(args: list[str]) -> None:
    command = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise InvalidValue(f"ffmpeg could not write the subtitles: {done.stderr.strip()[-300:]}")
