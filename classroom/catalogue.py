"""The module catalogue: accredited training modules grouped by priority topic."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from classroom.errors import NotFound


@dataclasses.dataclass(frozen=True)
class Topic:
    id: str
    title: str


@dataclasses.dataclass(frozen=True)
class Module:
    id: str
    topic: str
    title: str
    summary: str
    min_presence: float  # share of a session a trainee must attend for completion
    languages: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["languages"] = list(self.languages)
        return data


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
            topics = tuple(Topic(id=str(t["id"]), title=str(t["title"])) for t in data["topics"])
            modules = tuple(
                Module(
                    id=str(m["id"]),
                    topic=str(m["topic"]),
                    title=str(m["title"]),
                    summary=str(m.get("summary", "")),
                    min_presence=float(m.get("min_presence", 0.75)),
                    languages=tuple(str(lang) for lang in m.get("languages", ())),
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
