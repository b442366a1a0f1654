"""One path for every feature's commands: ``LiveRoom.execute`` finds the machine by the
command's type, then decides, keeps, delivers and lets listeners react, in that order."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from classroom.errors import InvalidCommand
from classroom.room import Event
from live.hub import Hub, LiveRoom, Machine


@dataclasses.dataclass(frozen=True)
class Ring:
    actor: str


@dataclasses.dataclass(frozen=True)
class Silence:
    actor: str


@dataclasses.dataclass(frozen=True)
class BellRang(Event):
    by: str


def bell(steps: list[str]) -> Machine:
    def decide(live: LiveRoom, command: Any, now: float) -> list[Event]:
        if isinstance(command, Silence):
            raise InvalidCommand("the bell has no silence")
        steps.append("decided")
        return [BellRang(None, command.actor)]

    async def keep(live: LiveRoom, events: list[Event]) -> None:
        steps.append("kept")

    return Machine(decide, keep)


async def test_a_feature_command_is_decided_kept_delivered_then_reacted_to() -> None:
    steps: list[str] = []
    hub = Hub(clock=lambda: 100.0)
    hub.register(Ring | Silence, bell(steps))
    hub.listeners.append(lambda live, events: steps.append(f"reacted to {len(events)}"))
    live = hub.room("demo")
    live.send = lambda message, to=None: steps.append(f"delivered {message['type']}")  # type: ignore[method-assign]
    events = await live.execute(Ring("t"))
    assert events == [BellRang(None, "t")]
    assert steps == ["decided", "kept", "delivered bell_rang", "reacted to 1"]


async def test_a_refused_command_is_neither_kept_nor_told() -> None:
    steps: list[str] = []
    hub = Hub()
    hub.register(Ring | Silence, bell(steps))
    hub.listeners.append(lambda live, events: steps.append("reacted"))
    with pytest.raises(InvalidCommand):
        await hub.room("demo").execute(Silence("t"))
    assert steps == []


def test_each_command_type_has_one_machine_and_unknown_ones_are_refused() -> None:
    hub = Hub()
    hub.register(Ring, bell([]))
    with pytest.raises(ValueError, match="Ring has a machine already"):
        hub.register(Ring | Silence, bell([]))
    with pytest.raises(TypeError, match="no machine runs str"):
        hub.machine("ring")
