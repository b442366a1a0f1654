"""Questions put to a room: the limits polls and quizzes share, and quiz questions with scoring."""

from __future__ import annotations

import dataclasses
from typing import Any

from classroom.errors import InvalidValue

# Polls and quizzes alike:
QUESTION_MAX_CHARS = 500
OPTION_MAX_CHARS = 200
MAX_OPTIONS = 12
# Quizzes:
MAX_QUESTIONS = 50
TIME_LIMIT_RANGE_S = (5, 600)
POINTS_RANGE = (1, 1000)
TITLE_MAX_CHARS = 200


def checked_text(value: Any, what: str, limit: int) -> str:
    """The text without surrounding blanks, or InvalidValue if it is empty or too long."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(f"{what} must be a non-empty text")
    if len(value.strip()) > limit:
        raise InvalidValue(f"{what} is longer than {limit} characters")
    return value.strip()


@dataclasses.dataclass(frozen=True)
class Question:
    """One question: options, the correct ones, a time limit and the points it is worth."""

    text: str
    options: tuple[str, ...]
    correct: tuple[int, ...]
    time_limit_s: int = 30
    points: int = 100

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", checked_text(self.text, "a question", QUESTION_MAX_CHARS))
        options = tuple(checked_text(o, "an option", OPTION_MAX_CHARS) for o in self.options)
        object.__setattr__(self, "options", options)
        if not 2 <= len(options) <= MAX_OPTIONS or len(set(options)) != len(options):
            raise InvalidValue(f"a question has 2 to {MAX_OPTIONS} different options")
        correct = tuple(sorted(set(self.correct)))
        if not correct or any(not 0 <= c < len(options) for c in correct):
            raise InvalidValue("mark at least one existing option as correct")
        object.__setattr__(self, "correct", correct)
        low, high = TIME_LIMIT_RANGE_S
        if not low <= self.time_limit_s <= high:
            raise InvalidValue(f"a time limit is {low} to {high} seconds")
        if not POINTS_RANGE[0] <= self.points <= POINTS_RANGE[1]:
            raise InvalidValue(f"a question is worth {POINTS_RANGE[0]} to {POINTS_RANGE[1]} points")

    @property
    def multiple(self) -> bool:
        """Whether several options are to be chosen (more than one is correct)."""
        return len(self.correct) > 1

    def score(self, choices: tuple[int, ...], seconds: float, speed_bonus: bool) -> int:
        """Full points for the exact set of correct options; with the speed bonus, a correct
        answer at the deadline earns half, an instant one all."""
        if choices != self.correct:
            return 0
        if not speed_bonus:
            return self.points
        share = min(max(seconds, 0.0), self.time_limit_s) / self.time_limit_s
        return round(self.points * (1 - share / 2))

    def public(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "options": list(self.options),
            "multiple": self.multiple,
            "time_limit_s": self.time_limit_s,
            "points": self.points,
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.public(), "correct": list(self.correct)}


@dataclasses.dataclass(frozen=True)
class QuizSpec:
    title: str
    questions: tuple[Question, ...]
    speed_bonus: bool = False
    leaderboard: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "title", checked_text(self.title, "the title", TITLE_MAX_CHARS))
        if not 1 <= len(self.questions) <= MAX_QUESTIONS:
            raise InvalidValue(f"a quiz has 1 to {MAX_QUESTIONS} questions")

    @property
    def max_score(self) -> int:
        return sum(q.points for q in self.questions)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "questions": [q.to_json() for q in self.questions],
            "speed_bonus": self.speed_bonus,
            "leaderboard": self.leaderboard,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QuizSpec:
        questions = tuple(
            Question(
                q["text"],
                tuple(q["options"]),
                tuple(q["correct"]),
                q.get("time_limit_s", 30),
                q.get("points", 100),
            )
            for q in data["questions"]
        )
        return cls(data["title"], questions, data["speed_bonus"], data["leaderboard"])
