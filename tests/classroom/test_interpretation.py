"""The interpretation state machine: booths, air, handover, relay, floor language, listeners."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from classroom import channel as c
from classroom.errors import ClassroomError, Forbidden, InvalidCommand, NotFound
from classroom.interpretation import Interpretation
from classroom.permissions import Role
from classroom.room import Disconnect, Event, Join, Leave, ParticipantLeft, Room

PEOPLE = [
    ("t", "Tea", Role.TRAINER, "sr"),
    ("a", "Ana", Role.TRAINEE, "mk"),
    ("b", "Besa", Role.TRAINEE, "sq"),
    ("d", "Room 3", Role.ROOM, None),
    ("i1", "Ivana", Role.INTERPRETER, "sr"),
    ("i2", "Igor", Role.INTERPRETER, "sr"),
    ("e1", "Emma", Role.INTERPRETER, "en"),
    ("r1", "Rania", Role.INTERPRETER, "ar"),
]
# In the room, not arrived in the channels: interpreters whose tokens name no language,
# or one there is no interpretation into.
UNPLACED = [("x", "Xena", Role.INTERPRETER, None), ("y", "Yann", Role.INTERPRETER, "de")]


def make(channels: tuple[str, ...] = ("sr", "en")) -> Interpretation:
    """A trainer, two listeners, a room device and booths: sr (two), en (one), ar (one).
    The channels read who they are from the room (their roster)."""
    room = Room("r")
    state = Interpretation(channels, roster=room)
    for pid, name, role, lang in PEOPLE:
        room.handle(Join(pid, name, role, lang), 0)
        state.handle(c.Arrive(pid), 0)
    for pid, name, role, lang in UNPLACED:
        room.handle(Join(pid, name, role, lang), 0)
    return state


def room_of(state: Interpretation) -> Room:
    assert isinstance(state.roster, Room)
    return state.roster


Step = c.Command | Join | Leave | Disconnect


def run(state: Interpretation, step: Step, now: float) -> list[Event]:
    """A step of a class: the room's commands go to the room (whoever it drops is forgotten
    by the channels, as the live room's listener does), the channels' to the channels."""
    if isinstance(step, Join | Leave | Disconnect):
        events = room_of(state).handle(step, now)
        for gone in [e.id for e in events if isinstance(e, ParticipantLeft)]:
            events += state.handle(c.Forget(gone), now)
        return events
    return state.handle(step, now)


def names(events: list[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def dump(state: Interpretation) -> Any:
    return copy.deepcopy(
        (state.snapshot(), state.timeline, state.listening, state.interpreters, state.departed)
    )


def test_the_first_interpreter_of_a_language_is_on_air_and_the_second_is_the_partner() -> None:
    state = make()
    sr = state.snapshot()["channels"][0]
    assert (sr["lang"], sr["live"], sr["on_air"], sr["on_air_name"]) == ("sr", True, "i1", "Ivana")
    assert [m["id"] for m in sr["booth"]] == ["i1", "i2"]
    # An interpreter whose channel was not configured opens it on arrival (ar is right to left).
    ar = next(ch for ch in state.snapshot()["channels"] if ch["lang"] == "ar")
    assert ar["rtl"] is True and ar["on_air"] == "r1"
    assert [(s.channel, s.id, s.start, s.end) for s in state.timeline] == [
        ("sr", "i1", 0, None),
        ("en", "e1", 0, None),
        ("ar", "r1", 0, None),
    ]


@pytest.mark.parametrize(
    ("steps", "on_air", "expected"),
    [
        # Offered to anyone in the booth, taken by the partner.
        ([c.OfferHandover("i1"), c.TakeAir("i2", "sr")], "i2", ["OnAirChanged", "ChannelChanged"]),
        # Offered to the partner by name.
        (
            [c.OfferHandover("i1", to="i2"), c.TakeAir("i2", "sr")],
            "i2",
            ["OnAirChanged", "ChannelChanged"],
        ),
        # Handed over and back again.
        (
            [
                c.OfferHandover("i1"),
                c.TakeAir("i2", "sr"),
                c.OfferHandover("i2"),
                c.TakeAir("i1", "sr"),
            ],
            "i1",
            ["OnAirChanged", "ChannelChanged"],
        ),
        # The one on air stops: the channel is silent until someone takes it.
        ([c.LeaveAir("i1")], None, ["OnAirChanged", "ChannelChanged"]),
        ([c.LeaveAir("i1"), c.TakeAir("i2", "sr")], "i2", ["OnAirChanged", "ChannelChanged"]),
        # An offer withdrawn leaves the giver on air.
        (
            [c.OfferHandover("i1"), c.CancelHandover("i1")],
            "i1",
            ["HandoverCancelled", "ChannelChanged"],
        ),
        # The one on air dropping goes off air; coming back puts them on air again.
        ([c.Depart("i1")], None, ["OnAirChanged", "ChannelChanged"]),
        (
            [c.Depart("i1"), c.Arrive("i1")],
            "i1",
            ["OnAirChanged", "ChannelChanged"],
        ),
        # The partner dropping and coming back stays the partner.
        (
            [c.Depart("i2"), c.Arrive("i2")],
            "i1",
            ["ChannelChanged"],
        ),
    ],
)
def test_handover(steps: list[c.Command], on_air: str | None, expected: list[str]) -> None:
    state = make()
    events: list[Event] = []
    for number, step in enumerate(steps, start=1):
        events = state.handle(step, number * 10)
    assert state.channels["sr"].on_air == on_air
    assert names(events) == expected


def test_a_handover_leaves_no_gap_and_no_overlap_in_the_timeline() -> None:
    state = make()
    state.handle(c.OfferHandover("i1", to="i2"), 1200)
    offered = state.snapshot()["channels"][0]["handover"]
    assert offered == {"giver": "i1", "taker": "i2"}
    events = state.handle(c.TakeAir("i2", "sr"), 1500)
    switched = events[0]
    assert isinstance(switched, c.OnAirChanged)
    assert (switched.channel, switched.id, switched.previous, switched.at) == (
        "sr",
        "i2",
        "i1",
        1500,
    )
    state.handle(c.OfferHandover("i2"), 2900)
    state.handle(c.TakeAir("i1", "sr"), 3000)
    sr = [s for s in state.segments(now=4000) if s["channel"] == "sr"]
    assert [(s["id"], s["start"], s["end"]) for s in sr] == [
        ("i1", 0, 1500),
        ("i2", 1500, 3000),
        ("i1", 3000, 4000),
    ]
    assert state.snapshot()["channels"][0]["handover"] is None


def test_the_offer_goes_to_the_booth_only_and_a_partner_may_not_take_without_one() -> None:
    state = make()
    with pytest.raises(InvalidCommand, match="Ivana is on air"):
        state.handle(c.TakeAir("i2", "sr"), 5)
    [offered, _] = state.handle(c.OfferHandover("i1"), 10)
    assert isinstance(offered, c.HandoverOffered) and offered.to == ("i1", "i2")


@pytest.mark.parametrize(
    ("command", "error", "message"),
    [
        # An interpreter claiming another language.
        (c.TakeAir("i2", "en"), Forbidden, "you interpret into sr, not en"),
        # A handover to someone not in the booth (another booth, a listener, a stranger).
        (c.OfferHandover("i1", to="e1"), InvalidCommand, "not your partner in the sr booth"),
        (c.OfferHandover("i1", to="a"), InvalidCommand, "not your partner"),
        (c.OfferHandover("i1", to="nobody"), InvalidCommand, "not your partner"),
        (c.OfferHandover("i1", to="i1"), InvalidCommand, "not your partner"),
        (c.OfferHandover("i2"), InvalidCommand, "only the interpreter on air"),
        (c.OfferHandover("e1"), InvalidCommand, "nobody in your booth"),
        (c.CancelHandover("i1"), InvalidCommand, "no handover offer"),
        (c.LeaveAir("i2"), InvalidCommand, "not on air"),
        # A listener selecting a channel that does not exist (or is not open).
        (c.SelectChannel("a", "de"), NotFound, "no 'de' channel"),
        (c.SelectChannel("a", "fr"), NotFound, "no 'fr' channel"),
        (c.SelectChannel("i2", "en"), InvalidCommand, "set_relay"),
        (c.SelectChannel("ghost", "sr"), NotFound, "not in this room"),
        (c.SetFloorLevel("a", -80), InvalidCommand, "between -60 and 0 dB"),
        (c.SetFloorLevel("a", 6), InvalidCommand, "between -60 and 0 dB"),
        # A trainee cannot interpret, relay or talk in a booth.
        (c.TakeAir("a", "sr"), Forbidden, "a trainee may not interpret"),
        (c.SendBoothMessage("a", "hi"), Forbidden, "may not interpret"),
        (c.SetRelay("a", "en"), Forbidden, "may not interpret"),
        (c.SendBoothMessage("i1", "   "), InvalidCommand, "1 to 1000 characters"),
        # Relay from a channel that exists and is not one's own.
        (c.SetRelay("r1", "de"), NotFound, "no 'de' channel"),
        (c.SetRelay("r1", "fr"), NotFound, "no 'fr' channel"),
        (c.SetRelay("r1", "ar"), InvalidCommand, "another channel than your own"),
        # The floor language and channels are the trainer's.
        (c.SetFloorLanguage("a", "sr"), Forbidden, "may not set floor language"),
        (c.SetFloorLanguage("t", "klingon"), InvalidCommand, "no interpretation into"),
        (c.OpenChannel("a", "fr"), Forbidden, "may not manage channels"),
        (c.OpenChannel("t", "de"), InvalidCommand, "one of sr, bs"),
        (c.CloseChannel("t", "fr"), NotFound, "no 'fr' channel"),
        (c.CloseChannel("t", "sr"), InvalidCommand, "booth is not empty (Ivana, Igor)"),
        # Interpreters need a language; other roles do not interpret at all.
        (c.Arrive("x"), InvalidCommand, "names no language"),
        (c.Arrive("y"), InvalidCommand, "no interpretation"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    command: c.Command, error: type[ClassroomError], message: str
) -> None:
    state = make()
    state.handle(c.SelectChannel("a", "sr"), 1)
    before = dump(state)
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        state.handle(command, 10)
    assert dump(state) == before


@pytest.mark.parametrize(
    ("steps", "listening"),
    [
        ([], {"channel": "original", "floor_db": -14.0}),
        ([c.SelectChannel("a", "sr")], {"channel": "sr", "floor_db": -14.0}),
        ([c.SetFloorLevel("a", -20)], {"channel": "original", "floor_db": -20.0}),
        (
            [
                c.SelectChannel("a", "en"),
                c.SetFloorLevel("a", -6),
                c.SelectChannel("a", "original"),
            ],
            {"channel": "original", "floor_db": -6.0},
        ),
        # The choice outlives a dropped connection and even leaving the room.
        (
            [
                c.SelectChannel("a", "sr"),
                c.SetFloorLevel("a", -30),
                c.Depart("a"),
                Leave("a"),
                Join("a", "Ana", Role.TRAINEE, "mk"),
                c.Arrive("a"),
            ],
            {"channel": "sr", "floor_db": -30.0},
        ),
        # A channel that closes sends its listeners back to the original.
        (
            [c.OpenChannel("t", "fr"), c.SelectChannel("a", "fr"), c.CloseChannel("t", "fr")],
            {"channel": "original", "floor_db": -14.0},
        ),
    ],
)
def test_a_listener_picks_a_channel_and_a_floor_level(
    steps: list[Step], listening: dict[str, Any]
) -> None:
    state = make()
    for step in steps:
        run(state, step, 5)
    assert state.snapshot("a")["listening"] == listening


def test_a_listener_choice_is_told_to_that_listener_alone() -> None:
    state = make()
    event, *audience = state.handle(c.SelectChannel("d", "en"), 5)  # a room device
    assert isinstance(event, c.ListeningChanged)
    assert (event.to, event.channel, event.floor_db) == (("d",), "en", -14.0)
    # Besides: the English booth is told its audience grew (and nobody else anything).
    assert audience == [c.AudienceChanged(("e1",), "en", 1)]


@pytest.mark.parametrize(
    ("steps", "relay"),
    [
        ([], "floor"),
        ([c.SetRelay("r1", "en")], "en"),  # Arabic listens to the English channel (pivot)
        ([c.SetRelay("r1", "en"), c.SetRelay("r1", "floor")], "floor"),
        ([c.SetRelay("r1", "sr"), c.SetRelay("r1", "en")], "en"),
    ],
)
def test_relay(steps: list[c.Command], relay: str) -> None:
    state = make()
    for step in steps:
        state.handle(step, 5)
    ar = next(ch for ch in state.snapshot()["channels"] if ch["lang"] == "ar")
    assert ar["booth"][0]["relay"] == relay
    assert state.hearing("r1") == relay


def test_floor_language() -> None:
    state = make()
    assert names(state.handle(c.SetFloorLanguage("t", "sr"), 5)) == ["FloorLanguageChanged"]
    assert state.snapshot()["floor_language"] == "sr"
    assert state.handle(c.SetFloorLanguage("t", "sr"), 6) == []
    [event] = state.handle(c.SetFloorLanguage("t", None), 7)
    assert isinstance(event, c.FloorLanguageChanged) and event.lang is None


def test_booth_talk_is_for_the_booth_alone() -> None:
    state = make()
    [posted] = state.handle(c.SendBoothMessage("i2", " take over at :30? "), 9)
    assert isinstance(posted, c.BoothMessagePosted)
    assert (posted.to, posted.channel, posted.text, posted.name) == (
        ("i1", "i2"),
        "sr",
        "take over at :30?",
        "Igor",
    )


@pytest.mark.parametrize(
    ("publisher", "source", "subscriber", "forwarded"),
    [
        # The floor reaches everyone; an interpreter's own microphone reaches no one.
        ("t", "microphone", "a", True),
        ("t", "microphone", "i1", True),
        ("i1", "microphone", "a", False),
        ("i1", "camera", "a", True),
        # Interpretation: only from the one on air, only to that channel's listeners.
        ("i1", "interpretation", "a", True),  # a listens to sr
        ("i1", "interpretation", "b", False),  # b listens to the original
        ("i2", "interpretation", "a", False),  # the partner is not on air
        ("e1", "interpretation", "a", False),
        ("e1", "interpretation", "d", True),  # the room device picked en
        ("e1", "interpretation", "r1", True),  # Arabic relays from English
        ("i1", "interpretation", "r1", False),
        ("a", "interpretation", "a", False),
        ("t", "interpretation", "a", False),  # a trainer cannot publish into a channel
        ("b", "interpretation", "d", False),  # nor can a trainee
        ("i1", "interpretation", "i1", False),
        ("i1", "interpretation", "recorder", True),  # not a member: the recorder hears all
        # Booth talk: between booth partners only, never in any channel.
        ("i2", "booth", "i1", True),
        ("i1", "booth", "i2", True),
        ("i1", "booth", "a", False),
        ("i1", "booth", "e1", False),
        ("i1", "booth", "recorder", False),
        ("a", "booth", "i1", False),
    ],
)
def test_forwarding_policy(publisher: str, source: str, subscriber: str, forwarded: bool) -> None:
    state = make()
    state.handle(c.SelectChannel("a", "sr"), 1)
    state.handle(c.SelectChannel("d", "en"), 1)
    state.handle(c.SetRelay("r1", "en"), 1)
    assert state.forwards(publisher, source, subscriber) is forwarded


def test_while_a_handover_is_offered_both_voices_flow_so_the_switch_has_no_gap() -> None:
    state = make()
    state.handle(c.SelectChannel("a", "sr"), 1)
    state.handle(c.OfferHandover("i1"), 2)
    assert state.forwards("i1", "interpretation", "a") and state.forwards(
        "i2", "interpretation", "a"
    )
    state.handle(c.TakeAir("i2", "sr"), 3)
    assert not state.forwards("i1", "interpretation", "a")
    assert state.forwards("i2", "interpretation", "a")


def test_an_interpreter_who_leaves_for_good_leaves_the_booth() -> None:
    state = make()
    events = run(state, Leave("i1"), 50)  # the room drops them, then the channels forget
    assert names(events) == ["ParticipantLeft", "OnAirChanged", "ChannelChanged"]
    changed = events[-1]
    assert isinstance(changed, c.ChannelChanged)
    assert [m["id"] for m in changed.channel["booth"]] == ["i2"]
    sr = state.snapshot()["channels"][0]
    assert [m["id"] for m in sr["booth"]] == ["i2"] and sr["live"] is False
    assert state.segments() == [
        {"channel": "sr", "id": "i1", "name": "Ivana", "start": 0, "end": 50},
        {"channel": "en", "id": "e1", "name": "Emma", "start": 0, "end": None},
        {"channel": "ar", "id": "r1", "name": "Rania", "start": 0, "end": None},
    ]
    state.handle(c.TakeAir("i2", "sr"), 60)
    run(state, Leave("i2"), 70)
    assert names(state.handle(c.CloseChannel("t", "sr"), 80)) == ["ChannelClosed"]


def test_a_partner_who_leaves_for_good_takes_a_handover_offered_to_them_along() -> None:
    state = make()
    state.handle(c.OfferHandover("i1", to="i2"), 10)
    events = run(state, Leave("i2"), 20)
    assert names(events) == ["ParticipantLeft", "ChannelChanged"]
    sr = state.snapshot()["channels"][0]
    assert (sr["on_air"], sr["handover"], [m["id"] for m in sr["booth"]]) == ("i1", None, ["i1"])
    assert state.handle(c.Forget("i2"), 30) == []  # forgotten once


def booth(state: Interpretation, lang: str = "sr") -> list[tuple[str, str, bool]]:
    channel = next(ch for ch in state.snapshot()["channels"] if ch["lang"] == lang)
    return [(m["id"], m["name"], m["connected"]) for m in channel["booth"]]


def test_names_roles_and_languages_are_the_rooms() -> None:
    """Nothing is copied: the channels read who someone is from the room when they need it."""
    state = make()
    room = room_of(state)
    assert booth(state) == [("i1", "Ivana", True), ("i2", "Igor", True)]
    room.handle(Join("i2", "Igor K.", Role.INTERPRETER, "sr"), 5)  # back, renamed
    [changed] = state.handle(c.Arrive("i2"), 5)
    assert isinstance(changed, c.ChannelChanged)
    assert [m["name"] for m in changed.channel["booth"]] == ["Ivana", "Igor K."]
    state.handle(c.OfferHandover("i1"), 6)
    [on_air, _] = state.handle(c.TakeAir("i2", "sr"), 7)
    assert isinstance(on_air, c.OnAirChanged) and on_air.name == "Igor K."
    # A role the room gives decides: a trainee has no booth and may not interpret.
    assert state.handle(c.Arrive("a"), 8) == []
    with pytest.raises(Forbidden):
        state.handle(c.TakeAir("a", "sr"), 8)
    # Someone the room does not have (gone, or never admitted) takes nothing.
    assert state.handle(c.Arrive("stranger"), 9) == []
    with pytest.raises(NotFound, match="not in this room"):
        state.handle(c.SelectChannel("stranger", "sr"), 9)


def test_an_interpreter_whose_token_now_names_another_language_keeps_their_booth() -> None:
    state = make()
    room_of(state).participants["i1"].lang = "en"  # a roster whose language changed
    before = dump(state)
    with pytest.raises(Forbidden, match="into sr, not en"):
        state.handle(c.Arrive("i1"), 10)
    assert dump(state) == before


def test_who_departs_shows_disconnected_before_the_room_hears_of_it() -> None:
    """The page's leave hook runs Depart before the room marks the participant
    disconnected: what Depart tells must not show them connected."""
    state = make()
    room = room_of(state)
    for pid, connected in [("i2", [True, False]), ("i1", [False, False])]:  # partner, on air
        *_, changed = state.handle(c.Depart(pid), 10)
        assert room.participants[pid].connected  # the room has not heard yet
        assert isinstance(changed, c.ChannelChanged)
        assert [m["connected"] for m in changed.channel["booth"]] == connected
    room.handle(Disconnect("i2"), 11)  # then the room hears of it
    assert booth(state) == [("i1", "Ivana", False), ("i2", "Igor", False)]
    room.handle(Join("i2", "Igor", Role.INTERPRETER, "sr"), 12)  # the room has them back
    assert booth(state) == [("i1", "Ivana", False), ("i2", "Igor", False)]
    state.handle(c.Arrive("i2"), 13)  # and, once their page is greeted, so do the channels
    assert booth(state) == [("i1", "Ivana", False), ("i2", "Igor", True)]


def test_who_departs_while_a_side_page_keeps_them_in_the_room_is_off_the_booth() -> None:
    """Their media was the classroom page's: off air, not a partner to hand over to."""
    state = make()
    events = state.handle(c.Depart("i1"), 10)
    assert names(events) == ["OnAirChanged", "ChannelChanged"]
    assert room_of(state).participants["i1"].connected  # present through a side page
    assert booth(state) == [("i1", "Ivana", False), ("i2", "Igor", True)]
    state.handle(c.TakeAir("i2", "sr"), 11)
    with pytest.raises(InvalidCommand, match="nobody in your booth"):
        state.handle(c.OfferHandover("i2"), 12)
    assert state.handle(c.Depart("i1"), 13) == []  # departed once


