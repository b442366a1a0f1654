"""The one permission table: deny by default."""

from __future__ import annotations

import pytest

from classroom.errors import Forbidden
from classroom.permissions import PERMISSIONS, Action, Role, can, require


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        ("trainer", Action.MODERATE, True),
        ("trainer", Action.RECORD, True),
        ("trainee", Action.MODERATE, False),
        ("trainee", Action.MANAGE_POLLS, False),
        ("trainee", Action.ANSWER_POLLS, True),
        ("trainee", Action.SHARE_SCREEN, False),
        ("trainee", Action.REQUEST_SCREEN_SHARE, True),
        ("interpreter", Action.INTERPRET, True),
        ("trainee", Action.INTERPRET, False),
        ("room", Action.PAIR_COMPANION, True),
        ("observer", Action.PUBLISH_MEDIA, False),
        ("observer", Action.CHAT, False),
        ("companion", Action.PUBLISH_MEDIA, False),
        ("companion", Action.ANSWER_POLLS, True),
        ("companion", Action.SUBSCRIBE_MEDIA, True),
        ("companion", Action.LISTEN_CHANNEL, True),
        ("companion", Action.SHARE_SCREEN, False),
        ("admin", Action.JOIN, False),  # unknown roles get nothing
        ("", Action.JOIN, False),
    ],
)
def test_can(role: str, action: Action, allowed: bool) -> None:
    assert can(role, action) is allowed


def test_every_role_is_in_the_table_and_only_trainers_moderate() -> None:
    assert set(PERMISSIONS) == set(Role)
    assert [r for r in Role if can(r, Action.MODERATE)] == [Role.TRAINER]


def test_require_says_what_was_refused() -> None:
    with pytest.raises(Forbidden, match="a trainee may not manage polls"):
        require(Role.TRAINEE, Action.MANAGE_POLLS)
