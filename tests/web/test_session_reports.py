"""A session's attendance, results, charts and xAPI statements, checked against their formats."""

from __future__ import annotations

import csv
import io
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from config import Settings
from tests.conftest import ManualClock, Mint
from tests.web.test_polls import WS, auth, join, receive

Client = TestClient[Any, Any]
ADL_VERBS = {
    "http://adlnet.gov/expapi/verbs/answered",
    "http://adlnet.gov/expapi/verbs/scored",
    "http://adlnet.gov/expapi/verbs/attended",
    "http://adlnet.gov/expapi/verbs/completed",
}
INTERACTION_TYPES = {
    "true-false",
    "choice",
    "fill-in",
    "long-fill-in",
    "matching",
    "performance",
    "sequencing",
    "likert",
    "numeric",
    "other",
}
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
DURATION = re.compile(
    r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$"
)


def is_iri(value: Any) -> bool:
    return isinstance(value, str) and re.match(r"^[a-z][a-z0-9+.-]*://\S+$", value) is not None


def language_map(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(LANGUAGE_TAG.match(k) and isinstance(v, str) for k, v in value.items())
    )


def check_statement(statement: dict[str, Any]) -> None:
    """The rules of the xAPI 1.0.3 data model that these statements touch."""
    allowed = {"id", "actor", "verb", "object", "result", "context", "timestamp"}
    assert set(statement) <= allowed and {"id", "actor", "verb", "object"} <= set(statement)
    assert str(uuid.UUID(statement["id"])) == statement["id"]
    actor = statement["actor"]
    identifiers = {"mbox", "mbox_sha1sum", "openid", "account"} & set(actor)
    assert actor["objectType"] == "Agent" and len(identifiers) == 1  # exactly one IFI
    assert is_iri(actor["account"]["homePage"]) and actor["account"]["name"]
    verb = statement["verb"]
    assert verb["id"] in ADL_VERBS and language_map(verb["display"])
    obj = statement["object"]
    assert obj["objectType"] == "Activity" and is_iri(obj["id"])
    definition = obj.get("definition", {})
    if "type" in definition:
        assert is_iri(definition["type"])
    if "name" in definition:
        assert language_map(definition["name"])
    if "interactionType" in definition:
        assert definition["interactionType"] in INTERACTION_TYPES
        for component in ("choices", "scale"):
            for item in definition.get(component, []):
                assert isinstance(item["id"], str) and language_map(item["description"])
    result = statement.get("result", {})
    if "score" in result:
        score = result["score"]
        assert -1 <= score["scaled"] <= 1 and score["min"] <= score["raw"] <= score["max"]
    if "duration" in result:
        assert DURATION.match(result["duration"]), result["duration"]
    for key in result.get("extensions", {}):
        assert is_iri(key)
    parent = statement["context"]["contextActivities"]["parent"]
    assert all(is_iri(a["id"]) for a in parent)
    stamp = datetime.fromisoformat(statement["timestamp"])
    assert stamp.tzinfo is not None  # ISO 8601 with a time zone


# The session's minutes: everyone arrives at 0, Bojan leaves at LEFT_AT, reports are read
# at REPORT_AT. Shares are exact: Ana 1.0, Bojan 0.1, under and over min_presence (0.8).
LEFT_AT, REPORT_AT = 60.0, 600.0


@pytest.fixture
async def client(settings: Settings, clock: ManualClock) -> AsyncIterator[Client]:
    """The app on a clock that moves only when the session says so."""
    from web.app import create_app

    async with TestClient(TestServer(create_app(settings, clock))) as test_client:
        yield test_client


