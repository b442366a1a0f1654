"""The results service without a web server: a session's polls and quizzes as JSON, CSV
rows (anonymous polls: tallies, never a person), charts and xAPI statements."""

from __future__ import annotations

from classroom.poll import PollSpec
from classroom.question import Question, QuizSpec
from classroom.room import StartSession
from config import Settings
from live.hub import Hub
from live.polls import Polls
from live.quizzes import Quizzes
from live.results import RESULT_COLUMNS, Results
from live.store import MemoryStore
from tests.conftest import ManualClock
from tests.live.test_polls import catalogue, enter, person, sent


async def test_a_sessions_results_in_every_form(settings: Settings, clock: ManualClock) -> None:
    store, hub = MemoryStore(), Hub(clock)
    polls = Polls(hub, lambda: store, catalogue(settings), settings)
    quizzes = Quizzes(hub, lambda: store, catalogue(settings), settings)
    live = hub.room("demo")
    tea, ana = person("t", "trainer", "Tea"), person("a", name="Ana")
    trainer = enter(live, tea)
    enter(live, ana)
    live.apply(StartSession("t", "Morning"))
    session = live.core.session
    assert session is not None
    named = PollSpec.build("Named?", "single", ["Yes", "No"], False, False, 5, 200)
    anonymous = PollSpec.build("Secret?", "single", ["Yes", "No"], True, False, 5, 200)
    for spec in (named, anonymous):
        await polls.create(live, tea, spec, open_now=True)
    opened = [m["poll"]["id"] for m in await sent(trainer, "poll_opened")]
    for poll_id in opened:
        await polls.answer(live, ana, poll_id, 0)
    quiz_spec = QuizSpec("Borders", (Question("Which?", ("A", "B"), (1,), 30, 100),))
    await quizzes.create(live, tea, quiz_spec)
    quiz_id = (await sent(trainer, "quiz_created"))[0]["quiz"]["id"]
    await quizzes.start(live, tea, quiz_id)
    await quizzes.answer(live, ana, quiz_id, 0, [1])
    quizzes.stop_timers()

    results = Results(lambda: store, settings)
    body = await results.json(session)
    assert [p["question"] for p in body["polls"]] == ["Named?", "Secret?"]
    assert body["quizzes"][0]["results"][0]["correct"] == 1

    rows = [dict(zip(RESULT_COLUMNS, row, strict=True)) for row in await results.rows(session)]
    assert [(r["title"], r["record"], r["participant_id"]) for r in rows] == [
        ("Named?", "answer", "a"),
        ("Secret?", "tally", ""),
        ("Secret?", "tally", ""),
        ("Borders", "answer", "a"),
        ("Borders", "score", "a"),
    ]
    assert [r["count"] for r in rows if r["title"] == "Secret?"] == [1, 0]

    svg = await results.svg(session)
    assert svg.startswith("<svg") and "Secret?" in svg and "Borders, question 1: Which?" in svg
    statements = await results.xapi(session, [])
    # The named answer, the quiz answer and its score; nothing of the anonymous poll.
    assert len(statements) == 3
    assert not any(opened[1] in s["object"]["id"] for s in statements)
