"""The polls service without a web server: members only, stored before told, the anonymous
receipt kept from listeners, and polls prepared ahead (drafts, a module's templates)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import tomllib
from typing import Any

import pytest

from classroom.catalogue import Catalogue
from classroom.errors import Forbidden, NotFound, StoreUnavailable
from classroom.identity import Identity
from classroom.permissions import Role
from classroom.poll import CreatePoll, PollAnswerRecorded, PollSpec
from classroom.room import Admitted, Event, Join, StartSession
from config import Settings
from live.hub import Connection, Hub, LiveRoom
from live.poll_records import books
from live.polls import Polls
from live.store import MemoryStore
from tests.conftest import ManualClock

MODULE = "m02-human-rights"


class Socket:
    """What a connection writes to, kept for the test to read."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_str(self, data: str) -> None:
        self.sent.append(json.loads(data))

    async def close(self, *, code: int = 1000, message: bytes = b"") -> None:
        pass


def person(sub: str, role: str = "trainee", name: str = "Ana") -> Identity:
    return Identity(sub, name, "demo", Role(role), None, 0, 0)


def enter(live: LiveRoom, who: Identity) -> Connection:
    """A connection of ``who``, joined to the room."""
    conn = Connection(Socket(), who, f"conn-{who.sub}")
    live.connections[who.sub] = conn
    live.apply(Join(who.sub, who.name, who.role))
    return conn


async def sent(conn: Connection, type_: str) -> list[dict[str, Any]]:
    """The messages of ``type_`` the connection was sent so far."""
    for _ in range(10):
        await asyncio.sleep(0)  # let its writer run
    assert isinstance(conn.ws, Socket)
    return [m for m in conn.ws.sent if m["type"] == type_]


def catalogue(settings: Settings) -> Catalogue:
    with settings.catalogue_path.open("rb") as file:
        return Catalogue.from_dict(tomllib.load(file))


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def service(store: MemoryStore, settings: Settings, clock: ManualClock) -> Polls:
    return Polls(Hub(clock), lambda: store, catalogue(settings), settings)


SPEC = PollSpec.build("Which border crossing?", "single", ["A", "B"], False, False, 5, 200)


async def test_only_those_in_the_room_take_part(service: Polls) -> None:
    live = service.hub.room("demo")
    with pytest.raises(NotFound):
        await service.create(live, person("t", "trainer"), SPEC, open_now=True)
    enter(live, person("a"))
    with pytest.raises(Forbidden):  # in the room, but the core says trainees do not run polls
        await service.create(live, person("a"), SPEC)


async def test_an_answer_is_stored_tallied_for_trainers_and_its_receipt_told_to_no_listener(
    service: Polls, store: MemoryStore, settings: Settings, clock: ManualClock
) -> None:
    live = service.hub.room("demo")
    heard: list[Event] = []
    service.hub.listeners.append(lambda _, events: heard.extend(events))
    trainer_identity, ana_identity = person("t", "trainer", "Tea"), person("a")
    trainer, ana = enter(live, trainer_identity), enter(live, ana_identity)
    live.apply(StartSession("t", "Morning", MODULE))
    await service.create(live, trainer_identity, SPEC, open_now=True)
    poll = (await sent(ana, "poll_opened"))[0]["poll"]
    assert live.core.session is not None and poll["session_id"] == live.core.session.id

    await service.answer(live, ana_identity, poll["id"], 1)
    assert (await sent(trainer, "poll_tallied"))[-1]["tally"]["counts"] == [0, 1]
    assert await sent(ana, "poll_answer_recorded")
    assert not any(isinstance(e, PollAnswerRecorded) for e in heard)

    again = Polls(Hub(clock), lambda: store, service.catalogue, settings)  # a restart
    listing = await again.listing(trainer_identity)
    assert listing["polls"][0]["tally"]["counts"] == [0, 1]