def test_who_the_room_has_disconnected_shows_disconnected() -> None:
    state = make()
    room_of(state).handle(Disconnect("i2"), 10)
    assert booth(state) == [("i1", "Ivana", True), ("i2", "Igor", False)]
    with pytest.raises(InvalidCommand, match="nobody in your booth"):
        state.handle(c.OfferHandover("i1"), 11)


def test_who_is_not_in_the_room_hears_every_channel_and_who_is_hears_their_choice() -> None:
    state = make()
    room = room_of(state)
    assert state.forwards("i1", "interpretation", "recorder")
    room.handle(Join("late", "Late", Role.TRAINEE), 20)  # in the room, not arrived yet
    assert not state.forwards("i1", "interpretation", "late")
    state.handle(c.SelectChannel("late", "sr"), 21)
    assert state.forwards("i1", "interpretation", "late")


def test_without_a_room_nobody_is_there() -> None:
    state = Interpretation(("sr",))
    assert state.handle(c.Arrive("i1"), 1) == []
    with pytest.raises(NotFound):
        state.handle(c.SelectChannel("a", "sr"), 1)
    assert state.snapshot()["channels"][0]["booth"] == []


def test_channels_from_settings_must_be_known_languages() -> None:
    with pytest.raises(InvalidCommand, match="'xx'"):
        Interpretation(("sr", "xx"))
    assert [ch["lang"] for ch in Interpretation(("sq", "mk")).snapshot()["channels"]] == [
        "sq",
        "mk",
    ]


