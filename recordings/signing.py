"""Sign language in the replay: the replay's video with a signer's video as a picture in
picture, one rendition per sign-language channel recorded.

A sign-language interpreter publishes video (source ``signing``) into a channel such as
Serbian Sign Language (``ysl``); the recorder receives it only while they are on air, and
journals it with the channel's language. Each such channel becomes a video of its own:
the replay's video composed again (a copied camera too: it is drawn over), with each of
the channel's signers in the bottom start corner, a third of the picture's height (signs
are read from the hands and the face: smaller loses them), shown only while that signer
was on air. The trainer's camera, in a screen share, keeps the bottom end corner. The
learner hears the original sound with it (a sign language has no voice of its own).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ffmpeg

from recordings.render import (
    FPS,
    Source,
    canvas,
    three_letter,
    timed,
    video_graph,
    video_options,
)
from recordings.timeline import SignedRendition

PIP_SHARE = 1 / 3  # of the picture's height
PIP_MARGIN = 16  # pixels from the picture's edges


def sign_dir(index: int) -> str:
    """The HLS folder (and playlist name) of the ``index``th sign-language rendition."""
    return f"sign{index}"


def recorded(renditions: list[SignedRendition], sources: list[Source]) -> list[SignedRendition]:
    """The sign-language renditions that have a signer's video to show, over a replay that
    has a video (a recording of sound alone gets none: nothing to draw the signer over)."""
    joined = {s.info.id for s in sources}
    if video_graph(sources, 1.0) is None:
        return []
    return [r for r in renditions if any(signer.track in joined for signer in r.signers)]


def _shown(spans: tuple[tuple[float, float | None], ...], duration_s: float) -> str | None:
    """ffmpeg's ``enable`` expression for the signer's spans on air (None: always)."""
    if not spans:
        return None
    parts = [f"between(t,{a:.3f},{duration_s if b is None else b:.3f})" for a, b in spans]
    return "+".join(parts)


def signed_command(
    sources: list[Source],
    rendition: SignedRendition,
    duration_s: float,
    destination: Path,
    fps: int = FPS,
) -> Any:
    """The ffmpeg command encoding ``rendition`` (H.264 MP4, no sound): the replay's video
    composed on its canvas (a copied camera too), with the signers over it."""
    video = video_graph(sources, duration_s, fps, copy=False)
    assert video is not None, "a signed rendition needs the replay's video"
    _, height = canvas(sources)
    by_id = {s.info.id: s for s in sources}
    for signer in rendition.signers:
        source = by_id.get(signer.track)
        if source is None:
            continue
        pip = ffmpeg.input(str(source.path)).video.filter(
            "scale", -2, 2 * round(height * PIP_SHARE / 2)
        )
        options: dict[str, Any] = {"x": PIP_MARGIN, "y": f"H-h-{PIP_MARGIN}"}
        options["eof_action"] = "pass"
        enable = _shown(signer.spans, duration_s)
        if enable is not None:
            options["enable"] = enable
        video = video.overlay(pip, **options)
    video = video.filter("format", "yuv420p")
    return timed(ffmpeg.output(video, str(destination), f="mp4", **video_options(fps)))


def download_streams(
    signed: list[tuple[SignedRendition, Path]], first: int
) -> tuple[list[Any], dict[str, Any]]:
    """The signed renditions as extra video tracks of the MP4 download, after its main video
    (video stream 0) and the audio (``first``: the absolute index of the first of them):
    the streams, and their language and title options."""
    streams, options = [], {}
    for index, (rendition, path) in enumerate(signed):
        streams.append(ffmpeg.input(str(path)).video)
        options[f"metadata:s:v:{index + 1}"] = f"language={three_letter(rendition.language)}"
        options[f"metadata:s:{first + index}"] = f"title={rendition.name}"
        options[f"disposition:v:{index + 1}"] = "0"
    return streams, options
