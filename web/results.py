"""A session's poll and quiz results: JSON, CSV, charts (SVG) and xAPI statements.

Results are read from the store, so they are there after the room has gone and after
a restart. Anonymous polls give only their tallies and texts: never a person.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from classroom.permissions import Action
from classroom.poll import Poll, PollKind
from classroom.quiz import Quiz
from classroom.session import Session
from live.charts import Chart, charts_svg
from live.poll_records import load_polls, load_quizzes
from live.xapi import statements
from web.attendance import csv_response, iso, report, session_for
from web.context import SETTINGS, STORE
from web.pages import render
from web.ws import Dispatcher

routes = web.RouteTableDef()


async def session_results(request: web.Request, session: Session) -> tuple[list[Poll], list[Quiz]]:
    store = request.app[STORE]
    polls = (await load_polls(store, session.room)).entries.values()
    quizzes = (await load_quizzes(store, session.room)).entries.values()
    return (
        [p for p in polls if p.session_id == session.id],
        [q for q in quizzes if q.session_id == session.id],
    )


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


@routes.get("/sessions/{session}/report")
async def report_page(request: web.Request) -> web.Response:
    """A session's attendance timeline, result charts and downloads (CSV, xAPI), for trainers;
    its script reads everything with this tab's join token."""
    return render(request, "report.html", session=request.match_info["session"])


@routes.get("/api/sessions/{session}/results")
async def results_json(request: web.Request) -> web.Response:
    _, session = await session_for(request, Action.VIEW_RESULTS)
    polls, quizzes = await session_results(request, session)
    return web.json_response(
        {
            "session": session.to_json(),
            "polls": [poll_json(p) for p in polls],
            "quizzes": [quiz_json(q) for q in quizzes],
        }
    )


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


def _answer_text(options: tuple[str, ...], answer: Any) -> str:
    if isinstance(answer, list | tuple):
        return "; ".join(options[i] for i in answer)
    if isinstance(answer, int) and options:
        return options[answer]
    return str(answer)


def result_rows(session: Session, polls: list[Poll], quizzes: list[Quiz]) -> list[list[Any]]:
    """One row per named answer; per option for anonymous polls (counts), per text; and one
    ``score`` row per quiz participant."""
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


@routes.get("/api/sessions/{session}/results.csv")
async def results_csv(request: web.Request) -> web.Response:
    _, session = await session_for(request, Action.VIEW_RESULTS)
    polls, quizzes = await session_results(request, session)
    rows = result_rows(session, polls, quizzes)
    return csv_response(f"results-{session.id}.csv", RESULT_COLUMNS, rows)


@routes.get("/api/sessions/{session}/charts.svg")
async def results_svg(request: web.Request) -> web.Response:
    _, session = await session_for(request, Action.VIEW_RESULTS)
    polls, quizzes = await session_results(request, session)
    charts: list[Chart] = []
    for poll in polls:
        tally = poll.tally()
        if poll.spec.kind is PollKind.TEXT:
            texts = sorted(set(tally["texts"]))[:12]
            counts = [tally["texts"].count(t) for t in texts]
            charts.append((poll.spec.question, texts, counts, None))
        else:
            charts.append((poll.spec.question, labels(poll), tally["counts"], None))
    for quiz in quizzes:
        for index, question in enumerate(quiz.spec.questions):
            counts = quiz.question_tally(index)["counts"]
            title = f"{quiz.spec.title} {index + 1}: {question.text}"
            charts.append((title, list(question.options), counts, set(question.correct)))
    svg = charts_svg(session.title, charts)
    return web.Response(text=svg, content_type="image/svg+xml")


@routes.get("/api/sessions/{session}/xapi")
async def results_xapi(request: web.Request) -> web.Response:
    """The session's results and attendance as xAPI statements (for a learning record store)."""
    _, session = await session_for(request, Action.VIEW_RESULTS)
    polls, quizzes = await session_results(request, session)
    attendance = await report(request, session)
    base = request.app[SETTINGS].public_url
    module = session.module_id
    body = statements(base, session, module, polls, quizzes, attendance["rows"])
    return web.json_response({"statements": body})


def setup(app: web.Application, dispatcher: Dispatcher) -> None:
    """Plug the session results into the app (HTTP only)."""
    app.router.add_routes(routes)
