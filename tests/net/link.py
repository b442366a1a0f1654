"""What a link does to each packet, decided by a seeded random generator (no I/O).

The kernel here has token buckets (``tc tbf``) but no ``netem``: bandwidth is shaped by
tc, and delay, jitter and loss are decided here, for the relay (``tests.net.relay``)
to apply. ``Impairment`` means what netem's ``delay D J loss L`` means: each packet is
lost with probability ``loss``, else leaves ``delay_s`` plus a uniform draw in
``[-jitter_s, +jitter_s]`` after it came (never before it came), so packets may
overtake each other, as they do with netem's jitter. The same seed gives the same
decisions, so a run can be repeated.
"""

from __future__ import annotations

import dataclasses
import heapq
import random
from typing import Any


@dataclasses.dataclass(frozen=True)
class Impairment:
    delay_s: float = 0.0
    jitter_s: float = 0.0
    loss: float = 0.0

    def to_json(self) -> dict[str, float]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Impairment:
        return cls(**data)


class Link:
    """One direction of a link: packets in, packets out when they are due (or never)."""

    def __init__(self, impairment: Impairment, seed: int) -> None:
        self.impairment = impairment
        self.random = random.Random(seed)
        self.queue: list[tuple[float, int, bytes]] = []  # (due, arrival order, packet)
        self.arrived = 0
        self.lost = 0
        self.sent = 0

    def put(self, packet: bytes, now: float) -> None:
        """A packet arrives at ``now`` (seconds, any monotonic clock)."""
        self.arrived += 1
        given = self.impairment
        if given.loss and self.random.random() < given.loss:
            self.lost += 1
            return
        wait = given.delay_s
        if given.jitter_s:
            wait += self.random.uniform(-given.jitter_s, given.jitter_s)
        heapq.heappush(self.queue, (now + max(0.0, wait), self.arrived, packet))

    def due(self, now: float) -> list[bytes]:
        """The packets whose time has come, in the order they leave."""
        out = []
        queue = self.queue
        while queue and queue[0][0] <= now:
            out.append(heapq.heappop(queue)[2])
        self.sent += len(out)
        return out

    def next_due(self) -> float | None:
        return self.queue[0][0] if self.queue else None

    def figures(self) -> dict[str, int]:
        return {"arrived": self.arrived, "lost": self.lost, "sent": self.sent}
