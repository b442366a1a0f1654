"""Live polls of one room: prepared or made on the spot, opened, answered, closed, published.

``PollBook.handle(command, now)`` applies one command and returns the events it caused;
a refused command raises a ClassroomError and changes nothing. An anonymous poll keeps
who has answered (so nobody answers twice) apart from what was answered, and never the
link between the two: its answers are only counts (and, for free text, unordered texts).
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from classroom.book import Book
from classroom.errors import InvalidCommand, InvalidValue
from classroom.permissions import Action, Role
from classroom.question import MAX_OPTIONS, OPTION_MAX_CHARS, QUESTION_MAX_CHARS, checked_text
from classroom.room import Event

TEXT_MAX_CHARS = 1000  # the largest free-text limit a trainer may set
DEFAULT_TEXT_MAX = 280
SCALE_MIN, SCALE_MAX = 2, 10  # a rating scale runs from 1 to its size
MAX_POLLS = 500  # polls kept per room

Answer = int | tuple[int, ...] | str


class PollKind(enum.StrEnum):
    SINGLE = "single"  # one option
    MULTIPLE = "multiple"  # one or more options
    RATING = "rating"  # 1..scale
    TEXT = "text"  # short free text


class PollState(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


def _index(value: Any, size: int, what: str = "option") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(f"an {what} is given by its number")
    if not 0 <= value < size:
        raise InvalidValue(f"{what} {value} does not exist (there are {size})")
    return value


@dataclasses.dataclass(frozen=True)
class PollSpec:
    """What a poll asks; built through ``build``, which checks and tidies every field."""

    question: str
    kind: PollKind
    options: tuple[str, ...] = ()
    anonymous: bool = False
    allow_change: bool = False
    scale: int = 5
    text_max: int = DEFAULT_TEXT_MAX

    @classmethod
    def build(
        cls,
        question: str,
        kind: str,
        options: tuple[str, ...] | list[str] = (),
        anonymous: bool = False,
        allow_change: bool = False,
        scale: int = 5,
        text_max: int = DEFAULT_TEXT_MAX,
    ) -> PollSpec:
        try:
            poll_kind = PollKind(kind)
        except ValueError:
            known = ", ".join(PollKind)
            raise InvalidValue(f"unknown poll kind {kind!r}; one of {known}") from None
        question = checked_text(question, "the question", QUESTION_MAX_CHARS)
        choices = tuple(checked_text(o, "an option", OPTION_MAX_CHARS) for o in options)
        if poll_kind in (PollKind.SINGLE, PollKind.MULTIPLE):
            if not 2 <= len(choices) <= MAX_OPTIONS:
                raise InvalidValue(f"a choice poll has 2 to {MAX_OPTIONS} options")
            if len(set(choices)) != len(choices):
                raise InvalidValue("two options are the same")
        elif choices:
            raise InvalidValue(f"a {poll_kind} poll has no options")
        if poll_kind is PollKind.RATING and not SCALE_MIN <= scale <= SCALE_MAX:
            raise InvalidValue(f"a rating scale has {SCALE_MIN} to {SCALE_MAX} steps")
        if poll_kind is PollKind.TEXT and not 1 <= text_max <= TEXT_MAX_CHARS:
            raise InvalidValue(f"the text limit must be 1 to {TEXT_MAX_CHARS} characters")
        if anonymous and allow_change:
            # Changing an answer needs the link between person and answer that anonymity forbids.
            raise InvalidValue("answers to an anonymous poll cannot be changed")
        return cls(question, poll_kind, choices, anonymous, allow_change, scale, text_max)

    @property
    def size(self) -> int:
        """How many counters the tally has: one per option, or per rating step."""
        if self.kind is PollKind.RATING:
            return self.scale
        return len(self.options)

    def check_answer(self, raw: Any) -> Answer:
        """The answer in its tidy form, or InvalidValue saying what is wrong with it."""
        if self.kind is PollKind.SINGLE:
            return _index(raw, len(self.options))
        if self.kind is PollKind.MULTIPLE:
            if not isinstance(raw, list | tuple) or not raw:
                raise InvalidValue("choose at least one option (a list of option numbers)")
            chosen = tuple(sorted({_index(v, len(self.options)) for v in raw}))
            if len(chosen) != len(raw):
                raise InvalidValue("an option is chosen twice")
            return chosen
        if self.kind is PollKind.RATING:
            if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= self.scale:
                raise InvalidValue(f"a rating is a whole number from 1 to {self.scale}")
            return raw
        return checked_text(raw, "the answer", self.text_max)

    def counters(self, answer: Answer) -> list[int]:
        """The tally counters an answer adds one to (none for free text)."""
        if isinstance(answer, tuple):
            return list(answer)
        if isinstance(answer, int):
            return [answer - 1 if self.kind is PollKind.RATING else answer]
        return []

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["kind"], data["options"] = self.kind.value, list(self.options)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PollSpec:
        return cls.build(**data)


@dataclasses.dataclass(frozen=True)
class Ballot:
    """One named answer: what, by whom (their name then), when."""

    answer: Answer
    name: str
    at: float

    def to_json(self) -> dict[str, Any]:
        answer = list(self.answer) if isinstance(self.answer, tuple) else self.answer
        return {"answer": answer, "name": self.name, "at": self.at}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ballot:
        answer = data["answer"]
        return cls(tuple(answer) if isinstance(answer, list) else answer, data["name"], data["at"])


@dataclasses.dataclass
class Poll:
    """One poll and its answers; named polls keep ballots, anonymous ones only counts."""

    id: str
    spec: PollSpec
    created_by: str
    created_at: float
    state: PollState = PollState.DRAFT
    session_id: str | None = None
    opened_at: float | None = None
    closed_at: float | None = None
    published: bool = False
    ballots: dict[str, Ballot] = dataclasses.field(default_factory=dict)  # named polls only
    voters: set[str] = dataclasses.field(default_factory=set)  # who answered, never what
    counts: list[int] = dataclasses.field(default_factory=list)  # anonymous polls only
    texts: list[str] = dataclasses.field(default_factory=list)  # anonymous free text

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * self.spec.size

    def tally(self) -> dict[str, Any]:
        """Counts per option (or rating step), free texts, and how many have answered."""
        counts, texts = list(self.counts), sorted(self.texts)  # sorted: no order to trace
        if not self.spec.anonymous:
            counts, texts = [0] * self.spec.size, []
            for ballot in sorted(self.ballots.values(), key=lambda b: b.at):
                for counter in self.spec.counters(ballot.answer):
                    counts[counter] += 1
                if isinstance(ballot.answer, str):
                    texts.append(ballot.answer)
        return {"answered": len(self.voters), "counts": counts, "texts": texts}

    def public(self) -> dict[str, Any]:
        """What every participant may see; the tally only once published."""
        view = {
            "id": self.id,
            **self.spec.to_json(),
            "state": self.state.value,
            "session_id": self.session_id,
            "opened_at": self.opened_at,
            "closed_at": self.closed_at,
            "published": self.published,
        }
        if self.published:
            view["tally"] = self.tally()
        return view

    def full(self) -> dict[str, Any]:
        """What those who may view results see: everything but who answered what."""
        return {**self.public(), "created_at": self.created_at, "tally": self.tally()}

    def to_record(self) -> dict[str, Any]:
        """The poll without its answers, as the store keeps it."""
        return {
            "id": self.id,
            "spec": self.spec.to_json(),
            "created_by": self.created_by,
            "created_at": self.created_at,
            "state": self.state.value,
            "session_id": self.session_id,
            "opened_at": self.opened_at,
            "closed_at": self.closed_at,
            "published": self.published,
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Poll:
        fields = {**data, "spec": PollSpec.from_json(data["spec"])}
        fields["state"] = PollState(data["state"])
        return cls(**fields)


# --- commands (imperative) --------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CreatePoll:
    actor: str
    role: Role
    poll_id: str
    spec: PollSpec


@dataclasses.dataclass(frozen=True)
class OpenPoll:
    actor: str
    role: Role
    poll_id: str
    session_id: str | None = None


@dataclasses.dataclass(frozen=True)
class ClosePoll:
    actor: str
    role: Role
    poll_id: str


@dataclasses.dataclass(frozen=True)
class PublishResults:
    actor: str
    role: Role
    poll_id: str


@dataclasses.dataclass(frozen=True)
class AnswerPoll:
    actor: str  # from the authenticated connection, never from the message
    role: Role
    name: str
    poll_id: str
    answer: Any  # as received; checked against the poll


Command = CreatePoll | OpenPoll | ClosePoll | PublishResults | AnswerPoll


# --- events (past tense) ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PollCreated(Event):
    poll: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class PollOpened(Event):
    poll: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class PollAnswerRecorded(Event):
    poll: str
    answer: Any
    changed: bool


@dataclasses.dataclass(frozen=True)
class PollTallied(Event):
    poll: str
    tally: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class PollClosed(Event):
    poll: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class PollResultsPublished(Event):
    poll: str
    tally: dict[str, Any]


class PollBook(Book[Poll, Command]):
    """The polls of one room; mutate it only through ``handle``."""

    noun, plural, limit = "poll", "polls", MAX_POLLS

    def _seen_by(self, poll: Poll, pid: str) -> dict[str, Any] | None:
        """An opened poll, with the participant's own answer if any."""
        if poll.state is PollState.DRAFT:
            return None
        view = poll.public()
        ballot = poll.ballots.get(pid)
        view["answered"] = pid in poll.voters
        view["your_answer"] = ballot.to_json()["answer"] if ballot else None
        return view

    def _managed(
        self, cmd: OpenPoll | ClosePoll | PublishResults, state: PollState, refusal: str
    ) -> Poll:
        return self._in_state(cmd.role, Action.MANAGE_POLLS, cmd.poll_id, state, refusal)

    def _on_CreatePoll(self, cmd: CreatePoll, now: float) -> list[Event]:
        poll = self._add(cmd.role, Poll(cmd.poll_id, cmd.spec, cmd.actor, now))
        return [PollCreated(self.viewers, poll.full())]

    def _on_OpenPoll(self, cmd: OpenPoll, now: float) -> list[Event]:
        poll = self._managed(
            cmd, PollState.DRAFT, "poll {id} is {state}; only a draft can be opened"
        )
        poll.state, poll.opened_at, poll.session_id = PollState.OPEN, now, cmd.session_id
        return [PollOpened(None, poll.public()), PollTallied(self.viewers, poll.id, poll.tally())]

    def _on_ClosePoll(self, cmd: ClosePoll, now: float) -> list[Event]:
        poll = self._managed(cmd, PollState.OPEN, "poll {id} is {state}, not open")
        poll.state, poll.closed_at = PollState.CLOSED, now
        return [PollClosed(None, poll.public()), PollTallied(self.viewers, poll.id, poll.tally())]

    def _on_PublishResults(self, cmd: PublishResults, now: float) -> list[Event]:
        poll = self._managed(cmd, PollState.CLOSED, "close the poll before publishing its results")
        if poll.published:
            return []
        poll.published = True
        return [PollResultsPublished(None, poll.id, poll.tally())]

    def _on_AnswerPoll(self, cmd: AnswerPoll, now: float) -> list[Event]:
        refusal = "poll {id} is {state}; answers are not taken"
        poll = self._in_state(cmd.role, Action.ANSWER_POLLS, cmd.poll_id, PollState.OPEN, refusal)
        answer = poll.spec.check_answer(cmd.answer)
        changed = cmd.actor in poll.voters
        if changed and not poll.spec.allow_change:
            raise InvalidCommand("you have answered this poll already")
        poll.voters.add(cmd.actor)
        if poll.spec.anonymous:
            for counter in poll.spec.counters(answer):
                poll.counts[counter] += 1
            if isinstance(answer, str):
                poll.texts.append(answer)
        else:
            poll.ballots[cmd.actor] = Ballot(answer, cmd.name, now)
        shown = list(answer) if isinstance(answer, tuple) else answer
        return [
            PollAnswerRecorded((cmd.actor,), poll.id, shown, changed),
            PollTallied(self.viewers, poll.id, poll.tally()),
        ]
