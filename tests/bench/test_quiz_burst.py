"""A quiz burst: 1,000 websocket participants answer within 2 seconds; answer to trainer's tally."""

from __future__ import annotations

from loadtest.runner import LoadConfig, run
from tests.bench import report
from tests.bench.conftest import SECRET
from tests.bench.process import Server

ANSWERERS = 1000
TARGET_P99_MS = 200.0


async def test_quiz_burst(server: Server) -> None:
    from config import load_settings

    settings = load_settings(environ={})
    config = LoadConfig(
        url=server.url,
        room="burst",
        publishers=0,
        subscribers=0,
        duration_s=1.0,
        warmup_s=2.0,
        quiz_burst=ANSWERERS,
        signing_key=SECRET,
        audience=settings.token_audience,
        issuer=settings.token_issuer,
    )
    result = await run(config)
    burst = result.quiz
    assert burst is not None
    figures = burst.to_json()
    joins = sorted(p.join_ms or 0.0 for p in result.participants)
    p99 = figures["p99_ms"]
    met = p99 is not None and p99 < TARGET_P99_MS and burst.refused == 0
    body = (
        f"One room: a trainer and {ANSWERERS} trainees on websockets (the load tool, "
        "`classroom loadtest --quiz-burst 1000`). The trainer starts a one-question quiz; "
        "every trainee answers at its own moment spread evenly over 2 seconds. Latency "
        "is from an answer being sent to the first `question_tallied` at the trainer "
        "that counts it (the n-th answer sent against the tally reaching n). The server "
        "runs as one process pinned to one core; its CPU is read from its /metrics over "
        "the burst.\n\n"
        + report.table(
            ("answers", "refused", "p50 ms", "p99 ms", "max ms", "server CPU (cores)"),
            [
                (
                    burst.answers,
                    burst.refused,
                    figures["p50_ms"],
                    figures["p99_ms"],
                    figures["max_ms"],
                    figures["server_cpu_cores"],
                )
            ],
        )
        + f"\nJoining the {ANSWERERS + 1} participants (each join announced to the whole "
        f"room): median {joins[len(joins) // 2]:.0f} ms, slowest {joins[-1]:.0f} ms.\n"
    )
    report.write(
        report.Section(
            name="quiz_burst",
            title="Quiz burst (1,000 answers in 2 s)",
            target=f"p99 < {TARGET_P99_MS:.0f} ms on one core",
            result=f"p50 {figures['p50_ms']:.0f} ms, p99 {p99:.0f} ms",
            met=met,
            body=body,
            command=".venv/bin/python -m pytest tests/bench/test_quiz_burst.py -o addopts='' -s",
        )
    )
    assert burst.accepted == ANSWERERS