async def test_the_snapshot_goes_to_members_and_to_whoever_is_admitted(service: Polls) -> None:
    live = service.hub.room("demo")
    trainer = enter(live, person("t", "trainer"))
    await service.snapshot(trainer, live)
    assert (await sent(trainer, "polls_snapshot"))[0]["polls"] == []
    waiting = Connection(Socket(), person("w"), "conn-w")
    live.connections["w"] = waiting
    await service.snapshot(waiting, live)  # not in the room: nothing
    assert await sent(waiting, "polls_snapshot") == []
    live.apply(Join("w", "Wanda", Role.TRAINEE))
    service.admitted(live, [Admitted(None, "w")])  # a hub listener
    assert len(await sent(waiting, "polls_snapshot")) == 1


async def test_prepared_polls_a_draft_in_the_room_or_a_template_opened_as_a_copy(
    service: Polls,
) -> None:
    trainer_identity = person("t", "trainer")
    draft = await service.prepare(trainer_identity, SPEC, None)
    assert draft["state"] == "draft"
    template = await service.prepare(trainer_identity, SPEC, MODULE)
    assert template["module"] == MODULE and template["id"].startswith("t")
    with pytest.raises(NotFound):
        await service.prepare(trainer_identity, SPEC, "m99")

    live = service.hub.rooms["demo"]
    trainer = enter(live, trainer_identity)
    live.apply(StartSession("t", "Morning", MODULE))
    listing = await service.listing(trainer_identity)
    assert [p["id"] for p in listing["polls"]] == [draft["id"]]
    assert [t["id"] for t in listing["templates"]] == [template["id"]]
    assert "templates" not in await service.listing(person("a"))

    await service.open(live, trainer_identity, template["id"])
    opened = (await sent(trainer, "poll_opened"))[0]["poll"]
    assert opened["id"] != template["id"] and opened["question"] == SPEC.question
    with pytest.raises(NotFound):
        await service.open(live, trainer_identity, "nothing")


class RefusingStore(MemoryStore):
    """A store whose writes of polls fail as if Redis were away."""

    refuse = False

    async def hset(self, key: str, field: str, value: str) -> bool:
        if self.refuse and key.startswith("polls:"):
            raise StoreUnavailable()
        return await super().hset(key, field, value)


async def test_polls_take_the_one_command_path_told_to_the_roster_and_undone_if_not_kept(
    settings: Settings, clock: ManualClock
) -> None:
    store = RefusingStore()
    service = Polls(Hub(clock), lambda: store, catalogue(settings), settings)
    commands: list[Any] = []
    machine = service.hub.machine(CreatePoll("t", Role.TRAINER, "p", SPEC))
    decide = machine.decide
    service.hub.machines[CreatePoll] = dataclasses.replace(
        machine,
        decide=lambda live, command, now: commands.append(command) or decide(live, command, now),
    )
    live = service.hub.room("demo")
    trainer_identity = person("t", "trainer", "Tea")
    trainer, ana = enter(live, trainer_identity), enter(live, person("a"))
    await service.create(live, trainer_identity, SPEC)
    assert [type(c).__name__ for c in commands] == ["CreatePoll"]  # through LiveRoom.execute
    # The audience of the draft is the roster's: those present who may view results.
    assert len(await sent(trainer, "poll_created")) == 1
    assert await sent(ana, "poll_created") == []
    cotrainer = enter(live, person("t2", "trainer", "Olja"))
    await service.create(live, trainer_identity, SPEC)
    assert len(await sent(cotrainer, "poll_created")) == 1  # arrived since: told too

    store.refuse = True
    with pytest.raises(StoreUnavailable):
        await service.create(live, trainer_identity, SPEC, open_now=True)
    polls, _ = await books(live).load(store)
    assert len(polls.entries) == 2  # put back: memory never runs ahead of the store
    assert len(await sent(trainer, "poll_created")) == 2  # and nobody was told
