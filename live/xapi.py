"""xAPI (Experience API 1.0.3) statements of a session: answered, scored, attended, completed.

Statement ids are UUIDs derived from what they describe, so exporting twice gives the
same statements and a learning record store keeps each once. People are identified by
an account on this service (homePage: the service's URL, name: their participant id).
Anonymous polls give no statements: they have no person to name.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from classroom.poll import Poll, PollKind
from classroom.quiz import Quiz
from classroom.session import Session

ADL = "http://adlnet.gov/expapi"
VERBS = {
    "answered": f"{ADL}/verbs/answered",
    "scored": f"{ADL}/verbs/scored",
    "attended": f"{ADL}/verbs/attended",
    "completed": f"{ADL}/verbs/completed",
}
INTERACTION = f"{ADL}/activities/cmi.interaction"
ASSESSMENT = f"{ADL}/activities/assessment"
MEETING = f"{ADL}/activities/meeting"
MODULE = f"{ADL}/activities/module"
NAMESPACE = uuid.UUID("6f1c9a52-4f7e-4d0b-9a57-2f0d3c8e4b11")  # this service's statement ids
UNDETERMINED = "und"  # the language of texts people wrote is not known


def timestamp(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat(timespec="milliseconds")


def duration(seconds: float) -> str:
    return f"PT{max(seconds, 0.0):.2f}S"


class Statements:
    """Builds the statements of one session on one service."""

    def __init__(self, base: str, session: Session, module: str | None) -> None:
        self.base, self.session, self.module = base.rstrip("/"), session, module
        self.out: list[dict[str, Any]] = []

    def activity(self, path: str) -> str:
        return f"{self.base}/xapi/activities/{path}"

    def actor(self, pid: str, name: str) -> dict[str, Any]:
        return {
            "objectType": "Agent",
            "name": name,
            "account": {"homePage": self.base, "name": pid},
        }

    def context(self) -> dict[str, Any]:
        parent = {
            "objectType": "Activity",
            "id": self.activity(f"sessions/{self.session.id}"),
            "definition": {"type": MEETING, "name": {UNDETERMINED: self.session.title}},
        }
        activities: dict[str, Any] = {"parent": [parent]}
        if self.module:
            activities["grouping"] = [{"objectType": "Activity", "id": self.module_id()}]
        return {"platform": "Classroom", "contextActivities": activities}

    def module_id(self) -> str:
        return self.activity(f"modules/{self.module}")

    def add(
        self,
        key: str,
        actor: dict[str, Any],
        verb: str,
        obj: dict[str, Any],
        result: dict[str, Any] | None,
        at: float,
    ) -> None:
        statement: dict[str, Any] = {
            "id": str(uuid.uuid5(NAMESPACE, f"{self.base}|{self.session.id}|{key}")),
            "actor": actor,
            "verb": {"id": VERBS[verb], "display": {"en-US": verb}},
            "object": {"objectType": "Activity", **obj},
            "context": self.context(),
            "timestamp": timestamp(at),
        }
        if result is not None:
            statement["result"] = result
        self.out.append(statement)


def _choices(options: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    return [{"id": str(i), "description": {UNDETERMINED: text}} for i, text in enumerate(options)]


def _response(answer: Any) -> str:
    if isinstance(answer, list | tuple):
        return "[,]".join(str(i) for i in answer)
    return str(answer)


def poll_definition(poll: Poll) -> dict[str, Any]:
    spec = poll.spec
    definition: dict[str, Any] = {"type": INTERACTION, "name": {UNDETERMINED: spec.question}}
    if spec.kind in (PollKind.SINGLE, PollKind.MULTIPLE):
        definition["interactionType"] = "choice"
        definition["choices"] = _choices(spec.options)
    elif spec.kind is PollKind.RATING:
        definition["interactionType"] = "likert"
        steps = [str(step) for step in range(1, spec.scale + 1)]
        definition["scale"] = [{"id": s, "description": {UNDETERMINED: s}} for s in steps]
    else:
        definition["interactionType"] = "fill-in" if spec.text_max <= 250 else "long-fill-in"
    return definition


def statements(
    base: str,
    session: Session,
    module: str | None,
    polls: list[Poll],
    quizzes: list[Quiz],
    attendance: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    out = Statements(base, session, module)
    for poll in polls:
        obj = {"id": out.activity(f"polls/{poll.id}"), "definition": poll_definition(poll)}
        for pid, ballot in sorted(poll.ballots.items(), key=lambda item: item[1].at):
            response = {"response": _response(ballot.answer)}
            actor = out.actor(pid, ballot.name)
            out.add(f"poll|{poll.id}|{pid}", actor, "answered", obj, response, ballot.at)
    for quiz in quizzes:
        quiz_object = {
            "id": out.activity(f"quizzes/{quiz.id}"),
            "definition": {"type": ASSESSMENT, "name": {UNDETERMINED: quiz.spec.title}},
        }
        for (index, pid), answer in sorted(quiz.answers.items(), key=lambda item: item[1].at):
            question = quiz.spec.questions[index]
            definition = {
                "type": INTERACTION,
                "name": {UNDETERMINED: question.text},
                "interactionType": "choice",
                "choices": _choices(question.options),
                "correctResponsesPattern": [_response(question.correct)],
            }
            obj = {
                "id": out.activity(f"quizzes/{quiz.id}/questions/{index + 1}"),
                "definition": definition,
            }
            result: dict[str, Any] = {
                "response": _response(answer.choices),
                "success": answer.choices == question.correct,
                "score": {
                    "raw": answer.points,
                    "min": 0,
                    "max": question.points,
                    "scaled": round(answer.points / question.points, 4),
                },
                "duration": duration(answer.seconds),
            }
            key = f"quiz|{quiz.id}|{index}|{pid}"
            out.add(key, out.actor(pid, answer.name), "answered", obj, result, answer.at)
        ended = quiz.ended_at or quiz.started_at or quiz.created_at
        for row in quiz.results():
            maximum = row["max_score"]
            score = {
                "raw": row["score"],
                "min": 0,
                "max": maximum,
                "scaled": round(row["score"] / maximum, 4),
            }
            scored = {"score": score, "completion": row["answered"] == row["questions"]}
            actor = out.actor(row["id"], row["name"])
            out.add(f"quiz|{quiz.id}|{row['id']}", actor, "scored", quiz_object, scored, ended)
    session_object = out.context()["contextActivities"]["parent"][0]
    session_object = {k: v for k, v in session_object.items() if k != "objectType"}
    for row in attendance:
        actor = out.actor(row["id"], row["name"])
        extensions = {f"{out.base}/xapi/extensions/share-attended": row["share"]}
        if row["server_stops"]:  # departures recorded at the server's last sign of life
            extensions[f"{out.base}/xapi/extensions/server-stops"] = row["server_stops"]
        present: dict[str, Any] = {
            "duration": duration(row["seconds_present"]),
            "extensions": extensions,
        }
        at = row["last_left"] or row["first_joined"]
        out.add(f"attended|{row['id']}", actor, "attended", session_object, present, at)
        if row["completed"] and module:
            obj = {"id": out.module_id(), "definition": {"type": MODULE}}
            done = {"completion": True, "success": True}
            out.add(f"completed|{row['id']}", actor, "completed", obj, done, at)
    return out.out
