"""Which forwarding decisions events change (``classroom.forwarding``): the scope the media
router looks at again, table-driven, and checked against the rules it stands for: after
every command of a scripted class, every (publisher, source, viewer) decision that
changed lies in the scope of the events the command returned."""

from __future__ import annotations

import inspect
import itertools

import pytest

from classroom import channel as ch
from classroom import forwarding as fw
from classroom import room
from classroom.forwarding import Pairs, Scope
from classroom.interpretation import Interpretation
from classroom.permissions import Role
from classroom.publishing import room_lets_through

EVERYONE = None


def booth(*pids: str) -> dict[str, object]:
    return {"lang": "sr", "booth": [{"id": pid, "relay": "floor"} for pid in pids]}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (room.ParticipantJoined(EVERYONE, {"id": "ana"}), Scope.participant("ana")),
        (room.ParticipantLeft(EVERYONE, "ana", "left"), Scope.participant("ana")),
        (room.Admitted(("ana",), "ana"), Scope.participant("ana")),
        (room.Removed(EVERYONE, "ana", "tea"), Scope.participant("ana")),
        (room.MuteChanged(EVERYONE, "ana", True, "tea"), Scope.publisher("ana", "microphone")),
        (room.PinChanged(EVERYONE, "ivana"), fw.VIDEOS),
        (
            room.ScreenShareChanged(EVERYONE, "tea", True),
            Scope.of(Pairs(publisher="tea", source="screen"), videos=True),
        ),
        (room.ChatPosted(EVERYONE, "c1", "ana", "Ana", "Pitanje?", 1.0), fw.NOTHING),
        (room.HandChanged(EVERYONE, "ana", True), fw.NOTHING),
        (room.SessionChanged(EVERYONE, {"state": "live"}), fw.NOTHING),
        (room.MicrophoneChanged(EVERYONE, "ana", True), fw.NOTHING),
        (room.ParticipantDisconnected(EVERYONE, "ana"), fw.NOTHING),  # keeps their place
    ],
)
def test_the_room_changes_only_what_its_events_name(event: room.Event, expected: Scope) -> None:
    assert fw.room_scope([event]) == expected
    assert room.changes_forwarding([event]) is bool(expected)
    assert fw.channel_scope([event]) == fw.NOTHING  # the channels' call site ignores it


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            ch.OnAirChanged(EVERYONE, "sr", "ivana", "Ivana", "igor", 1.0),
            Scope.of(
                Pairs(publisher="ivana", source="interpretation"),
                Pairs(publisher="ivana", source="signing"),
                Pairs(publisher="igor", source="interpretation"),
                Pairs(publisher="igor", source="signing"),
            ),
        ),
        (
            ch.OnAirChanged(EVERYONE, "sr", "ivana", "Ivana", None, 1.0),
            Scope.of(
                Pairs(publisher="ivana", source="interpretation"),
                Pairs(publisher="ivana", source="signing"),
            ),
        ),
        (
            ch.ChannelChanged(EVERYONE, booth("ivana")),
            Scope.of(
                Pairs(publisher="ivana"),
                Pairs(source="interpretation", viewer="ivana"),
                Pairs(source="signing", viewer="ivana"),
                Pairs(source="booth", viewer="ivana"),
            ),
        ),
        (ch.ChannelChanged(EVERYONE, booth()), fw.NOTHING),  # a channel opened, nobody in it
        (
            ch.ListeningChanged(("ana",), "sr", -14.0),
            Scope.of(
                Pairs(source="interpretation", viewer="ana"),
                Pairs(source="signing", viewer="ana"),
            ),
        ),
        (
            ch.ChannelClosed(EVERYONE, "sr"),
            Scope.of(Pairs(source="interpretation"), Pairs(source="signing")),
        ),
        (ch.FloorLanguageChanged(EVERYONE, "sr"), fw.NOTHING),
        (ch.HandoverOffered(("ivana", "marko"), "sr", "ivana", None), fw.NOTHING),
        (
            ch.BoothMessagePosted(("ivana", "marko"), "sr", "ivana", "Ivana", "5 min", 1.0),
            fw.NOTHING,
        ),
    ],
)
def test_the_channels_change_only_what_their_events_name(
    event: room.Event, expected: Scope
) -> None:
    assert fw.channel_scope([event]) == expected
    assert ch.changes_forwarding([event]) is bool(expected)
    assert fw.room_scope([event]) == fw.NOTHING  # the room's call site ignores it


@pytest.mark.parametrize(("module", "rules"), [(room, fw.ROOM_RULES), (ch, fw.CHANNEL_RULES)])
def test_every_event_has_a_rule(module: object, rules: dict[type, object]) -> None:
    """A new event type must say what it changes (quiet, or a scope)."""
    events = {
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, room.Event)
        and cls is not room.Event
        and cls.__module__ == module.__name__  # type: ignore[attr-defined]
    }
    assert events == set(rules)


