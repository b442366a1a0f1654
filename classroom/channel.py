"""Interpretation channels as data: languages, booths, listener choices, commands and events.

The state machine that takes these commands and returns these events is
``classroom.interpretation``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from classroom.errors import InvalidCommand
from classroom.room import Event

#: Languages a channel may carry, with whether their script runs right to left.
LANGUAGES: dict[str, bool] = {
    "sr": False,
    "bs": False,
    "hr": False,
    "cnr": False,  # Montenegrin
    "mk": False,
    "sq": False,
    "en": False,
    "fr": False,
    "tr": False,
    "ar": True,
    "ps": True,
    "fa": True,
    # Sign languages (ISO 639-3): their interpreters publish video (SOURCE_SIGNING).
    "ysl": False,  # Serbian (Yugoslav) Sign Language
    "ils": False,  # International Sign
}
#: The sign languages among LANGUAGES: a channel of video, not of voice.
SIGNED = frozenset({"ysl", "ils"})
ORIGINAL = "original"  # a listener's choice: the floor alone, no interpretation
FLOOR = "floor"  # an interpreter's source: the floor (else a pivot channel, for relay)
DEFAULT_FLOOR_DB = -14.0
FLOOR_DB_RANGE = (-60.0, 0.0)
BOOTH_TEXT_MAX_CHARS = 1000
#: Signals a booth sends the trainer (and its partners): the speaker is too fast, or
#: speaks away from the microphone.
SIGNALS = ("slow_down", "use_microphone")
#: Signals for the booth alone: the partner off air asks to take over.
BOOTH_SIGNALS = ("handover_request",)

# Media sources this module rules over (the media router's names).
SOURCE_MICROPHONE = "microphone"
SOURCE_INTERPRETATION = "interpretation"
SOURCE_BOOTH = "booth"
SOURCE_SIGNING = "signing"  # a sign-language interpreter's video, into their channel


@dataclasses.dataclass
class Interpreter:
    """An interpreter assigned to one channel's booth, and what they listen to."""

    id: str
    channel: str
    relay: str = FLOOR  # FLOOR or the channel they relay from (a pivot language)
    # Where their voice goes: their booth's channel (A), or another for retour (B).
    output: str = ""
    microphone: bool = True  # their console's microphone switch, shown to the partner

    def __post_init__(self) -> None:
        if not self.output:
            self.output = self.channel


@dataclasses.dataclass
class Handover:
    giver: str
    taker: str | None  # None: whoever of the booth takes it first


@dataclasses.dataclass
class Channel:
    lang: str
    booth: list[str] = dataclasses.field(default_factory=list)  # interpreter ids, in arrival order
    on_air: str | None = None
    on_air_since: float | None = None
    handover: Handover | None = None


@dataclasses.dataclass
class Listening:
    """A listener's choice, kept across reconnects: a channel (or ORIGINAL) and the floor level."""

    channel: str = ORIGINAL
    floor_db: float = DEFAULT_FLOOR_DB

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "floor_db": self.floor_db}


@dataclasses.dataclass(frozen=True)
class Segment:
    """One stretch of one interpreter on air in one channel (end None: still on air)."""

    channel: str
    id: str
    name: str
    start: float
    end: float | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- commands (imperative) --------------------------------------------------


# Arrive, Depart and Forget carry no membership: who someone is (name, role, language)
# and whether the room has them connected, interpretation reads from the room's roster
# (``classroom.roster``). They are the moments interpretation acts on.


@dataclasses.dataclass(frozen=True)
class Arrive:
    """Someone in the room (joined or rejoined) is ready: an interpreter takes their place
    in the booth of their language (the room's ``lang`` for them), on air if nobody is."""

    id: str


@dataclasses.dataclass(frozen=True)
class Depart:
    """Someone's classroom page closed (before the room hears of it, or while a side page
    keeps them present): an interpreter goes off air and shows disconnected, but keeps
    their booth place; a listener keeps their choice."""

    id: str


@dataclasses.dataclass(frozen=True)
class Forget:
    """Someone left the room for good: an interpreter leaves their booth too."""

    id: str


