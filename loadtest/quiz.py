"""A quiz burst: many participants answer one question at once; how soon the trainer's tally moves.

The trainer makes a one-question quiz and starts it; every answerer sends its
answer at its own moment spread over ``spread_s`` seconds. Each ``question_tallied``
the trainer receives says how many have answered: the n-th answer sent is taken
as counted when a tally first reaches n (the server handles answers in arrival
order), which gives each answer's latency from send to updated tally.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import time
from typing import Any

from loadtest.participant import Participant

QUESTION = {
    "text": "Which body hears an asylum appeal?",
    "options": ["A court", "The border police", "The ministry", "Nobody"],
    "correct": [0],
    "time_limit_s": 120,
}


@dataclasses.dataclass(frozen=True)
class BurstResult:
    answers: int
    accepted: int
    refused: int
    latencies_ms: tuple[float, ...]  # per counted answer, sorted
    server_cpu_cores: float | None = None

    def percentile(self, p: float) -> float | None:
        if not self.latencies_ms:
            return None
        # Nearest rank: the smallest value with at least p% of the values at or below it.
        rank = math.ceil(p / 100 * len(self.latencies_ms))
        index = min(len(self.latencies_ms) - 1, max(0, rank - 1))
        return self.latencies_ms[index]

    def to_json(self) -> dict[str, Any]:
        return {
            "answers": self.answers,
            "accepted": self.accepted,
            "refused": self.refused,
            "p50_ms": self.percentile(50),
            "p99_ms": self.percentile(99),
            "max_ms": self.latencies_ms[-1] if self.latencies_ms else None,
            "server_cpu_cores": self.server_cpu_cores,
        }


def latencies(sent: list[float], tallies: list[tuple[int, float]]) -> list[float]:
    """Latency of the n-th answer sent: until the first tally that counts n answers."""
    sent = sorted(sent)
    result: list[float] = []
    reached = 0
    for answered, at in sorted(tallies, key=lambda t: t[1]):
        while reached < min(answered, len(sent)):
            result.append(at - sent[reached])
            reached += 1
    return sorted(result)


async def quiz_burst(
    trainer: Participant, answerers: list[Participant], spread_s: float = 2.0
) -> BurstResult:
    """Run one burst; the trainer must be a trainer and every answerer joined."""
    created = await trainer.request(
        "create_quiz",
        "quiz_created",
        reply_echoes_ref=False,
        title="Load test",
        questions=[QUESTION],
        leaderboard=False,
    )
    quiz_id = created["quiz"]["id"]

    opened = [a.wait_for("question_opened", lambda m: m["quiz"] == quiz_id) for a in answerers]
    tallies: list[tuple[int, float]] = []
    counted = asyncio.Event()
    wanted = len(answerers)

    def on_tally(message: dict[str, Any]) -> None:
        if message.get("quiz") == quiz_id:
            tallies.append((message["tally"]["answered"], message["_at"]))
            if message["tally"]["answered"] >= wanted:
                counted.set()

    trainer.on("question_tallied", on_tally)
    await trainer.send("start_quiz", quiz=quiz_id)
    await asyncio.wait_for(asyncio.gather(*opened), 60)

    sent: list[float] = []
    results = [
        a.wait_for("quiz_answer_recorded", lambda m: m["quiz"] == quiz_id) for a in answerers
    ]
    start = time.monotonic()

    async def answer(n: int, who: Participant) -> None:
        await asyncio.sleep(max(0.0, start + spread_s * n / len(answerers) - time.monotonic()))
        sent.append(time.monotonic())
        await who.send("answer_quiz", quiz=quiz_id, index=0, choices=[n % 4])

    await asyncio.gather(*(answer(n, who) for n, who in enumerate(answerers)))
    done = await asyncio.wait(results, timeout=30)
    accepted = len(done[0])
    for pending in done[1]:
        pending.cancel()
    wanted = accepted
    if tallies and max(t[0] for t in tallies) >= wanted:
        counted.set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(counted.wait(), 10)
    await trainer.send("end_quiz", quiz=quiz_id)
    return BurstResult(
        answers=len(sent),
        accepted=accepted,
        refused=len(sent) - accepted,
        latencies_ms=tuple(latency * 1000 for latency in latencies(sent, tallies)),
    )
