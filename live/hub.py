"""The live rooms of this process: each domain Room with its open connections.

Every command of every feature takes one path, ``LiveRoom.execute``: the hub finds the
state machine that runs commands of its type (``Hub.register``; the room core's are
registered here, each feature registers its own), the machine decides (the sans-I/O
core, raising and changing nothing if refused), its repository step keeps what must
outlive the process, the events are delivered to the connections they are addressed
to, then the hub's listeners react (attendance, the recorder's journal, the media
router), in that order. Every connection has its own bounded outbox, so one slow client
never holds up another.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import time
import typing
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from classroom import room as core
from classroom.identity import Identity
from classroom.permissions import Action, can
from classroom.room import Admitted, Event, ExpireDisconnected, Room

if TYPE_CHECKING:
    from classroom.attendance import Attendance
    from classroom.interpretation import Interpretation
    from live.poll_records import RoomBooks
    from live.recording import RoomRecording
    from media.router import MediaRouter

log = logging.getLogger("classroom.hub")

OUTBOX_LIMIT = 512  # messages queued for one client before it counts as stalled
CLOSE_REPLACED = 4001
CLOSE_REMOVED = 4003
CLOSE_SLOW = 4008


def message_type(event: Event | type[Event]) -> str:
    """ParticipantJoined -> participant_joined: the wire name of an event."""
    name = event.__name__ if isinstance(event, type) else type(event).__name__
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def event_message(event: Event) -> dict[str, Any]:
    body = {f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name != "to"}
    return {"type": message_type(event), **body}


#: What a page's websocket is for (docs/protocol.md, "Several pages of one person").
CLASSROOM_PAGE = "classroom"  # presence and media; one per person at a time
SIDE_PAGE = "side"  # the polls page and the like: no media, never replaces anything
PAGES = (CLASSROOM_PAGE, SIDE_PAGE)

#: Messages about a classroom page's own peer connections, never sent to side pages.
MEDIA_MESSAGES = frozenset({"subscribe", "republish"})

#: Arrivals and departures go out one by one, up to ANNOUNCE_SINGLY in a window of
#: ANNOUNCE_WINDOW_S; past that, the rest of the window's go out together at its end as
#: one ``participants_changed`` message (a crowd joining costs each page one message a
#: window, not one per newcomer). Any other message to everyone sends the batch first.
ANNOUNCE_SINGLY = 10
ANNOUNCE_WINDOW_S = 1.0
ANNOUNCED = frozenset({"participant_joined", "participant_disconnected", "participant_left"})


def error_message(code: str, message: str, ref: str | None = None) -> dict[str, Any]:
    """An ``error`` message (docs/protocol.md): a code to translate, a sentence, the
    ``ref`` of the request it answers."""
    reply: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if ref is not None:
        reply["ref"] = ref
    return reply


class Socket(Protocol):
    """What a connection writes to: the transport's websocket (``web.ws``)."""

    async def send_str(self, data: str) -> None: ...
    async def close(self, *, code: int = ..., message: bytes = ...) -> Any: ...


class Connection:
    """One open websocket of one participant, with its outbox and writer task.

    ``page`` says what the page is for; ``client`` is the id a browser tab keeps for
    itself (its reconnects carry the same one). A ``standby`` connection is a second
    classroom page of someone already in the class elsewhere: it receives nothing from
    the room until it asks to join here (``join_here``).
    """

    def __init__(
        self,
        ws: Socket,
        identity: Identity,
        conn_id: str,
        page: str = CLASSROOM_PAGE,
        client: str | None = None,
    ) -> None:
        self.ws = ws
        self.identity = identity
        self.id = conn_id
        self.page = page
        self.client = client
        self.standby = False
        #: JSON texts, each serialized once however many pages it goes to.
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue(OUTBOX_LIMIT)
        self.closing = False
        self.writer = asyncio.get_running_loop().create_task(self._write())

    @property
    def pid(self) -> str:
        return self.identity.sub

    def send(self, message: dict[str, Any]) -> None:
        """Queue a message; a client that lets its outbox fill up is disconnected."""
        self.send_text(json.dumps(message))

    def send_text(self, text: str) -> None:
        """Queue a message already serialized (one text for a room's many pages)."""
        if self.closing:
            return
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("client stalled; closing", extra={"participant": self.pid})
            self.close(CLOSE_SLOW, "too slow to receive")

    def close(self, code: int, reason: str) -> None:
        """Send what is queued, then close with the code (without waiting for it)."""
        if self.closing:
            return
        self.closing = True
        asyncio.get_running_loop().create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.outbox.put_nowait(None)
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self.writer), 2)
        self.writer.cancel()
        await self.ws.close(code=code, message=reason.encode())

    async def _write(self) -> None:
        while True:
            message = await self.outbox.get()
            if message is None:
                return
            try:
                await self.ws.send_str(message)
            except (ConnectionError, RuntimeError):
                return