async def run_session(client: Client, mint: Mint, clock: ManualClock) -> tuple[str, dict[str, WS]]:
    """A session of module m02 with a named poll, an anonymous poll and a quiz; then the
    clock stands at REPORT_AT."""
    start = clock.now
    trainer = await join(client, mint("trainer", "Tea", sub="t"))
    await trainer.send_json({"type": "start_session", "module": "m02-human-rights"})
    session_id = (await receive(trainer, "session_changed"))["session"]["id"]
    ana = await join(client, mint("trainee", "Ana", sub="a"))
    bojan = await join(client, mint("trainee", "=HYPERLINK(bad)", sub="b"))
    await trainer.send_json(
        {
            "type": "create_poll",
            "question": "Where do you work?",
            "kind": "multiple",
            "options": ["Border", "Asylum office", "Police"],
            "open": True,
        }
    )
    named = (await receive(trainer, "poll_opened"))["poll"]["id"]
    await trainer.send_json(
        {
            "type": "create_poll",
            "question": "Pace?",
            "kind": "rating",
            "anonymous": True,
            "open": True,
        }
    )
    anonymous = (await receive(trainer, "poll_opened"))["poll"]["id"]
    for ws, choice, rating in ((ana, [0, 2], 4), (bojan, [1], 2)):
        await ws.send_json({"type": "answer_poll", "poll": named, "answer": choice})
        await ws.send_json({"type": "answer_poll", "poll": anonymous, "answer": rating})
        await receive(ws, "poll_answer_recorded")
        await receive(ws, "poll_answer_recorded")
    quiz = {
        "title": "Rights check",
        "questions": [
            {"text": "Non-refoulement applies to?", "options": ["All", "Some"], "correct": [0]},
            {"text": "Pick the treaties", "options": ["1951", "ECHR", "None"], "correct": [0, 1]},
        ],
    }
    await trainer.send_json({"type": "create_quiz", **quiz})
    quiz_id = (await receive(trainer, "quiz_created"))["quiz"]["id"]
    await trainer.send_json({"type": "start_quiz", "quiz": quiz_id})
    await receive(ana, "question_opened")
    await ana.send_json({"type": "answer_quiz", "quiz": quiz_id, "index": 0, "choices": [0]})
    await bojan.send_json({"type": "answer_quiz", "quiz": quiz_id, "index": 0, "choices": [1]})
    await receive(ana, "quiz_answer_recorded")
    await receive(bojan, "quiz_answer_recorded")
    await trainer.send_json({"type": "next_question", "quiz": quiz_id})
    await receive(ana, "question_opened")
    await ana.send_json({"type": "answer_quiz", "quiz": quiz_id, "index": 1, "choices": [1, 0]})
    await receive(ana, "quiz_answer_recorded")
    await trainer.send_json({"type": "end_quiz", "quiz": quiz_id})
    await receive(ana, "quiz_ended")
    clock.advance(start + LEFT_AT - clock.now)
    await bojan.close()
    await receive(trainer, "presence_recorded")  # Bojan's departure
    clock.advance(start + REPORT_AT - clock.now)
    return session_id, {"trainer": trainer, "ana": ana}


async def test_attendance_json_and_csv(client: Client, mint: Mint, clock: ManualClock) -> None:
    session_id, _ = await run_session(client, mint, clock)
    token = mint("trainer", "Tea", sub="t")
    body = await (
        await client.get(f"/api/sessions/{session_id}/attendance", headers=auth(token))
    ).json()
    rows = {row["id"]: row for row in body["rows"]}
    assert set(rows) == {"t", "a", "b"} and body["min_presence"] == 0.8
    assert rows["b"]["last_left"] is not None and rows["a"]["last_left"] is None
    shares = {pid: (row["share"], row["completed"]) for pid, row in rows.items()}
    assert shares == {"t": (1.0, True), "a": (1.0, True), "b": (0.1, False)}
    response = await client.get(f"/api/sessions/{session_id}/attendance.csv", headers=auth(token))
    assert (
        response.content_type == "text/csv"
        and "attachment" in response.headers["Content-Disposition"]
    )
    table = list(csv.DictReader(io.StringIO(await response.text())))
    assert [r["participant_id"] for r in table] == [r["id"] for r in body["rows"]]
    bojan = next(r for r in table if r["participant_id"] == "b")
    assert bojan["name"] == "'=HYPERLINK(bad)"  # no formula reaches a spreadsheet
    assert datetime.fromisoformat(bojan["first_joined"]).tzinfo is not None
    assert (bojan["completed"], float(bojan["share"])) == ("no", 0.1)