@dataclasses.dataclass(frozen=True)
class OpenChannel:
    actor: str
    lang: str


@dataclasses.dataclass(frozen=True)
class CloseChannel:
    actor: str
    lang: str


@dataclasses.dataclass(frozen=True)
class TakeAir:
    """Go on air in one's channel: when nobody is, or to take a handover offered."""

    actor: str
    channel: str


@dataclasses.dataclass(frozen=True)
class LeaveAir:
    actor: str


@dataclasses.dataclass(frozen=True)
class OfferHandover:
    actor: str
    to: str | None = None  # None: to whoever of the booth takes it


@dataclasses.dataclass(frozen=True)
class CancelHandover:
    actor: str


@dataclasses.dataclass(frozen=True)
class SetRelay:
    actor: str
    source: str  # FLOOR or a channel


@dataclasses.dataclass(frozen=True)
class SetFloorLanguage:
    actor: str
    lang: str | None


@dataclasses.dataclass(frozen=True)
class SelectChannel:
    actor: str
    channel: str  # ORIGINAL or a channel


@dataclasses.dataclass(frozen=True)
class SetFloorLevel:
    actor: str
    floor_db: float


@dataclasses.dataclass(frozen=True)
class SendBoothMessage:
    actor: str
    text: str


@dataclasses.dataclass(frozen=True)
class SetOutput:
    """Switch the channel one's voice goes to (A: one's booth; B: another, for retour);
    on air, the air moves with the voice at once."""

    actor: str
    channel: str


@dataclasses.dataclass(frozen=True)
class SetMicrophone:
    """The console's microphone switch, shown to the booth partners."""

    actor: str
    on: bool


@dataclasses.dataclass(frozen=True)
class SendSignal:
    """A booth's signal to the trainer: one of SIGNALS."""

    actor: str
    kind: str


Command = (
    Arrive
    | Depart
    | Forget
    | OpenChannel
    | CloseChannel
    | TakeAir
    | LeaveAir
    | OfferHandover
    | CancelHandover
    | SetRelay
    | SetFloorLanguage
    | SelectChannel
    | SetFloorLevel
    | SendBoothMessage
    | SetOutput
    | SetMicrophone
    | SendSignal
)


# --- events (past tense) ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ChannelChanged(Event):
    """A channel opened or its booth, air or pending handover changed."""

    channel: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class ChannelClosed(Event):
    channel: str


@dataclasses.dataclass(frozen=True)
class OnAirChanged(Event):
    """Who speaks in a channel changed at ``at`` (id None: nobody): the timeline to journal."""

    channel: str
    id: str | None
    name: str | None
    previous: str | None
    at: float


@dataclasses.dataclass(frozen=True)
class HandoverOffered(Event):
    channel: str
    by: str
    taker: str | None


@dataclasses.dataclass(frozen=True)
class HandoverCancelled(Event):
    channel: str
    by: str


@dataclasses.dataclass(frozen=True)
class FloorLanguageChanged(Event):
    lang: str | None


@dataclasses.dataclass(frozen=True)
class ListeningChanged(Event):
    """One listener's own choice (sent to them alone)."""

    channel: str
    floor_db: float


@dataclasses.dataclass(frozen=True)
class BoothMessagePosted(Event):
    """Private text between booth partners (sent to that booth alone)."""

    channel: str
    sender: str
    name: str
    text: str
    at: float


@dataclasses.dataclass(frozen=True)
class InterpreterSignal(Event):
    """A booth's signal (one of SIGNALS), to the trainers present and the booth."""

    channel: str
    sender: str
    name: str
    kind: str
    at: float


@dataclasses.dataclass(frozen=True)
class AudienceChanged(Event):
    """How many listeners follow a channel now, told to those who speak into it."""

    channel: str
    listeners: int


def changes_forwarding(events: list[Event]) -> bool:
    """Whether any of these events may change who hears which voice (the rule, and which
    decisions they change, is ``classroom.forwarding.channel_scope``)."""
    from classroom import forwarding  # it imports this module

    return bool(forwarding.channel_scope(events))


def known_language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise InvalidCommand(f"no interpretation into {lang!r}; one of {', '.join(LANGUAGES)}")
    return lang
