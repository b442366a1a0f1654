"""Generated recordings: real encoded media fed through the real recorder, quickly.

For tests and benchmarks: ``generate_session`` writes a recording's raw segments and
journal as if a session had been recorded live: a trainer's camera and microphone,
a screen share, interpreters in booths of two (each channel's pair hands over
halfway), polls, a quiz question. Short clips are encoded once by ffmpeg (VP8 or
H.264 video, Opus audio, each voice a sine tone of its own) and their packets are
repeated with rising RTP timestamps, so a ten-minute session takes seconds.
"""

from __future__ import annotations

import dataclasses
import fractions
import hashlib
import heapq
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import ffmpeg

from media.tracks import RTP_WRAP, SenderReport, TrackInfo
from recordings.library import Library, RecordingStatus, new_recording_id
from recordings.recorder import Recorder

CLIP_S = 10.0
VIDEO_CLOCK = 90000
AUDIO_CLOCK = 48000
SENDER_REPORT_EVERY_S = 5.0
TONE_AMPLITUDE = 1 / 8  # ffmpeg's sine source


@dataclasses.dataclass(frozen=True)
class Voice:
    """Who speaks in a generated session, on which track, with which tone."""

    participant: str
    name: str
    role: str
    source: str  # microphone or interpretation
    tone_hz: int
    language: str | None = None


@dataclasses.dataclass
class Generated:
    status: RecordingStatus
    directory: Path
    voices: list[Voice]
    handover_s: float  # when each channel's booth hands over
    screen: tuple[float, float] | None


def encode_clip(
    path: Path,
    kind: str,
    codec: str,
    *,
    tone_hz: int = 440,
    screen: bool = False,
    amplitude: float = TONE_AMPLITUDE,
    pattern: str | None = None,
) -> Path:
    """A CLIP_S-second clip: a test pattern (video) or a sine tone (audio), cached by name."""
    if path.exists():
        return path
    if kind == "audio":
        source = ffmpeg.input(f"sine=f={tone_hz}:r=48000", f="lavfi", t=CLIP_S)
        if amplitude != TONE_AMPLITUDE:
            source = source.filter("volume", amplitude / TONE_AMPLITUDE)
        options: dict[str, Any] = {"c:a": "libopus", "b:a": "32k", "ac": 1, "f": "webm"}
    else:
        size, rate = ("1280x720", 5) if screen else ("640x360", 15)
        pattern = pattern or ("testsrc" if screen else "testsrc2")
        source = ffmpeg.input(f"{pattern}=size={size}:rate={rate}", f="lavfi", t=CLIP_S)
        if codec == "vp8":
            options = {"c:v": "libvpx", "deadline": "realtime", "cpu-used": 8, "b:v": "400k"}
            options.update(g=10_000, f="webm")
        else:
            options = {"c:v": "libx264", "preset": "ultrafast", "tune": "zerolatency"}
            options.update({"profile:v": "baseline", "g": 10_000, "bsf:v": "h264_mp4toannexb"})
            options.update(f="h264", pix_fmt="yuv420p")
    partial = path.with_name(path.name + ".part")
    ffmpeg.output(source, str(partial), **options).overwrite_output().run(quiet=True)
    partial.replace(path)
    return path


def clip_packets(path: Path, clock_rate: int) -> list[tuple[int, bytes]]:
    """(RTP ticks from the clip's start, encoded frame) for every frame of a clip."""
    packets: list[tuple[int, bytes]] = []
    with av.open(str(path)) as container:
        stream = container.streams[0]
        frame_ticks = clock_rate // 15 if stream.type == "video" else 960
        for index, packet in enumerate(container.demux(stream)):
            if not packet.size:
                continue
            if packet.pts is None or packet.time_base is None:
                ticks = index * frame_ticks  # a raw H.264 stream has no timestamps
            else:
                ticks = round(packet.pts * packet.time_base * clock_rate)
            packets.append((max(ticks, 0), bytes(packet)))
    return packets


def _loop(
    packets: list[tuple[int, bytes]], clock_rate: int, start: float, end: float
) -> Iterator[tuple[float, int, bytes]]:
    """The clip's packets repeated from ``start`` to ``end`` (session seconds, ticks, data)."""
    period = round(CLIP_S * clock_rate)
    offset = 0
    while True:
        for ticks, data in packets:
            t = start + (offset + ticks) / clock_rate
            if t >= end:
                return
            yield t, offset + ticks, data
        offset += period


