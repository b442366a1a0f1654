"""Who may publish which source, and what the room lets through (classroom.publishing)."""

from __future__ import annotations

import pytest

from classroom.errors import Forbidden
from classroom.permissions import Role
from classroom.publishing import check_publish, room_lets_through
from classroom.room import Participant


def person(role: Role, **state: bool) -> Participant:
    return Participant("p1", "Ana", role, "sr", 0.0, **state)


@pytest.mark.parametrize(
    ("role", "sources"),
    [
        (Role.TRAINER, {"camera", "microphone", "screen"}),
        (Role.TRAINEE, {"camera", "microphone"}),
        (Role.INTERPRETER, {"microphone", "interpretation", "booth"}),
        (Role.ROOM, {"camera", "microphone"}),
    ],
)
def test_roles_publish_what_they_may(role: Role, sources: set[str]) -> None:
    check_publish(role, person(role, screen_sharing="screen" in sources), sources)


@pytest.mark.parametrize(
    ("role", "sources", "says"),
    [
        (Role.OBSERVER, {"camera"}, "observer"),
        (Role.TRAINEE, {"interpretation"}, "interpret"),
        (Role.ROOM, {"booth"}, "interpret"),
        (Role.TRAINEE, {"screen"}, "share_screen"),
        (Role.TRAINER, {"hologram"}, "no source"),
    ],
)
def test_anything_else_is_refused(role: Role, sources: set[str], says: str) -> None:
    with pytest.raises(Forbidden, match=says):
        check_publish(role, person(role), sources)


def test_the_room_lets_through_what_it_shows() -> None:
    assert room_lets_through(person(Role.TRAINEE), "microphone")
    assert not room_lets_through(None, "camera")  # gone from the room
    assert not room_lets_through(person(Role.TRAINEE, audio_muted=True), "microphone")
    assert room_lets_through(person(Role.TRAINEE, audio_muted=True), "camera")
    assert not room_lets_through(person(Role.TRAINER), "screen")
    assert room_lets_through(person(Role.TRAINER, screen_sharing=True), "screen")
