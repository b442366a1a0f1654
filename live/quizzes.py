"""The quizzes service: scored quizzes run question by question, each question's time
limit kept; listing and preparing them as for polls (``live.polls.Entries``).

Commands run on the one command path (``LiveRoom.execute``, the machine
``live.poll_records.Books``, which closes the questions past their time limit before
any other command of a quiz); the audience of results is the room's roster's.

A quiz question closes at its deadline by a timer of the room's books; after a restart
the room's first arrival (``arrived``, a join hook that must run before the polls
snapshot loads the books) re-arms it, and whatever passed its deadline meanwhile closes.
The store is reached as in ``live.polls``: ``store()``, given by the composition root.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from classroom import quiz as core
from classroom.catalogue import Catalogue
from classroom.errors import NotFound, StoreUnavailable
from classroom.identity import Identity
from classroom.question import QuizSpec
from classroom.room import Event
from config import Settings
from live.hub import Connection, Hub, LiveRoom
from live.poll_records import (
    Together,
    books,
    live_session_id,
    load_quizzes,
    module_of,
    new_id,
    quiz_template,
    save_quiz,
)
from live.polls import Entries, Kind, StoreRef, member

log = logging.getLogger("classroom.quizzes")

QUIZ = Kind(
    "quiz",
    "quizzes",
    lambda _, quizzes: quizzes,
    load_quizzes,
    save_quiz,
    core.CreateQuiz,
)


class Quizzes(Entries):
    """Quizzes of every room (see the module): create, start, next question, end, answer;
    question deadlines kept by a timer per room (``stop_timers`` at shutdown)."""

    def __init__(self, hub: Hub, store: StoreRef, catalogue: Catalogue, settings: Settings) -> None:
        super().__init__(QUIZ, hub, store, catalogue, settings)

    async def create(self, live: LiveRoom, who: Identity, spec: QuizSpec) -> None:
        member(live, who.sub)
        await self._run(live, core.CreateQuiz(who.sub, who.role, new_id(), spec))

    async def start(self, live: LiveRoom, who: Identity, quiz_id: str) -> None:
        """Start a quiz of the room, or a copy of one prepared for the session's module."""
        member(live, who.sub)
        role, store = who.role, self.store()
        _, quizzes = await books(live).load(store)
        session = live_session_id(live)
        if quiz_id in quizzes.entries:
            await self._run(live, core.StartQuiz(who.sub, role, quiz_id, session))
            return
        spec = await quiz_template(store, module_of(live), quiz_id)
        if spec is None:
            raise NotFound(f"no quiz {quiz_id!r} in room {live.name}")
        copied = new_id()
        create = core.CreateQuiz(who.sub, role, copied, spec)
        await self._run(live, Together((create, core.StartQuiz(who.sub, role, copied, session))))

    async def next_question(self, live: LiveRoom, who: Identity, quiz_id: str) -> None:
        member(live, who.sub)
        await self._run(live, core.NextQuestion(who.sub, who.role, quiz_id))

    async def end(self, live: LiveRoom, who: Identity, quiz_id: str) -> None:
        member(live, who.sub)
        await self._run(live, core.EndQuiz(who.sub, who.role, quiz_id))

    async def answer(
        self, live: LiveRoom, who: Identity, quiz_id: str, index: int, choices: list[int]
    ) -> None:
        """The caller's answer to question ``index`` (counted once, scored by the core)."""
        member(live, who.sub)
        command = core.AnswerQuestion(who.sub, who.role, who.name, quiz_id, index, tuple(choices))
        await live.execute(command)

    async def arrived(self, conn: Connection, live: LiveRoom) -> None:
        """A join hook: the room's first arrival after a restart re-arms the deadline timer
        (which closes questions whose time ran out). Runs before the books are loaded by
        anything else (``live.polls.Polls.snapshot``), or there is nothing to re-arm."""
        part = books(live)
        if part.quizzes is None:
            await part.load(self.store())
            if part.quizzes is not None and part.quizzes.next_deadline() is not None:
                self.schedule_deadline(live)

    def schedule_deadline(self, live: LiveRoom) -> None:
        """(Re)arm the room's timer for the next question deadline, if any."""
        part = books(live)
        if part.timer is not None:
            part.timer.cancel()
            part.timer = None
        deadline = part.quizzes.next_deadline() if part.quizzes else None
        if deadline is None:
            return
        delay = max(0.0, deadline + core.ANSWER_GRACE_S - live.hub.clock()) + 0.05

        def fire() -> None:
            part.timer = None
            live.spawn(self.expire(live), "quiz question deadline")

        part.timer = asyncio.get_running_loop().call_later(delay, fire)

    async def expire(self, live: LiveRoom) -> None:
        """Close every question past its time limit, store it, tell everyone."""
        try:
            await live.execute(core.ExpireQuestions())
        except StoreUnavailable:  # closed once the store is back: tried again every second
            log.warning("expired questions not closed yet", extra={"room": live.name})
            await asyncio.sleep(1.0)
        except Exception:
            log.exception("could not close expired questions", extra={"room": live.name})
        self.schedule_deadline(live)

    def stop_timers(self) -> None:
        """Cancel every room's deadline timer (the server is stopping)."""
        for live in self.hub.rooms.values():
            part = live.books
            if part is not None and part.timer is not None:
                part.timer.cancel()

    async def _run(self, live: LiveRoom, command: Any) -> list[Event]:
        """Run the command (the machine closes what is past its deadline first), then
        re-arm the deadline timer."""
        events = await live.execute(command)
        self.schedule_deadline(live)
        return events
