"""The module catalogue and the session life cycle."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from classroom.catalogue import Catalogue, CatalogueError
from classroom.errors import InvalidCommand, NotFound
from classroom.session import Session, SessionState
from config.settings import CATALOGUE_FILE


def shipped() -> Catalogue:
    return Catalogue.from_dict(tomllib.loads(CATALOGUE_FILE.read_text()))


def test_the_shipped_catalogue_covers_the_priority_topics() -> None:
    catalogue = shipped()
    titles = " ".join(t.title for t in catalogue.topics)
    for topic in (
        "Governance",
        "Human Rights",
        "Torture",
        "Trafficking",
        "Smuggling",
        "Border",
        "Gender",
        "Asylum",
        "Labour Mobility",
        "Crisis",
    ):
        assert topic in titles or any(topic in m.title for m in catalogue.modules), topic
    assert len(catalogue.modules) >= 10
    assert all(modules for _, modules in catalogue.by_topic())
    assert catalogue.module("m01-governance").min_presence == 0.8


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {
                "topics": [{"id": "a", "title": "A"}],
                "modules": [{"id": "m", "topic": "b", "title": "M"}],
            },
            "unknown topic",
        ),
        (
            {"topics": [{"id": "a", "title": "A"}, {"id": "a", "title": "B"}], "modules": []},
            "duplicate topic",
        ),
        (
            {
                "topics": [{"id": "a", "title": "A"}],
                "modules": [{"id": "m", "topic": "a", "title": "M", "min_presence": 2}],
            },
            "min_presence",
        ),
        ({"topics": [{"id": "a"}], "modules": []}, "incomplete"),
    ],
)
def test_inconsistent_catalogues_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(CatalogueError, match=message):
        Catalogue.from_dict(data)


def test_unknown_module() -> None:
    with pytest.raises(NotFound):
        shipped().module("m99")


def test_session_moves_scheduled_live_ended_only() -> None:
    session = Session("s1", "demo", "Intro", scheduled_start=50)
    with pytest.raises(InvalidCommand):
        session.end(10)
    session.start(100)
    with pytest.raises(InvalidCommand):
        session.start(101)
    session.end(130)
    assert session.state is SessionState.ENDED and session.duration(500) == 30
    assert Session.from_json(session.to_json()) == session