async def test_results_csv_has_every_named_answer_and_only_tallies_of_anonymous_polls(
    client: Client, mint: Mint, clock: ManualClock
) -> None:
    session_id, _ = await run_session(client, mint, clock)
    token = mint("trainer", sub="t")
    response = await client.get(f"/api/sessions/{session_id}/results.csv", headers=auth(token))
    text = await response.text()
    table = list(csv.DictReader(io.StringIO(text)))
    answers = [(r["kind"], r["record"], r["participant_id"], r["answer"]) for r in table]
    assert ("poll", "answer", "a", "Border; Police") in answers
    assert ("poll", "answer", "b", "Asylum office") in answers
    tallies = {r["answer"]: r["count"] for r in table if r["record"] == "tally"}
    assert tallies == {"1": "0", "2": "1", "3": "0", "4": "1", "5": "0"}
    assert all(r["participant_id"] == "" for r in table if r["question"] == "Pace?")
    scores = {
        r["participant_id"]: (r["points"], r["correct"]) for r in table if r["record"] == "score"
    }
    assert scores == {"a": ("200", "2"), "b": ("0", "0")}
    quiz_rows = [r for r in table if r["kind"] == "quiz" and r["record"] == "answer"]
    assert [(r["participant_id"], r["question_number"], r["correct"]) for r in quiz_rows] == [
        ("a", "1", "yes"),
        ("b", "1", "no"),
        ("a", "2", "yes"),
    ]


async def test_xapi_statements_follow_the_spec(
    client: Client, mint: Mint, clock: ManualClock
) -> None:
    session_id, _ = await run_session(client, mint, clock)
    token = mint("trainer", sub="t")
    response = await client.get(f"/api/sessions/{session_id}/xapi", headers=auth(token))
    statements = (await response.json())["statements"]
    for statement in statements:
        check_statement(statement)
    verbs = [s["verb"]["display"]["en-US"] for s in statements]
    assert verbs.count("answered") == 2 + 3  # named poll answers, quiz answers; none anonymous
    assert verbs.count("scored") == 2 and verbs.count("attended") == 3
    completed = {
        s["actor"]["account"]["name"] for s in statements if "completed" in s["verb"]["id"]
    }
    assert "a" in completed and "b" not in completed  # 100% and 10% of the session
    assert all("Pace?" not in str(s["object"]) for s in statements)
    scored = {
        s["actor"]["account"]["name"]: s["result"]["score"]
        for s in statements
        if "scored" in s["verb"]["id"]
    }
    assert scored["a"] == {"raw": 200, "min": 0, "max": 200, "scaled": 1.0}
    choice = next(s for s in statements if s["object"]["id"].endswith("/questions/2"))
    assert choice["object"]["definition"]["correctResponsesPattern"] == ["0[,]1"]
    assert choice["result"]["response"] == "0[,]1" and choice["result"]["success"] is True
    again = await (await client.get(f"/api/sessions/{session_id}/xapi", headers=auth(token))).json()
    assert [s["id"] for s in again["statements"]] == [s["id"] for s in statements]  # stable ids


async def test_pictures_are_svg_with_the_people_and_the_options(
    client: Client, mint: Mint, clock: ManualClock
) -> None:
    session_id, _ = await run_session(client, mint, clock)
    token = mint("trainer", sub="t")
    for path, expected in (
        ("timeline.svg", ["Ana", "=HYPERLINK(bad)", "Tea"]),
        ("charts.svg", ["Border", "Asylum office", "Pick the treaties", "ECHR"]),
    ):
        response = await client.get(f"/api/sessions/{session_id}/{path}", headers=auth(token))
        assert response.content_type == "image/svg+xml"
        root = ET.fromstring(await response.text())  # well-formed XML
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        texts = " ".join(root.itertext())
        for word in expected:
            assert word in texts
        assert root.findall(".//{http://www.w3.org/2000/svg}rect")