def test_a_batch_is_the_union_of_its_events() -> None:
    quiet = room.HandChanged(EVERYONE, "ana", True)
    assert not fw.room_scope([quiet, quiet])
    assert not room.changes_forwarding([])
    batch = [quiet, room.MuteChanged(EVERYONE, "ana", True, "t"), room.PinChanged(EVERYONE, None)]
    assert fw.room_scope(batch) == Scope.of(Pairs("ana", "microphone"), videos=True)
    assert fw.scope([*batch, ch.ListeningChanged(("bo",), "sr", -14.0)]) == Scope.of(
        Pairs("ana", "microphone"),
        Pairs(source="interpretation", viewer="bo"),
        Pairs(source="signing", viewer="bo"),
        videos=True,
    )
    assert fw.EVERYTHING.everything and not Scope.participant("ana").everything
    assert Pairs(publisher="ana").covers("ana", "camera")
    assert not Pairs(publisher="ana", source="microphone").covers("ana", "camera")


# --- the rule against what it stands for --------------------------------------------

SOURCES = ("camera", "microphone", "screen", "interpretation", "booth")
PEOPLE = {
    "t": (Role.TRAINER, None),
    "a": (Role.TRAINEE, None),
    "b": (Role.TRAINEE, None),
    "d": (Role.ROOM, None),
    "i1": (Role.INTERPRETER, "sr"),
    "i2": (Role.INTERPRETER, "sr"),
    "e1": (Role.INTERPRETER, "en"),
    "late": (Role.TRAINEE, None),
}
VIEWERS = (*PEOPLE, "recorder")


class Class:
    """A room and its channels, with the two rules the router's policies ask: the room's
    (``room_lets_through``) and interpretation's (``forwards``)."""

    def __init__(self) -> None:
        self.room = room.Room("r")
        self.channels = Interpretation(("sr", "en"), roster=self.room)

    def forwards(self, publisher: str, source: str, viewer: str) -> bool:
        participant = self.room.participants.get(publisher)
        return room_lets_through(participant, source) and self.channels.forwards(
            publisher, source, viewer
        )

    def decisions(self) -> dict[tuple[str, str, str], bool]:
        return {
            (p, s, v): self.forwards(p, s, v)
            for p, s, v in itertools.product(PEOPLE, SOURCES, VIEWERS)
            if p != v
        }

    def run(self, command: object) -> list[room.Event]:
        if isinstance(command, room.Join):
            events = self.room.handle(command, 0)
            return events + self.channels.handle(ch.Arrive(command.id), 0)
        if isinstance(command, ch.Forget):
            return self.channels.handle(command, 0)
        if type(command).__module__ == room.__name__:
            events = self.room.handle(command, 0)  # type: ignore[arg-type]
            gone = [e.id for e in events if isinstance(e, room.ParticipantLeft)]
            return events + [e for pid in gone for e in self.channels.handle(ch.Forget(pid), 0)]
        return self.channels.handle(command, 0)  # type: ignore[arg-type]


SCRIPT: list[object] = [
    *(room.Join(pid, pid, role, lang) for pid, (role, lang) in PEOPLE.items() if pid != "late"),
    room.Mute("t", "a"),
    room.Mute("t", None),
    room.Mute("t", "a", muted=False),
    room.AllowScreenShare("t", True),
    room.ShareScreen("b", True),
    room.ShareScreen("t", True),
    room.AllowScreenShare("t", False),
    room.Pin("t", "a"),
    room.SendChat("a", "Pitanje?"),
    room.RaiseHand("b", True),
    ch.SelectChannel("a", "sr"),
    ch.SelectChannel("b", "en"),
    ch.SetFloorLevel("a", -20.0),
    ch.OfferHandover("i1", "i2"),
    ch.TakeAir("i2", "sr"),
    ch.SetRelay("e1", "sr"),
    ch.SendBoothMessage("i1", "5 min"),
    ch.SetFloorLanguage("t", "en"),
    ch.OfferHandover("i2"),
    ch.CancelHandover("i2"),
    room.Join("late", "late", Role.TRAINEE),
    ch.SelectChannel("late", "en"),
    room.Disconnect("i2"),
    ch.Depart("i2"),
    room.Join("i2", "i2", Role.INTERPRETER, "sr"),
    ch.LeaveAir("e1"),
    ch.OpenChannel("t", "fr"),
    ch.SelectChannel("b", "fr"),
    ch.CloseChannel("t", "fr"),
    room.Remove("t", "a"),
    room.Leave("i1"),
    ch.SetRelay("e1", "floor"),
    room.Leave("late"),
]


def test_every_decision_that_changes_lies_in_the_scope_of_its_events() -> None:
    klass = Class()
    before = klass.decisions()
    for command in SCRIPT:
        events = klass.run(command)
        scope = fw.scope(events)
        after = klass.decisions()
        changed = [key for key in after if after[key] != before[key]]
        missed = [
            (p, s, v)
            for p, s, v in changed
            if not any(pairs.covers(p, s) and pairs.viewer in (None, v) for pairs in scope.pairs)
        ]
        assert missed == [], f"{command}: {missed} changed outside {scope}"
        before = after


def test_polls_and_quizzes_never_reach_the_router() -> None:
    """Every other feature's events (a quiz answer, a tally, a poll...) have no scope."""
    from classroom import poll, quiz

    others = [
        cls
        for module in (quiz, poll)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, room.Event) and cls.__module__ == module.__name__
    ]
    assert quiz.QuizAnswerRecorded in others and quiz.QuestionTallied in others
    assert not set(others) & (set(fw.ROOM_RULES) | set(fw.CHANNEL_RULES))
