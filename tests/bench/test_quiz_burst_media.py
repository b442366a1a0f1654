"""A quiz burst in a room that forwards media: 1,000 answers within 2 seconds while two
cameras go to 150 viewers. Before the router looked again only after events that change
forwarding, every answer re-evaluated every (track, viewer) pair on the event loop that
forwards the media (issue 12 measured p99 333 ms here, 2 ms in an empty room)."""

from __future__ import annotations

from config import load_settings
from loadtest.runner import LoadConfig, run
from tests.bench import report
from tests.bench.conftest import SECRET
from tests.bench.process import Server

PUBLISHERS, VIEWERS, ANSWERERS = 2, 150, 1000
TARGET_P99_MS = 50.0
COMMAND = ".venv/bin/python -m pytest tests/bench/test_quiz_burst_media.py -o addopts='' -s"


async def test_quiz_burst_in_a_room_forwarding_media(server: Server) -> None:
    settings = load_settings(environ={})
    config = LoadConfig(
        url=server.url,
        room="burst-media",
        publishers=PUBLISHERS,
        subscribers=VIEWERS,
        duration_s=8.0,
        warmup_s=4.0,
        quiz_burst=ANSWERERS,
        # Small pictures: the load generator shares its core with 1,150 participants; what
        # is measured is the server's control plane, not its bandwidth.
        bitrate=150_000,
        size=(320, 240),
        signing_key=SECRET,
        audience=settings.token_audience,
        issuer=settings.token_issuer,
    )
    result = await run(config)
    burst = result.quiz
    assert burst is not None
    figures = burst.to_json()
    p99 = figures["p99_ms"]
    viewers = [p for p in result.participants if p.name.startswith("sub-")]
    served = sum(1 for p in viewers if not p.error and (p.videos or 0) >= PUBLISHERS)
    body = (
        f"One room: {PUBLISHERS} publishers sending a 320x240 VP8 camera at 150 kbit/s and "
        f"Opus, {VIEWERS} viewers receiving both, and a trainer with {ANSWERERS} trainees "
        "who answer one quiz question at their own moments over 2 seconds "
        "(`classroom loadtest --publishers 2 --subscribers 150 --quiz-burst 1000`). "
        "Latency is from an answer sent to the trainer's tally counting it. The server is "
        "one process on core 0.\n\n"
        + report.table(
            (
                "answers",
                "refused",
                "p50 ms",
                "p99 ms",
                "max ms",
                "server CPU (cores)",
                "viewers getting both cameras",
            ),
            [
                (
                    burst.answers,
                    burst.refused,
                    figures["p50_ms"],
                    p99,
                    figures["max_ms"],
                    figures["server_cpu_cores"],
                    f"{served} of {VIEWERS}",
                )
            ],
        )
    )
    report.write(
        report.Section(
            name="quiz_burst_media",
            title="Quiz burst while forwarding 2 cameras to 150 viewers",
            target=f"p99 < {TARGET_P99_MS:.0f} ms",
            result=f"p50 {figures['p50_ms']:.0f} ms, p99 {p99:.0f} ms",
            met=p99 is not None and p99 < TARGET_P99_MS and burst.refused == 0,
            body=body,
            command=COMMAND,
        )
    )
    assert burst.accepted == ANSWERERS
