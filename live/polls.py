"""The polls service: create, open, answer, close and publish live polls; list a room's and
prepare them ahead (for the room, or as a training module's templates).

Every change is a command of the core (``classroom.poll``) run on the one command path
(``LiveRoom.execute``, the machine ``live.poll_records.Books``): decided, stored under the
room's books lock, then delivered to its audience, which the core reads from the room's
roster. Who answers is always the caller's identity; a poll is named by id. Quizzes
(``live.quizzes``) share the room's books, lock and snapshot, and the listing and
preparing (``Entries``).

Services reach the store through ``store``, a ``Callable[[], Store]`` given by the
composition root: the store opens at start-up, after the services are made, and the
callable returns the open one at each use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from classroom import poll as core
from classroom.book import Book
from classroom.catalogue import Catalogue
from classroom.errors import NotFound
from classroom.identity import Identity
from classroom.permissions import Action, Role, can
from classroom.poll import PollBook, PollSpec
from classroom.ports import Store
from classroom.question import QuizSpec
from classroom.quiz import QuizBook
from classroom.room import Admitted, Event
from config import Settings
from live.hub import Connection, Hub, LiveRoom
from live.poll_records import (
    Together,
    books,
    live_session_id,
    load_polls,
    module_of,
    new_id,
    poll_template,
    register,
    save_poll,
    save_template,
    template_authors,
    templates,
)

StoreRef = Callable[[], Store]


def member(live: LiveRoom, pid: str) -> None:
    """Only those in the room (not waiting in the lobby) take part in polls and quizzes."""
    if pid not in live.core.participants:
        raise NotFound("you are not in the room yet")


@dataclasses.dataclass(frozen=True)
class Kind:
    """Polls or quizzes, as listing and preparing reach them."""

    name: str  # "poll": the kind of its templates
    plural: str  # "polls": the key of the listing
    book: Callable[[PollBook, QuizBook], Book[Any, Any]]  # its book among the room's two
    load: Callable[[Store, str], Awaitable[Book[Any, Any]]]  # a room's book, from the store
    save: Callable[[Store, str, Any], Awaitable[None]]  # one entry, to the store
    create: Callable[[str, Role, str, Any], Any]  # its create command


def unmarked(spec: dict[str, Any]) -> dict[str, Any]:
    """A template as other trainers than its author see it (``quiz_template_answers``):
    the questions without their correct answers, which only the quiz reveals."""
    if "questions" not in spec:
        return spec
    questions = [{k: v for k, v in q.items() if k != "correct"} for q in spec["questions"]]
    return {**spec, "questions": questions}


class Entries:
    """What polls and quizzes share: a room's entries listed, one prepared ahead.

    Made by the composition root with the hub, the store (``store()``, see the module),
    the catalogue (modules templates are prepared for) and the settings
    (``quiz_template_answers``). Callers check the caller's access first.
    """

    def __init__(
        self,
        kind: Kind,
        hub: Hub,
        store: StoreRef,
        catalogue: Catalogue,
        settings: Settings,
    ) -> None:
        self.kind = kind
        self.hub = hub
        self.store = store
        self.catalogue = catalogue
        self.settings = settings
        register(hub, store)  # the machine that runs polls' and quizzes' commands

    async def listing(self, identity: Identity, module: str | None = None) -> dict[str, Any]:
        """The caller's room's entries as they may see them; trainers also get the prepared
        ones of ``module`` (by default the live session's)."""
        kind, room, store = self.kind, identity.room, self.store()
        live = self.hub.rooms.get(room)
        if live is not None:
            book = kind.book(*await books(live).load(store))
            current = module_of(live)
        else:
            book, current = await kind.load(store, room), None
        body: dict[str, Any] = {kind.plural: book.view_for(identity.sub, identity.role)}
        if can(identity.role, Action.MANAGE_POLLS):
            chosen = module or current
            prepared = await templates(store, kind.name, chosen)
            authors = await template_authors(store, kind.name, chosen)
            shared = self.settings.quiz_template_answers == "trainers"
            body["templates"] = [
                {
                    "id": tid,
                    **(spec if shared or authors.get(tid) == identity.sub else unmarked(spec)),
                }
                for tid, spec in prepared.items()
            ]
        return body

    async def prepare(
        self, identity: Identity, spec: PollSpec | QuizSpec, module: str | None
    ) -> dict[str, Any]:
        """Prepare an entry ahead: a template for ``module``, else a draft in the caller's
        room. Gives what was made (NotFound for an unknown module)."""
        kind, store = self.kind, self.store()
        if module is not None:
            self.catalogue.module(module)  # NotFound for an unknown module
            template_id = await save_template(
                store, kind.name, module, spec.to_json(), author=identity.sub
            )
            return {"id": template_id, "module": module, **spec.to_json()}
        live = self.hub.room(identity.room)
        entry_id = new_id()
        await live.execute(kind.create(identity.sub, identity.role, entry_id, spec))
        polls, quizzes = await books(live).load(store)
        return kind.book(polls, quizzes).entries[entry_id].full()


POLL = Kind("poll", "polls", lambda polls, _: polls, load_polls, save_poll, core.CreatePoll)


class Polls(Entries):
    """Live polls of every room (see the module). Besides its commands it gives each
    arrival the room's polls and quizzes (``snapshot``, a join hook) and each participant
    let in from the lobby (``admitted``, a hub listener)."""

    def __init__(self, hub: Hub, store: StoreRef, catalogue: Catalogue, settings: Settings) -> None:
        super().__init__(POLL, hub, store, catalogue, settings)

    async def create(
        self, live: LiveRoom, who: Identity, spec: PollSpec, open_now: bool = False
    ) -> None:
        """A new poll in the room; ``open_now`` opens it at once (a poll made on the spot)."""
        member(live, who.sub)
        await self._create(live, who, new_id(), spec, open_now)

    async def open(self, live: LiveRoom, who: Identity, poll_id: str) -> None:
        """Open a poll of the room, or a copy of one prepared for the session's module."""
        member(live, who.sub)
        store = self.store()
        polls, _ = await books(live).load(store)
        if poll_id not in polls.entries:
            spec = await poll_template(store, module_of(live), poll_id)
            if spec is None:
                raise NotFound(f"no poll {poll_id!r} in room {live.name}")
            await self._create(live, who, new_id(), spec, True)
            return
        await live.execute(core.OpenPoll(who.sub, who.role, poll_id, live_session_id(live)))

    async def close(self, live: LiveRoom, who: Identity, poll_id: str) -> None:
        member(live, who.sub)
        await live.execute(core.ClosePoll(who.sub, who.role, poll_id))

    async def publish(self, live: LiveRoom, who: Identity, poll_id: str) -> None:
        """Show a closed poll's results to everyone."""
        member(live, who.sub)
        await live.execute(core.PublishResults(who.sub, who.role, poll_id))

    async def answer(
        self, live: LiveRoom, who: Identity, poll_id: str, answer: int | list[int] | str
    ) -> None:
        """The caller's answer: an option, options, a rating or a text."""
        member(live, who.sub)
        await live.execute(core.AnswerPoll(who.sub, who.role, who.name, poll_id, answer))

    async def snapshot(self, conn: Connection, live: LiveRoom) -> None:
        """Send a connection the room's polls and quizzes as its person may see them
        (nothing while they wait in the lobby: they get it once admitted)."""
        if conn.pid not in live.core.participants:
            return
        polls, quizzes = await books(live).load(self.store())
        role = conn.identity.role
        conn.send(
            {
                "type": "polls_snapshot",
                "polls": polls.view_for(conn.pid, role),
                "quizzes": quizzes.view_for(conn.pid, role),
            }
        )

    async def resend(self, conn: Connection, live: LiveRoom) -> None:
        """The snapshot again, on request (members only)."""
        member(live, conn.pid)
        await self.snapshot(conn, live)

    def admitted(self, live: LiveRoom, events: list[Event]) -> None:
        """A hub listener: whoever is let in from the lobby gets the snapshot."""
        for event in events:
            conn = live.connections.get(event.id) if isinstance(event, Admitted) else None
            if conn is not None:
                live.spawn(self.snapshot(conn, live), "polls snapshot after admission")

    async def _create(
        self, live: LiveRoom, who: Identity, poll_id: str, spec: PollSpec, open_now: bool
    ) -> None:
        create = core.CreatePoll(who.sub, who.role, poll_id, spec)
        if not open_now:
            await live.execute(create)
            return
        opening = core.OpenPoll(who.sub, who.role, poll_id, live_session_id(live))
        await live.execute(Together((create, opening)))
