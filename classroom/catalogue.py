"""The module catalogue: accredited training modules grouped by priority topic.

Titles are written in English (``title``) and may be translated (``titles``: language
code -> title); ``title_in(lang)`` gives the one for a page's language.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from classroom.errors import NotFound


def in_language(default: str, translations: Mapping[str, str], lang: str | None) -> str:
    """The translation for ``lang`` ('sr-Latn' is found as 'sr-Latn', then 'sr'), else
    ``default`` (the English text)."""
    if lang:
        for candidate in (lang, lang.split("-")[0].lower()):
            if candidate in translations:
                return translations[candidate]
    return default


@dataclasses.dataclass(frozen=True)
class Topic:
    id: str
    title: str
    titles: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def title_in(self, lang: str | None) -> str:
        return in_language(self.title, self.titles, lang)


@dataclasses.dataclass(frozen=True)
class Module:
    id: str
    topic: str
    title: str
    summary: str
    min_presence: float  # share of a session a trainee must attend for completion
    languages: tuple[str, ...]
    titles: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def title_in(self, lang: str | None) -> str:
        return in_language(self.title, self.titles, lang)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["languages"] = list(self.languages)
        data["titles"] = dict(self.titles)
        return data


def _titles(entry: Mapping[str, Any]) -> dict[str, str]:
    titles = entry.get("titles", {})
    if not isinstance(titles, Mapping):
        raise ValueError(f"titles of {entry.get('id')} must be a table of language = title")
    return {str(lang): str(title) for lang, title in titles.items()}


class CatalogueError(ValueError):
    """The catalogue data is inconsistent (unknown topic, duplicate id, bad value)."""


@dataclasses.dataclass(frozen=True)
class Catalogue:
    topics: tuple[Topic, ...]
    modules: tuple[Module, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Catalogue:
        """Build from parsed data ({"topics": [...], "modules": [...]}), checking it."""
        try:
            topics = tuple(
                Topic(id=str(t["id"]), title=str(t["title"]), titles=_titles(t))
                for t in data["topics"]
            )
            modules = tuple(
                Module(
                    id=str(m["id"]),
                    topic=str(m["topic"]),
                    title=str(m["title"]),
                    summary=str(m.get("summary", "")),
                    min_presence=float(m.get("min_presence", 0.75)),
                    languages=tuple(str(lang) for lang in m.get("languages", ())),
                    titles=_titles(m),
                )
                for m in data["modules"]
            )
        except (KeyError, TypeError, ValueError) as error:
            raise CatalogueError(f"catalogue entry is incomplete or invalid: {error}") from None
        topic_ids = [t.id for t in topics]
        module_ids = [m.id for m in modules]
        for kind, ids in (("topic", topic_ids), ("module", module_ids)):
            if len(set(ids)) != len(ids):
                raise CatalogueError(f"duplicate {kind} id in catalogue")
        for module in modules:
            if module.topic not in topic_ids:
                raise CatalogueError(f"module {module.id} names unknown topic {module.topic}")
            if not 0.0 <= module.min_presence <= 1.0:
                raise CatalogueError(f"module {module.id}: min_presence must be within 0..1")
        return cls(topics=topics, modules=modules)

    def module(self, module_id: str) -> Module:
        for module in self.modules:
            if module.id == module_id:
                return module
        raise NotFound(f"no training module {module_id!r}")

    def by_topic(self) -> list[tuple[Topic, list[Module]]]:
        """Topics in catalogue order, each with its modules (topics without any are left out)."""
        grouped = [(t, [m for m in self.modules if m.topic == t.id]) for t in self.topics]
        return [(topic, modules) for topic, modules in grouped if modules]