# --- the booth: output A/B, microphone, signals, audience --------------------------------


def test_an_interpreter_on_air_switches_output_to_b_and_the_air_moves_at_once() -> None:
    state = make()  # Emma is on air in English (A); Serbian has Ivana on air
    state.handle(c.LeaveAir("i1"), 1)
    events = state.handle(c.SetOutput("e1", "sr"), 2)  # retour into Serbian (B)
    moves = [(e.channel, e.id) for e in events if isinstance(e, c.OnAirChanged)]
    assert moves == [("en", None), ("sr", "e1")]
    assert state.channels["sr"].on_air == "e1" and state.channels["en"].on_air is None
    state.handle(c.SelectChannel("a", "sr"), 3)
    state.handle(c.SelectChannel("b", "en"), 3)
    assert state.forwards("e1", c.SOURCE_INTERPRETATION, "a")
    assert not state.forwards("e1", c.SOURCE_INTERPRETATION, "b")
    # Back to A: Serbian listeners lose her, English ones have her again.
    state.handle(c.SetOutput("e1", "en"), 4)
    assert state.forwards("e1", c.SOURCE_INTERPRETATION, "b")
    assert not state.forwards("e1", c.SOURCE_INTERPRETATION, "a")
    assert [s["channel"] for s in state.segments(5)] == ["sr", "en", "ar", "sr", "en"]