def _tagged(
    index: int, packets: Iterator[tuple[float, int, bytes]]
) -> Iterator[tuple[float, int, int, bytes]]:
    for t, ticks, data in packets:
        yield t, index, ticks, data


def _jitter(name: str, n: int) -> float:
    """A repeatable network delay of 10 to 40 ms."""
    digest = hashlib.blake2b(f"{name}{n}".encode(), digest_size=2).digest()
    return 0.010 + int.from_bytes(digest, "big") / 65535 * 0.030


def generate_session(
    library: Library,
    cache: Path,
    *,
    duration_s: float = 600.0,
    floor_language: str = "sr",
    channels: tuple[str, ...] = ("en", "sq"),
    video_codec: str = "vp8",
    screen: tuple[float, float] | None = (0.25, 0.75),  # share of the session
    title: str = "Generated session",
    module_id: str | None = "m04-smuggling",
    started_at: float = 1_700_000_000.0,
    segment_s: float = 3.0,
    amplitude: float = TONE_AMPLITUDE,  # of every voice's tone (1: full scale)
    camera: bool = True,  # the trainer's camera
    signed: tuple[str, ...] = (),  # sign-language channels, each with a signer on air
    signing_s: tuple[float, float] = (0.3, 0.8),  # when signers are on air: share of the session
) -> Generated:
    """Write a stopped recording into the library, ready to be processed."""
    cache.mkdir(parents=True, exist_ok=True)
    status = RecordingStatus(
        id=new_recording_id(started_at),
        room="generated",
        title=title,
        module_id=module_id,
        trainer="Ana Petrović",
        started_at=started_at,
    )
    directory = library.create(status)
    now = [started_at]
    recorder = Recorder(directory, lambda: now[0], segment_s=segment_s, durable=False)
    recorder.start(
        room=status.room, title=title, module_id=module_id, floor_language=floor_language
    )

    voices = [Voice("trainer", "Ana Petrović", "trainer", "microphone", 300)]
    for index, lang in enumerate(channels):
        for booth, letter in enumerate("AB"):
            tone = 1000 + 400 * (2 * index + booth)
            pid = f"interpreter-{lang}-{letter.lower()}"
            voices.append(
                Voice(
                    pid,
                    f"Interpreter {lang.upper()} {letter}",
                    "interpreter",
                    "interpretation",
                    tone,
                    lang,
                )
            )
    streams: list[Iterator[tuple[float, int, int, bytes]]] = []
    tracks: list[tuple[TrackInfo, int]] = []  # with the RTP timestamp of session time 0

    def add(info: TrackInfo, clip: Path, start: float, end: float, rtp_base: int) -> None:
        index = len(tracks)
        tracks.append((info, rtp_base))
        packets = _loop(clip_packets(clip, info.clock_rate), info.clock_rate, start, end)
        streams.append(_tagged(index, packets))

    if camera:
        camera_clip = encode_clip(cache / f"camera.{video_codec}", "video", video_codec)
        add(
            TrackInfo(
                "cam",
                "trainer",
                "camera",
                "video",
                video_codec,
                VIDEO_CLOCK,
                None,
                "Ana Petrović",
                "trainer",
            ),
            camera_clip,
            0.2,
            duration_s,
            RTP_WRAP - VIDEO_CLOCK * 7,
        )
    share = None
    if screen is not None:
        share = (duration_s * screen[0], duration_s * screen[1])
        screen_clip = encode_clip(
            cache / f"screen.{video_codec}", "video", video_codec, screen=True
        )
        add(
            TrackInfo(
                "screen",
                "trainer",
                "screen",
                "video",
                video_codec,
                VIDEO_CLOCK,
                None,
                "Ana Petrović",
                "trainer",
            ),
            screen_clip,
            share[0],
            share[1],
            123_456,
        )
    for lang in signed:  # colour bars: told apart from the camera's pattern at a glance
        signer_clip = encode_clip(
            cache / f"signer.{video_codec}", "video", video_codec, pattern="smptebars"
        )
        add(
            TrackInfo(
                f"sign-{lang}",
                f"signer-{lang}",
                "signing",
                "video",
                video_codec,
                VIDEO_CLOCK,
                lang,
                f"Signer {lang.upper()}",
                "interpreter",
            ),
            signer_clip,
            duration_s * signing_s[0],
            duration_s * signing_s[1],
            777_000,
        )
    for number, voice in enumerate(voices):
        loud = "" if amplitude == TONE_AMPLITUDE else f"-{amplitude:g}"
        clip = encode_clip(
            cache / f"tone{voice.tone_hz}{loud}.opus",
            "audio",
            "opus",
            tone_hz=voice.tone_hz,
            amplitude=amplitude,
        )
        info = TrackInfo(
            f"a{number}",
            voice.participant,
            voice.source,
            "audio",
            "opus",
            AUDIO_CLOCK,
            voice.language,
            voice.name,
            voice.role,
        )
        add(info, clip, 0.1 + 0.05 * number, duration_s, 1000 * number)

    handover = duration_s / 2
    events: list[tuple[float, str, dict[str, Any]]] = [
        (
            0.5,
            "participant_joined",
            {
                "participant": {"id": "trainer", "name": "Ana Petrović", "role": "trainer"},
                "rejoined": False,
            },
        ),
        (
            duration_s * 0.4,
            "poll_opened",
            {"poll": {"id": "p1", "question": "Which route is most used?"}},
        ),
        (
            duration_s * 0.6,
            "question_opened",
            {
                "quiz": "q1",
                "index": 0,
                "question": {"text": "Who may apply for asylum?"},
                "deadline": 0,
            },
        ),
    ]
    if share is not None:
        events.append((share[0], "screen_share_changed", {"id": "trainer", "sharing": True}))
        events.append((share[1], "screen_share_changed", {"id": "trainer", "sharing": False}))
    for lang in channels:
        first, second = f"interpreter-{lang}-a", f"interpreter-{lang}-b"
        events.append(
            (
                1.0,
                "on_air_changed",
                {
                    "channel": lang,
                    "id": first,
                    "name": f"Interpreter {lang.upper()} A",
                    "previous": None,
                },
            )
        )
        events.append(
            (
                handover,
                "on_air_changed",
                {
                    "channel": lang,
                    "id": second,
                    "name": f"Interpreter {lang.upper()} B",
                    "previous": first,
                },
            )
        )
    for lang in signed:
        on_air = {"channel": lang, "id": f"signer-{lang}", "name": f"Signer {lang.upper()}"}
        events.append((duration_s * signing_s[0], "on_air_changed", on_air))
        off_air = {"channel": lang, "id": None, "name": None, "previous": f"signer-{lang}"}
        events.append((duration_s * signing_s[1], "on_air_changed", off_air))
    events.sort(key=lambda e: e[0])

    for info, _ in tracks:
        now[0] = started_at + 0.1
        recorder.on_track(info)
    next_report = [SENDER_REPORT_EVERY_S] * len(tracks)
    pending = list(events)
    for count, (t, index, ticks, data) in enumerate(
        heapq.merge(*streams, key=lambda item: item[0])
    ):
        while pending and pending[0][0] <= t:
            at, type_, body = pending.pop(0)
            now[0] = started_at + at
            recorder.record_event(type_, body)
        info, base = tracks[index]
        now[0] = started_at + t + _jitter(info.id, count)
        packet = av.Packet(data)
        packet.pts = (base + ticks) % RTP_WRAP
        packet.time_base = fractions.Fraction(1, info.clock_rate)
        recorder.on_packet(info.id, packet)
        if t >= next_report[index]:
            next_report[index] += SENDER_REPORT_EVERY_S
            # The trainer's machine runs 3.2 s ahead of the server's clock.
            skew = 3.2 if info.participant == "trainer" else -1.5
            rtp = (base + ticks) % RTP_WRAP
            recorder.on_sender_report(info.id, SenderReport(started_at + t + skew, rtp, rtp))
    now[0] = started_at + duration_s
    recorder.stop()
    status = library.update(
        status.id, status="processing", stopped_at=now[0], stop_reason="stopped"
    )
    return Generated(status, directory, voices, handover, share)
