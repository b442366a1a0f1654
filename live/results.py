"""The results service: a session's poll and quiz results as JSON, CSV rows, charts (SVG)
and xAPI statements.

Results are read from the store, so they are there after the room has gone and after a
restart. Anonymous polls give only their tallies and texts: never a person. The store is
reached as in ``live.polls``: ``store()``, a ``Callable[[], Store]`` given by the
composition root. Callers check that the caller may see the session's results.
"""

from __future__ import annotations

import datetime
from typing import Any

from classroom.poll import Poll, PollKind
from classroom.quiz import Quiz
from classroom.session import Session
from config import Settings
from live.charts import IN_ENGLISH, Chart, Words, charts_svg
from live.poll_records import load_polls, load_quizzes
from live.polls import StoreRef
from live.xapi import statements

RESULT_COLUMNS = [
    "session_id",
    "kind",
    "activity_id",
    "title",
    "question_number",
    "question",
    "record",
    "participant_id",
    "name",
    "answer",
    "correct",
    "points",
    "seconds",
    "count",
    "at",
]


def iso(epoch: float | None) -> str:
    """A moment as the CSV files write it (UTC, to the second); "" for none."""
    if epoch is None:
        return ""
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat(timespec="seconds")


def labels(poll: Poll) -> list[str]:
    if poll.spec.kind is PollKind.RATING:
        return [str(step) for step in range(1, poll.spec.scale + 1)]
    return list(poll.spec.options)


def poll_json(poll: Poll) -> dict[str, Any]:
    data = poll.full()
    data["answers"] = [
        {"participant": pid, **ballot.to_json()}
        for pid, ballot in sorted(poll.ballots.items(), key=lambda item: item[1].at)
    ]
    return data


def quiz_json(quiz: Quiz) -> dict[str, Any]:
    data = quiz.full()
    data["results"] = quiz.results()
    data["answers"] = [
        {"index": index, "participant": pid, **answer.to_json()}
        for (index, pid), answer in sorted(quiz.answers.items(), key=lambda item: item[1].at)
    ]
    data["tallies"] = [quiz.question_tally(i) for i in range(len(quiz.spec.questions))]
    return data


def _answer_text(options: tuple[str, ...], answer: Any) -> str:
    if isinstance(answer, list | tuple):
        return "; ".join(options[i] for i in answer)
    if isinstance(answer, int) and options:
        return options[answer]
    return str(answer)


def result_rows(session: Session, polls: list[Poll], quizzes: list[Quiz]) -> list[list[Any]]:
    """One row per named answer; per option for anonymous polls (counts), per text; and one
    ``score`` row per quiz participant (columns: ``RESULT_COLUMNS``)."""
    rows: list[list[Any]] = []
    for poll in polls:
        head = [session.id, "poll", poll.id, poll.spec.question, 1, poll.spec.question]
        options = poll.spec.options
        if poll.spec.anonymous:
            tally = poll.tally()
            for label, count in zip(labels(poll), tally["counts"], strict=True):
                rows.append([*head, "tally", "", "", label, "", "", "", count, ""])
            for text in tally["texts"]:
                rows.append([*head, "tally", "", "", text, "", "", "", 1, ""])
            continue
        for pid, ballot in sorted(poll.ballots.items(), key=lambda item: item[1].at):
            answer = _answer_text(options, ballot.answer)
            rows.append([*head, "answer", pid, ballot.name, answer, "", "", "", 1, iso(ballot.at)])
    for quiz in quizzes:
        questions = quiz.spec.questions
        for (index, pid), given in sorted(quiz.answers.items(), key=lambda item: item[1].at):
            question = questions[index]
            rows.append(
                [
                    session.id,
                    "quiz",
                    quiz.id,
                    quiz.spec.title,
                    index + 1,
                    question.text,
                    "answer",
                    pid,
                    given.name,
                    _answer_text(question.options, given.choices),
                    "yes" if given.choices == question.correct else "no",
                    given.points,
                    f"{given.seconds:.3f}",
                    1,
                    iso(given.at),
                ]
            )
        for result in quiz.results():
            rows.append(
                [
                    *[session.id, "quiz", quiz.id, quiz.spec.title, "", "", "score"],
                    *[result["id"], result["name"], "", result["correct"], result["score"]],
                    *[f"{result['seconds']:.3f}", 1, ""],
                ]
            )
    return rows


def charts(polls: list[Poll], quizzes: list[Quiz], words: Words = IN_ENGLISH) -> list[Chart]:
    """One chart per poll (its tally; the commonest texts of a text poll) and per quiz
    question (its tally, the correct options marked), titled in the reader's ``words``."""
    found: list[Chart] = []
    for poll in polls:
        tally = poll.tally()
        if poll.spec.kind is PollKind.TEXT:
            texts = sorted(set(tally["texts"]))[:12]
            counts = [tally["texts"].count(t) for t in texts]
            found.append((poll.spec.question, texts, counts, None))
        else:
            found.append((poll.spec.question, labels(poll), tally["counts"], None))
    for quiz in quizzes:
        for index, question in enumerate(quiz.spec.questions):
            counts = quiz.question_tally(index)["counts"]
            title = words.say(
                "chart.question", quiz=quiz.spec.title, number=index + 1, question=question.text
            )
            found.append((title, list(question.options), counts, set(question.correct)))
    return found


class Results:
    """A session's results, read from the store (see the module). Made by the composition
    root with the store and the settings (``public_url``, the base of xAPI ids)."""

    def __init__(self, store: StoreRef, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    async def of(self, session: Session) -> tuple[list[Poll], list[Quiz]]:
        """The session's polls and quizzes (of its room's, those it ran)."""
        store = self.store()
        polls = (await load_polls(store, session.room)).entries.values()
        quizzes = (await load_quizzes(store, session.room)).entries.values()
        return (
            [p for p in polls if p.session_id == session.id],
            [q for q in quizzes if q.session_id == session.id],
        )

    async def json(self, session: Session) -> dict[str, Any]:
        """Every poll and quiz of the session with its answers (quizzes: scores, tallies)."""
        polls, quizzes = await self.of(session)
        return {
            "session": session.to_json(),
            "polls": [poll_json(p) for p in polls],
            "quizzes": [quiz_json(q) for q in quizzes],
        }

    async def rows(self, session: Session) -> list[list[Any]]:
        """The CSV rows (``result_rows``) of the session."""
        return result_rows(session, *await self.of(session))

    async def svg(self, session: Session, words: Words = IN_ENGLISH) -> str:
        """The session's charts, as one SVG picture, in the reader's ``words``."""
        return charts_svg(session.title, charts(*await self.of(session), words), words)

    async def xapi(
        self, session: Session, attendance: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The session's results and ``attendance`` (the report's rows) as xAPI statements."""
        polls, quizzes = await self.of(session)
        base = self.settings.public_url
        return statements(base, session, session.module_id, polls, quizzes, attendance)