EventListener = Callable[["LiveRoom", list[Event]], None]
#: A state machine's decision: (room, command, now) -> events; raises ClassroomError and
#: changes nothing when the command is refused.
Decide = Callable[["LiveRoom", Any, float], list[Event]]
#: A repository step: stores what of the events must outlive the process.
Keep = Callable[["LiveRoom", list[Event]], Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class Machine:
    """How a room runs one feature's commands: who decides and what keeps the outcome.

    A machine whose state is read from the store before deciding (``prepare``) and put
    back as it was when keeping fails (``undo``, given the error) runs one command of a
    room at a time, holding the room's ``lock`` from preparing to delivering: what memory
    holds never runs ahead of what is stored, and nobody is told of a change not kept.
    Events of the ``unheard`` types are delivered but not given to the listeners (a
    receipt pairing a person with an anonymous answer must not reach a journal).
    """

    decide: Decide
    keep: Keep | None = None
    prepare: Callable[[LiveRoom], Awaitable[None]] | None = None
    undo: Callable[[LiveRoom, BaseException], None] | None = None
    lock: Callable[[LiveRoom], asyncio.Lock] | None = None
    unheard: tuple[type[Event], ...] = ()


class LiveRoom:
    """A domain room and who is connected to it in this process."""

    def __init__(self, hub: Hub, name: str) -> None:
        self.hub = hub
        self.core = Room(name, **hub.room_options)
        # Per participant, the connection that holds their presence (and media): their
        # classroom page, else a side page when no classroom page is open.
        self.connections: dict[str, Connection] = {}
        # Per participant, their other open pages (side pages, a classroom page on standby).
        self.others: dict[str, set[Connection]] = {}
        # What each feature keeps for this room, made on first use by the feature's service
        # (``live.media``, ``live.interpretation``, ``live.polls``, ``live.recording``,
        # ``live.attendance``); None until then.
        self.media: MediaRouter | None = None
        self.interpretation: Interpretation | None = None
        self.books: RoomBooks | None = None
        self.recording: RoomRecording | None = None
        self.attendance: Attendance | None = None
        # Background work of this room's features: kept referenced, failures logged,
        # cancelled when the room is forgotten.
        self.tasks: set[asyncio.Task[Any]] = set()
        self._restoring = asyncio.Lock()
        self._restored = False
        # Arrivals and departures held back for the next participants_changed message.
        self.announcements: list[dict[str, Any]] = []
        self.announce_window = (0.0, 0)  # when the current window began, sent singly in it
        self.announce_timer: asyncio.TimerHandle | None = None

    @property
    def name(self) -> str:
        return self.core.name

    def spawn(self, coroutine: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        """Run ``coroutine`` for this room in the background (``what`` names it in logs)."""
        task = asyncio.get_running_loop().create_task(coroutine, name=f"{self.name}: {what}")
        self.tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "room task failed",
                exc_info=task.exception(),
                extra={"room": self.name, "task": task.get_name()},
            )

    @property
    def idle(self) -> bool:
        """Whether no feature needs the room kept: nothing forwarded or recorded, no quiz
        question waiting for its deadline."""
        return all(part is None or part.idle for part in (self.media, self.recording, self.books))

    async def close(self) -> None:
        """The room is forgotten: its tasks end, and its media router (peer connections and
        timers) closes."""
        for task in list(self.tasks):
            task.cancel()
        closers = [self.media.close()] if self.media is not None else []
        results = await asyncio.gather(*self.tasks, *closers, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.error("closing a room failed", exc_info=result, extra={"room": self.name})

    async def ready(self) -> None:
        """Before the room's first arrival in this process: give it back what it kept
        (who is banned). Runs once per live room."""
        async with self._restoring:
            if not self._restored and self.hub.restore is not None:
                await self.hub.restore(self)
            self._restored = True

    async def execute(self, command: Any) -> list[Event]:
        """Run a command of any feature: its machine decides (raising and changing nothing
        if refused), its repository stores what must be kept, then the events are
        delivered and the listeners react. If the store fails, the caller gets the error
        and nobody was told."""
        machine = self.hub.machine(command)
        if machine.lock is None:
            return await self._run(machine, command)
        async with machine.lock(self):
            return await self._run(machine, command)

    async def _run(self, machine: Machine, command: Any) -> list[Event]:
        if machine.prepare is not None:
            await machine.prepare(self)
        try:
            events = machine.decide(self, command, self.hub.clock())
            if machine.keep is not None and events:
                await machine.keep(self, events)
        except BaseException as error:
            if machine.undo is not None:
                machine.undo(self, error)
            raise
        self.deliver(events)
        heard = [e for e in events if not isinstance(e, machine.unheard)]
        self.tell_listeners(heard)
        return events

    def apply(self, command: Any) -> list[Event]:
        """``execute`` for what a sweep or a listener's reaction runs, where nothing can
        wait: decided, delivered, reacted to, and not kept (such commands change nothing
        that outlives the process)."""
        events = self.hub.machine(command).decide(self, command, self.hub.clock())
        self.deliver(events)
        self.tell_listeners(events)
        return events

    def tell_listeners(self, events: list[Event]) -> None:
        """Give events to each of the hub's listeners (attendance, the recorder's journal).

        A listener that raises is logged and skipped: a faulty one must not break the room.
        """
        for listener in self.hub.listeners:
            try:
                listener(self, events)
            except Exception:
                log.exception("event listener failed", extra={"room": self.name})

    def deliver(self, events: list[Event]) -> None:
        for event in events:
            message = event_message(event)
            if event.to is None and message["type"] in ANNOUNCED:
                self.announce(message)
            else:
                self.send(message, event.to)
            if isinstance(event, Admitted):
                # Out of the lobby: now the newcomer's pages may see the room.
                for connection in self.pages_of(event.id):
                    connection.send(self.welcome(connection.identity))

    def announce(self, message: dict[str, Any]) -> None:
        """Send an arrival or departure to the room now, or with the window's batch."""
        loop = asyncio.get_running_loop()
        start, singly = self.announce_window
        if loop.time() - start >= ANNOUNCE_WINDOW_S:
            start, singly = loop.time(), 0
        if singly < ANNOUNCE_SINGLY and not self.announcements:
            self.announce_window = (start, singly + 1)
            self.send(message)
            return
        self.announce_window = (start, singly)
        self.announcements.append(message)
        if self.announce_timer is None:
            self.announce_timer = loop.call_at(start + ANNOUNCE_WINDOW_S, self.flush_announcements)

    def flush_announcements(self) -> None:
        """Send the arrivals and departures held back, as one message."""
        if self.announce_timer is not None:
            self.announce_timer.cancel()
            self.announce_timer = None
        held, self.announcements = self.announcements, []
        if held:
            self.send({"type": "participants_changed", "events": held})

    def pages_of(self, pid: str) -> list[Connection]:
        """The open pages of a participant that hear from the room (not those on standby)."""
        primary = self.connections.get(pid)
        pages = [primary] if primary is not None else []
        pages += [c for c in self.others.get(pid, ()) if not c.standby]
        return pages

    def add_other(self, connection: Connection) -> None:
        self.others.setdefault(connection.pid, set()).add(connection)

    def discard_other(self, connection: Connection) -> None:
        others = self.others.get(connection.pid)
        if others is not None:
            others.discard(connection)
            if not others:
                del self.others[connection.pid]

    def close_pages(self, pid: str, code: int, reason: str) -> None:
        """Close every page of a participant (removed, refused at the lobby)."""
        primary = self.connections.pop(pid, None)
        for connection in [primary, *self.others.pop(pid, ())]:
            if connection is not None:
                connection.close(code, reason)

    def send(self, message: dict[str, Any], to: tuple[str, ...] | None = None) -> None:
        """Send to every admitted participant (to=None) or to the given participant ids,
        on each of their open pages (media messages go to the classroom page alone).

        People waiting in the lobby receive only what is addressed to them. Before another
        message to everyone, the arrivals and departures held back are sent (``announce``),
        to keep the order.
        """
        if to is None and self.announcements and message.get("type") != "participants_changed":
            self.flush_announcements()
        if to is None:
            members = self.core.participants
            pids: Any = [pid for pid in self.connections if pid in members]
            pids += [pid for pid in self.others if pid in members and pid not in self.connections]
        else:
            pids = to
        media = message.get("type") in MEDIA_MESSAGES
        text = json.dumps(message)
        for pid in pids:
            for connection in self.pages_of(pid):
                if not (media and connection.page != CLASSROOM_PAGE):
                    connection.send_text(text)

    def welcome(self, identity: Identity) -> dict[str, Any]:
        """The first message of a connection: who they are and the room they may see."""
        if identity.sub in self.core.lobby:
            room = self.core.lobby_snapshot(identity.sub)
        else:
            room = self.core.snapshot(moderator=can(identity.role, Action.MODERATE))
        return {"type": "welcome", "you": identity.to_json(), "room": room}


class Hub:
    """Every live room of this process, created on first join."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.rooms: dict[str, LiveRoom] = {}
        # Limits of every room (``classroom.room.Room``'s keywords), from the settings.
        self.room_options: dict[str, int] = {}
        self.listeners: list[EventListener] = []
        self.closing: set[asyncio.Task[None]] = set()  # rooms being closed after expiry
        #: The repository step of ``LiveRoom.execute`` and a room's restoring, set by the
        #: composition root (``live.room_records`` through the store).
        self.persist: Keep | None = None
        self.restore: Callable[[LiveRoom], Awaitable[None]] | None = None
        #: The machine that runs each command type (``register``).
        self.machines: dict[type, Machine] = {}
        self.register(core.Command, Machine(_room_decides, self._keep_room))

    def register(self, commands: Any, machine: Machine) -> None:
        """Run commands of these types (a class, or a union of classes such as
        ``classroom.channel.Command``) with ``machine``."""
        for kind in typing.get_args(commands) or (commands,):
            if kind in self.machines:
                raise ValueError(f"{kind.__name__} has a machine already")
            self.machines[kind] = machine

    def machine(self, command: Any) -> Machine:
        try:
            return self.machines[type(command)]
        except KeyError:
            raise TypeError(f"no machine runs {type(command).__name__}") from None

    async def _keep_room(self, live: LiveRoom, events: list[Event]) -> None:
        if self.persist is not None:
            await self.persist(live, events)

    def room(self, name: str) -> LiveRoom:
        live = self.rooms.get(name)
        if live is None:
            live = self.rooms[name] = LiveRoom(self, name)
        return live

    def expire(self) -> None:
        """Let participants gone past the reconnect grace leave; forget empty rooms."""
        for name, live in list(self.rooms.items()):
            live.apply(ExpireDisconnected())
            empty = not (
                live.core.participants or live.core.lobby or live.connections or live.others
            )
            if empty and live.idle:
                del self.rooms[name]
                closing = asyncio.get_running_loop().create_task(live.close())
                self.closing.add(closing)
                closing.add_done_callback(self.closing.discard)

    def connections(self) -> list[Connection]:
        return [c for live in self.rooms.values() for c in live.connections.values()]


def _room_decides(live: LiveRoom, command: Any, now: float) -> list[Event]:
    return live.core.handle(command, now)