async def test_reports_are_for_trainers_of_that_room(
    client: Client, mint: Mint, clock: ManualClock
) -> None:
    session_id, _ = await run_session(client, mint, clock)
    for token, status in (
        (mint("trainee", sub="a"), 403),
        (mint("trainer", sub="x", room="other"), 403),
        ("not-a-token", 401),
    ):
        response = await client.get(f"/api/sessions/{session_id}/results.csv", headers=auth(token))
        assert response.status == status
    missing = await client.get("/api/sessions/nope/xapi", headers=auth(mint("trainer")))
    assert missing.status == 404
    listing = await client.get("/api/rooms/demo/sessions", headers=auth(mint("trainer")))
    assert [s["id"] for s in (await listing.json())["sessions"]] == [session_id]


SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(
    ("how", "lang"),
    [({"query": "ar"}, "ar"), ({"token": "mk"}, "mk"), ({"header": "sq-AL,sq;q=0.9"}, "sq")],
    ids=["query", "token", "browser"],
)
async def test_pictures_speak_the_readers_language(
    client: Client, mint: Mint, clock: ManualClock, how: dict[str, str], lang: str
) -> None:
    """The pictures' words are the reader's (``?lang=``, else their link's, else their
    browser's), and an Arabic picture reads right to left: names, options and questions
    start at the right edge, bars and time grow leftwards."""
    from live.charts import LABEL_WIDTH, WIDTH
    from web.i18n import translate

    session_id, _ = await run_session(client, mint, clock)
    token = mint("trainer", sub="t", **({"lang": how["token"]} if "token" in how else {}))
    headers = {**auth(token), **({"Accept-Language": how["header"]} if "header" in how else {})}
    params = {"lang": how["query"]} if "query" in how else {}
    pictures = {}
    for path in ("timeline.svg", "charts.svg"):
        response = await client.get(
            f"/api/sessions/{session_id}/{path}", headers=headers, params=params
        )
        pictures[path] = ET.fromstring(await response.text())
    timeline, charts = pictures["timeline.svg"], pictures["charts.svg"]
    presence = translate(lang, "chart.presence", title="demo")  # the session's title
    assert timeline.findtext(f"{SVG}title") == presence
    described = timeline.findtext(f"{SVG}desc") or ""
    assert f"Ana ({translate(lang, 'role.trainee')})" in described
    for span in timeline.findall(f"{SVG}rect[@data-from]"):
        said = span.findtext(f"{SVG}title", "")
        times = {
            end: datetime.fromtimestamp(int(span.get(f"data-{end}", 0)), UTC)
            for end in ("from", "to")
        }
        name = said.split(": ")[0]
        clock_times = {end: at.strftime("%H:%M") for end, at in times.items()}
        assert said == translate(lang, "report.span", name=name, **clock_times)
    question = translate(
        lang, "chart.question", quiz="Rights check", number=2, question="Pick the treaties"
    )
    assert question in " ".join(charts.itertext())
    rtl = lang == "ar"
    for picture in (timeline, charts):
        assert (picture.get("direction") == "rtl") is rtl
        labels = [t for t in picture.iter(f"{SVG}text") if t.text in ("Ana", "Border")]
        assert labels and all((float(t.get("x", 0)) > WIDTH / 2) is rtl for t in labels)
    bars = charts.findall(f"{SVG}rect[@fill]")[1:]  # the background first
    ends = {round(float(b.get("x", 0)) + float(b.get("width", 0))) for b in bars}
    starts = {round(float(b.get("x", 0))) for b in bars}
    assert (ends == {WIDTH - LABEL_WIDTH}) is rtl and (starts == {LABEL_WIDTH}) is not rtl
    ticks = [int(t.get("data-at", 0)) for t in timeline.iter(f"{SVG}text") if t.get("data-at")]
    xs = [float(t.get("x", 0)) for t in timeline.iter(f"{SVG}text") if t.get("data-at")]
    assert ticks == sorted(ticks) and (xs == sorted(xs, reverse=rtl))
