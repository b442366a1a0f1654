"""The quizzes service without a web server: a question closes at its time limit by the
room's timer, a restart re-arms it on the first arrival, and a module's prepared quizzes
keep their answers from other trainers."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from classroom.question import Question, QuizSpec
from config import Settings
from live.hub import Hub
from live.quizzes import Quizzes
from live.store import MemoryStore
from tests.conftest import ManualClock
from tests.live.test_polls import MODULE, catalogue, enter, person, sent

SPEC = QuizSpec("Borders", (Question("Which?", ("A", "B"), (1,), 10, 100),), speed_bonus=False)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def service(store: MemoryStore, settings: Settings, clock: ManualClock) -> Quizzes:
    return Quizzes(Hub(clock), lambda: store, catalogue(settings), settings)


async def test_a_question_closes_by_its_timer_and_the_room_stays_while_it_waits(
    service: Quizzes, clock: ManualClock
) -> None:
    live = service.hub.room("demo")
    trainer_identity = person("t", "trainer")
    trainer, ana = enter(live, trainer_identity), enter(live, person("a"))
    await service.create(live, trainer_identity, SPEC)
    quiz = (await sent(trainer, "quiz_created"))[0]["quiz"]
    await service.start(live, trainer_identity, quiz["id"])
    assert await sent(ana, "question_opened")
    assert live.books is not None and live.books.timer is not None and not live.idle

    await service.answer(live, person("a"), quiz["id"], 0, [1])
    clock.advance(12)  # past the time limit and the grace
    service.schedule_deadline(live)  # the timer, now due at once
    assert live.books.timer is not None
    for _ in range(20):
        if await sent(ana, "question_closed"):
            break
        await asyncio.sleep(0.02)
    assert await sent(ana, "question_closed")
    assert live.books.timer is None and live.idle


async def test_after_a_restart_the_first_arrival_re_arms_the_deadline(
    service: Quizzes, store: MemoryStore, settings: Settings, clock: ManualClock
) -> None:
    live = service.hub.room("demo")
    trainer_identity = person("t", "trainer")
    trainer = enter(live, trainer_identity)
    await service.create(live, trainer_identity, SPEC)
    quiz = (await sent(trainer, "quiz_created"))[0]["quiz"]
    await service.start(live, trainer_identity, quiz["id"])
    service.stop_timers()  # the server stops

    again = Quizzes(Hub(clock), lambda: store, service.catalogue, settings)
    room = again.hub.room("demo")
    arrival = enter(room, trainer_identity)
    await again.arrived(arrival, room)
    assert room.books is not None and room.books.timer is not None
    await again.arrived(arrival, room)  # later arrivals change nothing
    again.stop_timers()


async def test_a_module_quiz_shows_its_answers_to_its_author_alone_by_default(
    service: Quizzes, settings: Settings
) -> None:
    author, other = person("t", "trainer"), person("u", "trainer")
    template = await service.prepare(author, SPEC, MODULE)
    assert template["questions"][0]["correct"] == [1]
    mine = (await service.listing(author, MODULE))["templates"]
    theirs = (await service.listing(other, MODULE))["templates"]
    assert mine[0]["questions"][0]["correct"] == [1]
    assert "correct" not in theirs[0]["questions"][0]
    service.settings = dataclasses.replace(settings, quiz_template_answers="trainers")
    shared = (await service.listing(other, MODULE))["templates"]
    assert shared[0]["questions"][0]["correct"] == [1]
