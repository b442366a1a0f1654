"""Polls and quizzes in the store: each room's books loaded once, every change written through.

Key layout (``{room}`` and ids are validated names):

- ``polls:{room}`` hash poll id -> the poll without answers; ``quizzes:{room}`` likewise.
- ``poll:{room}:{id}:ballots`` hash participant -> their answer (named polls only).
- ``poll:{room}:{id}:voters`` hash participant -> "1" (anonymous polls: who, never what).
- ``poll:{room}:{id}:count:{n}`` counters and ``poll:{room}:{id}:texts`` the free texts
  (anonymous polls: what, never who). The texts are one key, so no key's write time
  dates one text; each is stored behind a random prefix where no insertion order is
  kept (in Redis a sorted set of equal scores, ordered by the prefix; in SQLite a hash,
  ordered by field): neither order nor timing lines a text up with the voters' hash.
  (Older ``poll:{room}:{id}:text:{random}`` keys are still read.)
- ``quiz:{room}:{id}:answers`` hash "{question}:{participant}" -> the scored answer.
- ``poll-templates:{module}`` / ``quiz-templates:{module}`` hash id -> a prepared spec.

A participant's answer is claimed with HSETNX (or replaced with HSET where the poll lets
answers change), so however many answers race, and across restarts, each person counts
once. Commands of polls and quizzes take the one command path (``LiveRoom.execute``,
machine ``Books``): writes happen under the room's books lock, before the events go out,
so what a participant sees acknowledged is stored.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from classroom import poll as poll_core
from classroom import quiz as quiz_core
from classroom.errors import InvalidCommand, StoreUnavailable
from classroom.poll import (
    Ballot,
    Poll,
    PollAnswerRecorded,
    PollBook,
    PollClosed,
    PollCreated,
    PollOpened,
    PollResultsPublished,
    PollSpec,
)
from classroom.ports import Store
from classroom.question import QuizSpec
from classroom.quiz import Quiz, QuizAnswer, QuizBook
from classroom.room import Event
from classroom.roster import NOBODY, Roster
from live.hub import Hub, LiveRoom, Machine
from live.store import RedisStore

log = logging.getLogger("classroom.polls")


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def _poll_key(room: str, poll_id: str, what: str) -> str:
    return f"poll:{room}:{poll_id}:{what}"


class RoomBooks:
    """The polls and quizzes of one live room, with the lock that orders their changes."""

    def __init__(self, room: str, roster: Roster = NOBODY) -> None:
        self.room = room
        self.roster = roster  # the room's membership: who is told live results
        self.lock = asyncio.Lock()
        self.polls: PollBook | None = None
        self.quizzes: QuizBook | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.stale = False  # the store refused a write for what it had: read it again
        self.before: tuple[Kept, Kept] | None = None  # the books before the running command

    @property
    def idle(self) -> bool:
        """Whether the room may be forgotten: no quiz question is waiting for its deadline."""
        return self.quizzes is None or self.quizzes.next_deadline() is None

    async def load(self, store: Store) -> tuple[PollBook, QuizBook]:
        """The books, read from the store on first use. Once read, memory is what counts:
        it is read again only when marked ``stale`` (the store had something memory did
        not), and kept if the store now holds less than memory (Redis restarted empty:
        the store's watch writes memory back, ``resync``)."""
        if self.polls is None or self.quizzes is None:
            self.polls = await load_polls(store, self.room, self.roster)
            self.quizzes = await load_quizzes(store, self.room, self.roster)
        elif self.stale:
            polls, quizzes = (
                await load_polls(store, self.room, self.roster),
                await load_quizzes(store, self.room, self.roster),
            )
            if polls.entries.keys() >= self.polls.entries.keys() and (
                quizzes.entries.keys() >= self.quizzes.entries.keys()
            ):
                self.polls, self.quizzes = polls, quizzes
            else:
                log.warning("the store holds fewer polls than memory: memory kept",
                            extra={"room": self.room})  # fmt: skip
        self.stale = False
        return self.polls, self.quizzes


def books(live: LiveRoom) -> RoomBooks:
    if live.books is None:
        live.books = RoomBooks(live.name, live.core)
    return live.books


def module_of(live: LiveRoom) -> str | None:
    """The training module of the room's session, whose prepared polls and quizzes it may use."""
    session = live.core.session
    return session.module_id if session is not None else None


def live_session_id(live: LiveRoom) -> str | None:
    session = live.core.session
    return session.id if session is not None and session.state.value == "live" else None


# --- polls ------------------------------------------------------------------


async def load_polls(store: Store, room: str, roster: Roster = NOBODY) -> PollBook:
    book = PollBook(room, roster)
    records = [json.loads(v) for v in (await store.hgetall(f"polls:{room}")).values()]
    for record in sorted(records, key=lambda r: r["created_at"]):
        poll = Poll.from_record(record)
        if poll.spec.anonymous:
            poll.voters = set(await store.hgetall(_poll_key(room, poll.id, "voters")))
            for counter in range(poll.spec.size):
                value = await store.get(_poll_key(room, poll.id, f"count:{counter}"))
                poll.counts[counter] = int(value or 0)
            poll.texts = await load_texts(store, room, poll.id)
        else:
            stored = await store.hgetall(_poll_key(room, poll.id, "ballots"))
            poll.ballots = {pid: Ballot.from_json(json.loads(b)) for pid, b in stored.items()}
            poll.voters = set(poll.ballots)
        book.entries[poll.id] = poll
    return book


async def save_text(store: Store, room: str, poll_id: str, text: str) -> None:
    """One anonymous free text, among the poll's others in no order of answering."""
    key, prefix = _poll_key(room, poll_id, "texts"), uuid.uuid4().hex
    if isinstance(store, RedisStore):
        await store.write("ZADD", key, 0, f"{prefix}:{text}")
    else:
        await store.hset(key, prefix, text)


async def load_texts(store: Store, room: str, poll_id: str) -> list[str]:
    key = _poll_key(room, poll_id, "texts")
    if isinstance(store, RedisStore):
        members = await store.redis.zrange(key, 0, -1)
        texts = [member.split(":", 1)[1] for member in members]
    else:
        texts = list((await store.hgetall(key)).values())
    for old in await store.keys(_poll_key(room, poll_id, "text:")):  # before the one key
        text = await store.get(old)
        if text is not None:
            texts.append(text)
    return texts


async def save_poll(store: Store, room: str, poll: Poll) -> None:
    await store.hset(f"polls:{room}", poll.id, json.dumps(poll.to_record()))


async def save_answer(store: Store, room: str, poll: Poll, pid: str, answer: Any) -> None:
    """Store one accepted answer; InvalidCommand if the store already has this person's."""
    if poll.spec.anonymous and isinstance(store, RedisStore):
        # Claim, counts and text in one step: an outage stores all of it or nothing.
        counters = poll.spec.counters(poll.spec.check_answer(answer))
        steps: list[tuple[str, str, tuple[Any, ...]]] = [
            ("HSETNX", _poll_key(room, poll.id, "voters"), (pid, "1")),
            *(("INCR", _poll_key(room, poll.id, f"count:{c}"), ()) for c in counters),
        ]
        if isinstance(answer, str):
            text = f"{uuid.uuid4().hex}:{answer}"
            steps.append(("ZADD", _poll_key(room, poll.id, "texts"), (0, text)))
        if not await store.write_all(steps, claim=True):
            raise InvalidCommand("you have answered this poll already")
        return
    if poll.spec.anonymous:
        # Claim first: a crash between the two writes loses an answer, never counts one twice.
        if not await store.hsetnx(_poll_key(room, poll.id, "voters"), pid, "1"):
            raise InvalidCommand("you have answered this poll already")
        for counter in poll.spec.counters(poll.spec.check_answer(answer)):
            await store.incr(_poll_key(room, poll.id, f"count:{counter}"))
        if isinstance(answer, str):
            await save_text(store, room, poll.id, answer)
        return
    ballot = json.dumps(poll.ballots[pid].to_json())
    key = _poll_key(room, poll.id, "ballots")
    if poll.spec.allow_change:
        await store.hset(key, pid, ballot)
    elif not await store.hsetnx(key, pid, ballot):
        raise InvalidCommand("you have answered this poll already")


# --- quizzes ----------------------------------------------------------------


async def load_quizzes(store: Store, room: str, roster: Roster = NOBODY) -> QuizBook:
    book = QuizBook(room, roster)
    records = [json.loads(v) for v in (await store.hgetall(f"quizzes:{room}")).values()]
    for record in sorted(records, key=lambda r: r["created_at"]):
        quiz = Quiz.from_record(record)
        for field, value in (await store.hgetall(f"quiz:{room}:{quiz.id}:answers")).items():
            index, pid = field.split(":", 1)
            quiz.answers[(int(index), pid)] = QuizAnswer.from_json(json.loads(value))
        book.entries[quiz.id] = quiz
    return book


async def save_quiz(store: Store, room: str, quiz: Quiz) -> None:
    await store.hset(f"quizzes:{room}", quiz.id, json.dumps(quiz.to_record()))


async def save_quiz_answer(store: Store, room: str, quiz: Quiz, index: int, pid: str) -> None:
    answer = json.dumps(quiz.answers[(index, pid)].to_json())
    if not await store.hsetnx(f"quiz:{room}:{quiz.id}:answers", f"{index}:{pid}", answer):
        raise InvalidCommand("you have answered this question already")


# --- templates prepared for a training module ---------------------------------


async def save_template(
    store: Store, kind: str, module: str, spec: dict[str, Any], author: str = ""
) -> str:
    template_id = "t" + new_id()
    await store.hset(f"{kind}-templates:{module}", template_id, json.dumps(spec))
    if author:
        await store.hset(template_authors_key(kind, module), template_id, author)
    return template_id


def template_authors_key(kind: str, module: str) -> str:
    """Who prepared each template of a module (by participant id)."""
    return f"{kind}-template-authors:{module}"


async def template_authors(store: Store, kind: str, module: str | None) -> dict[str, str]:
    return await store.hgetall(template_authors_key(kind, module)) if module else {}


async def templates(store: Store, kind: str, module: str | None) -> dict[str, dict[str, Any]]:
    if not module:
        return {}
    stored = await store.hgetall(f"{kind}-templates:{module}")
    return {tid: json.loads(spec) for tid, spec in sorted(stored.items())}


async def poll_template(store: Store, module: str | None, template_id: str) -> PollSpec | None:
    spec = (await templates(store, "poll", module)).get(template_id)
    return PollSpec.from_json(spec) if spec else None


async def quiz_template(store: Store, module: str | None, template_id: str) -> QuizSpec | None:
    spec = (await templates(store, "quiz", module)).get(template_id)
    return QuizSpec.from_json(spec) if spec else None


# --- the machine of polls and quizzes -------------------------------------------


@dataclasses.dataclass(frozen=True)
class Together:
    """Commands of the books decided and kept as one (a poll made and opened at once, a
    prepared quiz copied and started): all of them, or none if one is refused."""

    commands: tuple[poll_core.Command | quiz_core.Command, ...]


Command = poll_core.Command | quiz_core.Command | Together
#: Quiz commands that first close the questions past their time limit (not an answer:
#: it is refused after the deadline anyway).
_EXPIRE_FIRST = (
    quiz_core.CreateQuiz,
    quiz_core.StartQuiz,
    quiz_core.NextQuestion,
    quiz_core.EndQuiz,
)


class Books:
    """The polls and quizzes of every room, run by ``LiveRoom.execute`` (registered once
    per hub by ``register``): one command of a room at a time under its books' lock,
    the books read from the store first (``prepare``); the core decides, then what the
    events changed is written (``keep``); if that fails, the books are put back as they
    were (``undo``) and nobody is told. Who is told live results is the core's business:
    the books read the room's roster."""

    def __init__(self, store: Callable[[], Store]) -> None:
        self.store = store

    def machine(self) -> Machine:
        return Machine(
            self.decide,
            self.keep,
            prepare=self.prepare,
            undo=self.undo,
            lock=lambda live: books(live).lock,
            unheard=(PollAnswerRecorded,),
        )

    async def prepare(self, live: LiveRoom) -> None:
        await books(live).load(self.store())

    def decide(self, live: LiveRoom, command: Command, now: float) -> list[Event]:
        part = books(live)
        polls, quizzes = part.polls, part.quizzes
        assert polls is not None and quizzes is not None  # read by ``prepare``
        part.before = _keep(polls), _keep(quizzes)
        commands = command.commands if isinstance(command, Together) else (command,)
        events: list[Event] = []
        for step in commands:
            if isinstance(step, _EXPIRE_FIRST):
                events += quizzes.handle(quiz_core.ExpireQuestions(), now)
            if isinstance(step, quiz_core.Command):
                events += quizzes.handle(step, now)
            else:
                events += polls.handle(step, now)
        return events

    async def keep(self, live: LiveRoom, events: list[Event]) -> None:
        """Write what the events changed: an answer by itself, or each poll and quiz whole.
        A refusal by the store for what it holds (another node's answer) marks the books
        to be read again."""
        part, store, room = books(live), self.store(), live.name
        polls, quizzes = part.polls, part.quizzes
        assert polls is not None and quizzes is not None
        changed_polls: dict[str, None] = {}
        changed_quizzes: dict[str, None] = {}
        try:
            for event in events:
                if isinstance(event, PollAnswerRecorded) and event.to:
                    poll = polls.entries[event.poll]
                    await save_answer(store, room, poll, event.to[0], event.answer)
                elif isinstance(event, quiz_core.QuizAnswerRecorded) and event.to:
                    quiz = quizzes.entries[event.quiz]
                    await save_quiz_answer(store, room, quiz, event.index, event.to[0])
                elif isinstance(event, PollCreated | PollOpened | PollClosed):
                    changed_polls[event.poll["id"]] = None
                elif isinstance(event, PollResultsPublished):
                    changed_polls[event.poll] = None
                elif isinstance(event, quiz_core.QuizCreated | quiz_core.QuizStarted):
                    changed_quizzes[event.quiz["id"]] = None
                elif isinstance(
                    event,
                    quiz_core.QuestionOpened | quiz_core.QuestionClosed | quiz_core.QuizEnded,
                ):
                    changed_quizzes[event.quiz] = None
            for poll_id in changed_polls:
                await save_poll(store, room, polls.entries[poll_id])
            for quiz_id in changed_quizzes:
                await save_quiz(store, room, quizzes.entries[quiz_id])
        except StoreUnavailable:
            raise
        except Exception:
            part.stale = True
            raise

    def undo(self, live: LiveRoom, error: BaseException) -> None:
        """Put the books back as they were before the command."""
        part = books(live)
        if part.before is not None and part.polls is not None and part.quizzes is not None:
            _put_back(part.polls, part.before[0])
            _put_back(part.quizzes, part.before[1])
        part.before = None


def register(hub: Hub, store: Callable[[], Store]) -> None:
    """Run the commands of polls and quizzes on this hub (once, whichever service asks)."""
    if poll_core.CreatePoll not in hub.machines:
        hub.register(Command, Books(store).machine())


Kept = dict[str, tuple[Any, dict[str, Any]]]


def _keep(book: PollBook | QuizBook) -> Kept:
    """Each entry of a book with its fields as they are (their collections copied)."""
    return {
        entry_id: (
            entry,
            {
                k: copy.copy(v) if isinstance(v, dict | list | set) else v
                for k, v in vars(entry).items()
            },
        )
        for entry_id, entry in book.entries.items()
    }


def _put_back(book: PollBook | QuizBook, kept: Kept) -> None:
    """The book as it was when ``kept``: the same entry objects, with their old fields."""
    book.entries.clear()
    for entry_id, (entry, fields) in kept.items():
        entry.__dict__.update(fields)
        book.entries[entry_id] = entry


async def resync(live: LiveRoom, store: Store) -> int:
    """Write back to the store the polls and quizzes this process holds for a room, with
    every answer (after the store lost its data); the number of polls and quizzes.

    Every write sets a value memory holds (counters set, not added to), so writing back
    twice, or over data the store still has, changes nothing; anonymous free texts are
    written only if the store has none of the poll's."""
    part = live.books
    if part is None:
        return 0
    async with part.lock:
        if part.polls is None or part.quizzes is None:
            return 0
        for poll in part.polls.entries.values():
            await save_poll(store, live.name, poll)
            if poll.spec.anonymous:
                for pid in poll.voters:
                    await store.hset(_poll_key(live.name, poll.id, "voters"), pid, "1")
                for counter, count in enumerate(poll.counts):
                    await store.set(_poll_key(live.name, poll.id, f"count:{counter}"), str(count))
                if poll.texts and not await load_texts(store, live.name, poll.id):
                    for text in poll.texts:
                        await save_text(store, live.name, poll.id, text)
            else:
                for pid, ballot in poll.ballots.items():
                    value = json.dumps(ballot.to_json())
                    await store.hset(_poll_key(live.name, poll.id, "ballots"), pid, value)
        for quiz in part.quizzes.entries.values():
            await save_quiz(store, live.name, quiz)
            for (index, pid), answer in quiz.answers.items():
                key, field = f"quiz:{live.name}:{quiz.id}:answers", f"{index}:{pid}"
                await store.hset(key, field, json.dumps(answer.to_json()))
        return len(part.polls.entries) + len(part.quizzes.entries)
