"""Which events make the media router look again at who receives what: the room's and the
channels' rules, table-driven."""

from __future__ import annotations

import pytest

from classroom import channel as ch
from classroom import room

EVERYONE = None


@pytest.mark.parametrize(
    ("event", "changes"),
    [
        (room.ParticipantJoined(EVERYONE, {"id": "ana"}), True),
        (room.ParticipantLeft(EVERYONE, "ana", "left"), True),
        (room.Removed(EVERYONE, "ana", "tea"), True),
        (room.MuteChanged(EVERYONE, "ana", True, "tea"), True),
        (room.PinChanged(EVERYONE, "ivana"), True),
        (room.ChatPosted(EVERYONE, "c1", "ana", "Ana", "Pitanje?", 1.0), False),
        (room.HandChanged(EVERYONE, "ana", True), False),
        (room.SessionChanged(EVERYONE, {"state": "live"}), False),
        (room.ParticipantDisconnected(EVERYONE, "ana"), False),  # keeps their place
    ],
)
def test_the_room_changes_forwarding_only_with_who_is_in_it_and_what_they_share(
    event: room.Event, changes: bool
) -> None:
    assert room.changes_forwarding([event]) is changes


@pytest.mark.parametrize(
    ("event", "changes"),
    [
        (ch.OnAirChanged(EVERYONE, "sr", "ivana", "Ivana", None, 1.0), True),
        (ch.ListeningChanged(("ana",), "sr", -14.0), True),
        (ch.HandoverOffered(("ivana", "marko"), "sr", "ivana", None), False),
        (ch.BoothMessagePosted(("ivana", "marko"), "sr", "ivana", "Ivana", "5 min", 1.0), False),
    ],
)
def test_the_channels_change_forwarding_except_with_booth_talk(
    event: room.Event, changes: bool
) -> None:
    assert ch.changes_forwarding([event]) is changes


def test_one_change_in_a_batch_is_enough() -> None:
    quiet = room.HandChanged(EVERYONE, "ana", True)
    assert not room.changes_forwarding([quiet, quiet])
    assert room.changes_forwarding([quiet, room.PinChanged(EVERYONE, None)])
    assert not room.changes_forwarding([])