def test_output_b_is_refused_while_someone_else_is_on_air_there() -> None:
    state = make()
    before = copy.deepcopy(state.channels)
    with pytest.raises(InvalidCommand, match="Ivana is on air in sr"):
        state.handle(c.SetOutput("e1", "sr"), 1)
    assert state.channels == before
    with pytest.raises(NotFound):
        state.handle(c.SetOutput("e1", "fr"), 1)


def test_off_air_the_output_changes_alone_and_take_air_goes_there() -> None:
    state = make()
    state.handle(c.LeaveAir("e1"), 1)
    state.handle(c.LeaveAir("i1"), 1)
    [changed] = state.handle(c.SetOutput("e1", "sr"), 2)
    assert isinstance(changed, c.ChannelChanged)
    assert changed.channel["booth"][0]["output"] == "sr"
    with pytest.raises(Forbidden):
        state.handle(c.TakeAir("e1", "en"), 3)
    state.handle(c.TakeAir("e1", "sr"), 3)
    assert state.channels["sr"].on_air == "e1"
    state.handle(c.Depart("e1"), 4)  # her page closes: off air in B too
    assert state.channels["sr"].on_air is None


def test_the_microphone_switch_is_shown_to_the_booth() -> None:
    state = make()
    [changed] = state.handle(c.SetMicrophone("i1", False), 1)
    assert isinstance(changed, c.ChannelChanged)
    assert [m["microphone"] for m in changed.channel["booth"]] == [False, True]
    assert state.handle(c.SetMicrophone("i1", False), 2) == []


