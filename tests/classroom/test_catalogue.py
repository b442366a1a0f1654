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


@pytest.mark.parametrize(
    ("lang", "title"),
    [
        ("sr-Latn", "Ljudska prava i migracije"),  # the page's catalogue: its language part
        ("sr", "Ljudska prava i migracije"),
        ("ar", "حقوق الإنسان والهجرة"),
        ("fr", "Human Rights and Migration"),  # not translated: the English title
        (None, "Human Rights and Migration"),
    ],
)
def test_titles_are_given_in_the_pages_language(lang: str | None, title: str) -> None:
    catalogue = Catalogue.from_dict(
        {
            "topics": [{"id": "rights", "title": "Rights", "titles": {"sr": "Prava"}}],
            "modules": [
                {
                    "id": "m02",
                    "topic": "rights",
                    "title": "Human Rights and Migration",
                    "titles": {"sr": "Ljudska prava i migracije", "ar": "حقوق الإنسان والهجرة"},
                }
            ],
        }
    )
    assert catalogue.module("m02").title_in(lang) == title
    assert catalogue.module("m02").to_json()["titles"]["sr"] == "Ljudska prava i migracije"
    assert catalogue.topics[0].title_in("sr-Latn") == "Prava"


def test_the_shipped_catalogue_is_translated_into_every_shipped_language() -> None:
    catalogue = shipped()
    for item in (*catalogue.topics, *catalogue.modules):
        assert {"sr", "mk", "sq", "ar"} <= set(item.titles), item.id
