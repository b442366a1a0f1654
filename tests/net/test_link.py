"""The link model (seeded loss, delay and jitter), and namespaces that never outlive a test."""

from __future__ import annotations

import subprocess

import pytest

from tests.net.link import Impairment, Link
from tests.net.netns import Namespace, unavailable


def test_loss_delay_and_jitter_are_what_was_asked_and_the_same_for_the_same_seed() -> None:
    given = Impairment(delay_s=0.1, jitter_s=0.05, loss=0.05)
    runs = []
    for _ in range(2):
        link = Link(given, seed=7)
        left: list[tuple[float, bytes]] = []
        for n in range(10_000):
            now = n * 0.001
            link.put(n.to_bytes(2, "big"), now)
            left += [(now, p) for p in link.due(now)]
        left += [(20.0, p) for p in link.due(20.0)]
        runs.append(left)
    assert runs[0] == runs[1]
    assert runs[0][0][0] > 0.04 and link.lost / link.arrived == pytest.approx(0.05, abs=0.01)
    waits = [now - int.from_bytes(p, "big") * 0.001 for now, p in runs[0] if now < 20]
    assert min(waits) >= 0.05 - 0.001 and max(waits) <= 0.15 + 0.001
    order = [int.from_bytes(p, "big") for _, p in runs[0]]
    assert order != sorted(order)  # jitter lets packets overtake, as netem's does


def test_without_impairment_packets_leave_at_once_in_order() -> None:
    link = Link(Impairment(), seed=1)
    for n in range(3):
        link.put(bytes([n]), 1.0)
    assert link.due(1.0) == [b"\x00", b"\x01", b"\x02"] and link.next_due() is None


def test_a_namespace_is_gone_after_its_test_failed() -> None:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    with pytest.raises(RuntimeError, match="a failing test"), Namespace() as made:
        devices = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert made.host_dev in devices
        raise RuntimeError("a failing test")
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    devices = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert made.name not in listed and made.host_dev not in devices
    assert made.figures["up"]["arrived"] >= 0  # the relay reported before it went