def test_a_signal_reaches_the_trainer_and_the_booth_alone() -> None:
    state = make()
    [signal] = state.handle(c.SendSignal("i2", "slow_down"), 7)
    assert signal == c.InterpreterSignal(("t", "i1", "i2"), "sr", "i2", "Igor", "slow_down", 7)
    with pytest.raises(InvalidCommand):
        state.handle(c.SendSignal("i2", "faster"), 8)
    with pytest.raises(Forbidden):
        state.handle(c.SendSignal("a", "slow_down"), 8)
    [ask] = state.handle(c.SendSignal("i2", "handover_request"), 9)  # the booth alone
    assert ask == c.InterpreterSignal(("i1", "i2"), "sr", "i2", "Igor", "handover_request", 9)


def test_the_audience_counts_listeners_present_on_the_channel() -> None:
    state = make()
    state.handle(c.SelectChannel("a", "sr"), 1)
    [*_, grew] = state.handle(c.SelectChannel("b", "sr"), 1)
    assert grew == c.AudienceChanged(("i1", "i2"), "sr", 2)
    assert state.channel_json(state.channels["sr"])["listeners"] == 2
    assert state.handle(c.Depart("a"), 2) == [c.AudienceChanged(("i1", "i2"), "sr", 1)]
    assert state.handle(c.Arrive("a"), 3) == [c.AudienceChanged(("i1", "i2"), "sr", 2)]
    [_, shrank] = state.handle(c.SelectChannel("b", "original"), 4)  # the floor: no channel
    assert shrank == c.AudienceChanged(("i1", "i2"), "sr", 1)


def test_a_sign_language_interpreter_is_seen_by_the_listeners_of_the_channel_alone() -> None:
    state = make()
    room_of(state).handle(Join("s1", "Sanja", Role.INTERPRETER, "ysl"), 0)
    state.handle(c.Arrive("s1"), 0)  # her token opens the Serbian Sign Language channel
    assert state.channel_json(state.channels["ysl"])["signed"] is True
    assert state.channels["ysl"].on_air == "s1"
    state.handle(c.SelectChannel("a", "ysl"), 1)
    assert state.forwards("s1", c.SOURCE_SIGNING, "a")
    assert not state.forwards("s1", c.SOURCE_SIGNING, "b")  # on the original
    assert state.forwards("s1", c.SOURCE_SIGNING, "recorder")  # not in the room
    state.handle(c.LeaveAir("s1"), 2)
    assert not state.forwards("s1", c.SOURCE_SIGNING, "a")
