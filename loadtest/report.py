"""What a load test found, as a table for people or JSON for scripts, and its progress line."""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from typing import Any, TextIO

from loadtest.quiz import BurstResult

QUIZ_PREFIX = "quiz-"  # names of the participants who only answer the quiz burst


@dataclasses.dataclass
class ParticipantResult:
    name: str
    role: str
    publishes: bool
    join_ms: float | None  # websocket opened to welcome
    first_frame_ms: float | None = None  # websocket opened to the first remote video frame
    streams: int = 0  # remote streams received
    fps: float | None = None  # received video frames a second, mean over its video streams
    audio_fps: float | None = None
    loss: float | None = None  # fraction of packets lost, over every received stream
    kbps: float | None = None  # received, every stream
    error: str | None = None
    videos: int = 0  # of the streams received, videos
    video_fps_min: float | None = None  # of its video stream with the fewest frames
    every_video_ms: float | None = None  # websocket opened to a first frame of every video
    late: bool = False  # joined once media flowed


@dataclasses.dataclass
class Report:
    url: str
    room: str
    duration_s: float
    sent_fps: float | None  # the publishers' video frame rate
    participants: list[ParticipantResult]
    server: dict[str, float | None]  # cpu_cores, rss_bytes and media counters from /metrics
    quiz: BurstResult | None = None

    def summary(self) -> dict[str, Any]:
        joined = [p.join_ms for p in self.participants if p.join_ms is not None]
        fps = [p.fps for p in self.participants if p.fps is not None]
        lowest = [p.video_fps_min for p in self.participants if p.video_fps_min is not None]
        losses = [p.loss for p in self.participants if p.loss is not None]
        frames = [
            p.first_frame_ms
            for p in self.participants
            if p.first_frame_ms is not None and not p.late
        ]
        late = [p for p in self.participants if p.late]
        late_first = [p.first_frame_ms for p in late if p.first_frame_ms is not None]
        late_every = [p.every_video_ms for p in late if p.every_video_ms is not None]
        return {
            "participants": len(self.participants),
            "failed": sum(1 for p in self.participants if p.error),
            "join_ms_p50": _median(joined),
            "join_ms_max": max(joined) if joined else None,
            "first_frame_ms_p50": _median(frames),
            "late_first_frame_ms_p50": _median(late_first),
            "late_first_frame_ms_max": max(late_first) if late_first else None,
            "late_every_video_ms_p50": _median(late_every),
            "late_every_video_ms_max": max(late_every) if late_every else None,
            "fps_mean": statistics.fmean(fps) if fps else None,
            "fps_min": min(lowest) if lowest else None,  # of any one video stream
            "loss_mean": statistics.fmean(losses) if losses else None,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "room": self.room,
            "duration_s": self.duration_s,
            "sent_fps": self.sent_fps,
            "summary": self.summary(),
            "server": self.server,
            "quiz": self.quiz.to_json() if self.quiz else None,
            "participants": [dataclasses.asdict(p) for p in self.participants],
        }


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _fmt(value: float | None, pattern: str = "{:.0f}") -> str:
    return "-" if value is None else pattern.format(value)


def render_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False)


def render_table(report: Report) -> str:
    """A fixed-width table, one line per participant, then the summary and the server."""
    header = ("participant", "role", "join ms", "1st frame ms", "streams", "fps", "loss %", "kbps")
    # Quiz answerers only join and answer: one line for all of them, not a thousand.
    listed = [p for p in report.participants if not p.name.startswith(QUIZ_PREFIX)]
    answerers = [p for p in report.participants if p.name.startswith(QUIZ_PREFIX)]
    rows = [
        (
            p.name + (" (pub)" if p.publishes else ""),
            p.role,
            _fmt(p.join_ms),
            _fmt(p.first_frame_ms),
            str(p.streams),
            _fmt(p.fps, "{:.1f}"),
            _fmt(None if p.loss is None else p.loss * 100, "{:.2f}"),
            _fmt(p.kbps),
        )
        for p in listed
    ]
    if answerers:
        joins = [p.join_ms for p in answerers if p.join_ms is not None]
        rows.append(
            (
                f"{QUIZ_PREFIX}0..{len(answerers) - 1}",
                "trainee",
                f"p50 {_fmt(_median(joins))}",
                "-",
                "0",
                "-",
                "-",
                "-",
            )
        )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(0, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    errors = [f"  {p.name}: {p.error}" for p in report.participants if p.error]
    summary = report.summary()
    rss = report.server.get("rss_bytes")
    loss = summary["loss_mean"]
    lines += [
        "",
        f"{report.url} room {report.room}, {report.duration_s:.0f} s measured, "
        f"{summary['participants']} participants ({summary['failed']} failed)",
        f"join p50 {_fmt(summary['join_ms_p50'])} ms, max {_fmt(summary['join_ms_max'])} ms; "
        f"first frame p50 {_fmt(summary['first_frame_ms_p50'])} ms",
        *(
            [
                f"late joiners: first frame p50 {_fmt(summary['late_first_frame_ms_p50'])} ms, "
                f"max {_fmt(summary['late_first_frame_ms_max'])} ms; every video p50 "
                f"{_fmt(summary['late_every_video_ms_p50'])} ms, "
                f"max {_fmt(summary['late_every_video_ms_max'])} ms"
            ]
            if any(p.late for p in report.participants)
            else []
        ),
        f"video fps sent {_fmt(report.sent_fps, '{:.1f}')}, received mean "
        f"{_fmt(summary['fps_mean'], '{:.1f}')}, min {_fmt(summary['fps_min'], '{:.1f}')}; "
        f"loss {_fmt(None if loss is None else loss * 100, '{:.2f}')} %",
        f"server CPU {_fmt(report.server.get('cpu_cores'), '{:.2f}')} cores, memory "
        f"{_fmt(None if rss is None else rss / 2**20)} MiB",
    ]
    if report.quiz is not None:
        quiz = report.quiz.to_json()
        lines.append(
            f"quiz burst: {quiz['answers']} answers ({quiz['refused']} refused), answer to "
            f"trainer's tally p50 {_fmt(quiz['p50_ms'])} ms, p99 {_fmt(quiz['p99_ms'])} ms, "
            f"server CPU {_fmt(quiz['server_cpu_cores'], '{:.2f}')} cores"
        )
    if errors:
        lines += ["", "errors:", *errors]
    return "\n".join(lines)


class Progress:
    """A progress line on stderr: redrawn in place on a terminal, else a plain line every 5 s."""

    def __init__(self, total_s: float, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total_s = total_s
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self._last = 0.0

    def update(self, elapsed_s: float, status: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            done = min(1.0, elapsed_s / self.total_s) if self.total_s > 0 else 1.0
            bar = "#" * round(done * 30)
            self.stream.write(
                f"\r[{bar:<30}] {elapsed_s:4.0f}/{self.total_s:.0f} s  {status}\x1b[K"
            )
            self.stream.flush()
        elif time.monotonic() - self._last >= 5.0:
            self._last = time.monotonic()
            self.stream.write(f"loadtest: {elapsed_s:.0f}/{self.total_s:.0f} s  {status}\n")
            self.stream.flush()

    def note(self, text: str) -> None:
        if not self.enabled:
            return
        self.stream.write(("\r\x1b[K" if self.tty else "") + f"loadtest: {text}\n")
        self.stream.flush()

    def done(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
