"""The load tool against a real server on loopback: joins, quiz burst, /metrics, CLI, bad input."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from config import Settings
from loadtest.command import parse_bitrate, parse_size
from loadtest.participant import Participant, RequestFailed, peek_type
from loadtest.quiz import BurstResult, latencies
from loadtest.report import ParticipantResult, Progress, Report, render_table
from loadtest.runner import LoadConfig, run, server_figures
from media.ice import gather_loopback_when_alone
from tests.conftest import SECRET, free_port
from tests.server import ServerProcess
from web.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[str]:
    """The app on a real port of 127.0.0.1, as the load tool reaches a server."""
    from web.app import create_app

    port = free_port()
    runner = web.AppRunner(create_app(settings.replace(port=port)), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def config(url: str, settings: Settings, **changes: object) -> LoadConfig:
    values: dict[str, object] = {
        "url": url,
        "room": "load",
        "publishers": 0,
        "subscribers": 2,
        "duration_s": 1.0,
        "warmup_s": 0.2,
        "signing_key": SECRET,
        "audience": settings.token_audience,
        "issuer": settings.token_issuer,
    }
    values.update(changes)
    return LoadConfig(**values)  # type: ignore[arg-type]


async def test_participants_join_and_a_quiz_burst_is_timed(served: str, settings: Settings) -> None:
    report = await run(config(served, settings, quiz_burst=12))
    names = [p.name for p in report.participants]
    assert names[:3] == ["sub-0", "sub-1", "trainer"] and len(names) == 15
    assert all(p.join_ms is not None and p.error is None for p in report.participants)
    assert report.quiz is not None
    assert (report.quiz.answers, report.quiz.accepted, report.quiz.refused) == (12, 12, 0)
    assert len(report.quiz.latencies_ms) == 12 and min(report.quiz.latencies_ms) >= 0
    assert report.quiz.server_cpu_cores is not None
    # The server's own figures come from its /metrics.
    assert report.server["rss_bytes"] and report.server["rss_bytes"] > 0
    assert report.server["cpu_cores"] is not None
    assert report.summary()["failed"] == 0


async def test_media_flows_from_a_clip_publisher_to_counting_subscribers(
    served: str, settings: Settings
) -> None:
    """Real signalling, real aiortc peer connections with the server's router, on loopback."""
    report = await run(
        config(
            served,
            settings,
            publishers=1,
            subscribers=2,
            duration_s=2.0,
            warmup_s=2.0,
            bitrate=300_000,
            size=(320, 240),
        )
    )
    publisher, *subscribers = report.participants
    assert publisher.publishes and publisher.streams == 0  # nobody else publishes
    for viewer in subscribers:
        assert viewer.error is None, viewer.error
        assert viewer.streams == 2  # the publisher's camera and microphone
        assert viewer.fps and viewer.fps > 0 and viewer.audio_fps and viewer.audio_fps > 0
        assert viewer.loss is not None and viewer.kbps and viewer.kbps > 0
        assert viewer.first_frame_ms is not None and viewer.first_frame_ms > viewer.join_ms
    assert report.sent_fps and report.sent_fps > 0
    assert report.server["packets_forwarded_per_s"] and report.server["packets_forwarded_per_s"] > 0


async def test_simulcast_publishers_reach_counting_subscribers(
    served: str, settings: Settings
) -> None:
    """``--simulcast``: the camera in three layers, as browsers send it; the subscribers
    (who say no tile size) get the full one, decoded nowhere, counted."""
    report = await run(
        config(
            served,
            settings,
            publishers=1,
            subscribers=2,
            duration_s=2.0,
            warmup_s=2.0,
            bitrate=300_000,
            size=(320, 240),
            simulcast=True,
        )
    )
    _, *subscribers = report.participants
    for viewer in subscribers:
        assert viewer.error is None, viewer.error
        assert viewer.streams == 2
        assert viewer.fps and viewer.fps > 20  # the clip's 30 frames a second, one layer
        # The full layer (300 kbit/s) and the voice: about 330; the quarter layer would be 180.
        assert viewer.kbps and viewer.kbps > 260
    assert report.sent_fps and report.sent_fps > 0


async def test_a_wrong_secret_is_reported_per_participant(served: str, settings: Settings) -> None:
    report = await run(config(served, settings, signing_key="w" * 40, subscribers=1))
    (result,) = report.participants
    assert result.join_ms is None and result.error and "401" in result.error
    assert report.summary()["failed"] == 1


async def test_a_refused_request_raises_with_the_servers_reason(
    served: str, settings: Settings
) -> None:
    load = config(served, settings)
    observer = Participant(served, load.token("observer", "obs"), "obs", "observer")
    await observer.join()
    with pytest.raises(RequestFailed, match="publish: forbidden"):
        await observer.request("publish", "publish_answer", sdp="v=0", sources={"0": "camera"})
    with pytest.raises(RequestFailed, match="no pong within 0 s"):
        await observer.request("ping", "pong", timeout_s=0.0)
    await observer.close()


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[str]:
    """`classroom serve` as its own process, as an operator runs it."""
    port = free_port()
    env = {
        **os.environ,
        "CLASSROOM_DATA_DIR": str(tmp_path / "data"),
        "CLASSROOM_TOKEN_SECRET": SECRET,
        "CLASSROOM_WS_RATE_PER_S": "200",
        "CLASSROOM_WS_RATE_BURST": "200",
    }
    argv = [sys.executable, "-m", "web.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # a busy machine takes long to import everything
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server did not start (exit code {process.poll()})")
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def test_the_command_prints_json(
    server_process: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLASSROOM_DATA_DIR", "/nonexistent-unused")
    argv = ["loadtest", "--url", server_process, "--room", "cli", "--subscribers", "3"]
    code = main([*argv, "--duration", "1", "--quiz-burst", "4", "--json", "--secret", SECRET])
    out = capsys.readouterr()
    assert code == 0, out.err
    report = json.loads(out.out)
    assert report["summary"]["participants"] == 8 and report["summary"]["failed"] == 0
    assert report["quiz"]["answers"] == 4 and report["quiz"]["p99_ms"] is not None
    assert report["server"]["rss_bytes"] > 0
    assert "loadtest: joined 8/8" in out.err  # progress, plain lines when not a terminal


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--subscribers", "1", "--duration", "0", "--secret", SECRET], "must be positive"),
        (["--secret", SECRET], "nobody to simulate"),
        (["--subscribers", "1", "--secret", "short"], "at least 32 characters"),
        (["--subscribers", "1"], "no token secret"),
    ],
)
def test_bad_input_is_refused_before_anything_runs(
    extra: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLASSROOM_DATA_DIR", str(tmp_path / "empty"))
    code = main(["loadtest", "--url", "http://127.0.0.1:9", "--room", "r", *extra])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "empty" / "token_secret").exists()  # never creates a secret


@pytest.mark.parametrize(
    ("text", "type_"),
    [
        ('{"type": "welcome", "you": {}}', "welcome"),
        ('{"you": {}, "type": "welcome"}', None),  # not first: parsed in full instead
        ('{"type": "', None),
        ("[]", None),
    ],
)
def test_the_type_is_read_without_parsing(text: str, type_: str | None) -> None:
    assert peek_type(text) == type_


@pytest.mark.parametrize(
    ("text", "bits"), [("1M", 1_000_000), ("500k", 500_000), ("2.5M", 2_500_000), ("800", 800)]
)
def test_bitrates(text: str, bits: int) -> None:
    assert parse_bitrate(text) == bits


def test_a_bad_bitrate_is_refused() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not a bitrate"):
        parse_bitrate("fast")


@pytest.mark.parametrize(("text", "message"), [("big", "not a size"), ("641x480", "even")])
def test_sizes(text: str, message: str) -> None:
    assert parse_size("320x240") == (320, 240)
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse_size(text)


@pytest.mark.parametrize(
    ("sent", "tallies", "expected"),
    [
        ([0.0, 1.0], [(1, 0.1), (2, 1.2)], [0.1, 0.2]),
        ([0.0, 0.5, 1.0], [(3, 1.5)], [0.5, 1.0, 1.5]),  # one tally counted three answers
        ([0.0, 1.0], [(1, 0.3)], [0.3]),  # the second answer was never counted
    ],
)
def test_latency_is_from_the_nth_answer_to_the_tally_that_counts_it(
    sent: list[float], tallies: list[tuple[int, float]], expected: list[float]
) -> None:
    assert latencies(sent, tallies) == pytest.approx(expected)


def test_server_figures_are_rates_between_scrapes() -> None:
    before = {"cpu_seconds": 10.0, "packets_forwarded": 1000.0, "rss_bytes": 1.0}
    after = {"cpu_seconds": 11.0, "packets_forwarded": 5000.0, "rss_bytes": 2.0}
    figures = server_figures(before, after, 2.0)
    assert figures["cpu_cores"] == 0.5 and figures["packets_forwarded_per_s"] == 2000.0
    assert figures["rss_bytes"] == 2.0 and figures["packets_dropped_per_s"] is None


def test_the_table_lists_people_and_folds_quiz_answerers() -> None:
    people = [
        ParticipantResult("pub-0", "trainee", True, 40.0, None, 0),
        ParticipantResult("sub-0", "trainee", False, 45.0, 300.0, 2, 29.5, 50.0, 0.01, 1000.0),
        *(ParticipantResult(f"quiz-{n}", "trainee", False, 50.0) for n in range(100)),
    ]
    quiz = BurstResult(100, 99, 1, tuple(float(n) for n in range(99)), 0.4)
    report = Report("http://x", "r", 10.0, 30.0, people, {"cpu_cores": 0.25}, quiz)
    text = render_table(report)
    assert "pub-0 (pub)" in text and "quiz-0..99" in text and "quiz-5 " not in text
    assert "29.5" in text and "1.00" in text  # fps and loss %
    assert "p99 98 ms" in text and "(1 refused)" in text


def test_progress_redraws_on_a_terminal_and_prints_lines_elsewhere() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, log = Terminal(), io.StringIO()
    Progress(10, terminal).update(5, "joined 3/3")
    Progress(10, log).update(5, "joined 3/3")
    assert terminal.getvalue().startswith("\r[###############") and "\n" not in terminal.getvalue()
    assert log.getvalue() == "loadtest: 5/10 s  joined 3/3\n"


PUBLISHERS, SUBSCRIBERS, LATE = 3, 6, 2


async def test_every_stream_of_several_publishers_reaches_every_viewer(tmp_path: Path) -> None:
    """`classroom loadtest` against `classroom serve` run as users run it (default settings,
    its own working directory): three publishers, six viewers and two who join once media
    flows. Every viewer is shown every other publisher's camera and microphone, each
    stream counted on its own m-line at the rate sent (with one publisher, or counted by
    payload type, two streams could share one counter: 60 and 0 frames a second)."""
    gather_loopback_when_alone()
    server = ServerProcess.as_users_run_it(tmp_path / "classroom")
    await server.start()
    try:
        argv = [
            sys.executable, "-m", "web.cli", "loadtest", "--url", server.url, "--room", "many",
            "--publishers", str(PUBLISHERS), "--subscribers", str(SUBSCRIBERS),
            "--late-subscribers", str(LATE), "--duration", "10", "--size", "320x240",
            "--bitrate", "300k", "--data-dir", str(server.data), "--json", "--quiet",
        ]  # fmt: skip
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(process.communicate(), 90)
    finally:
        await server.stop()
    assert process.returncode == 0, err.decode() + out.decode()[-3000:]
    report = json.loads(out)
    people = report["participants"]
    assert [p["name"] for p in people if p["late"]] == [f"late-{n}" for n in range(LATE)]
    sent = report["sent_fps"]
    assert 25 <= sent <= 31, sent  # the clip is paced at 30 frames a second
    for person in people:
        others = PUBLISHERS - 1 if person["publishes"] else PUBLISHERS
        assert person["error"] is None, person
        assert (person["streams"], person["videos"]) == (2 * others, others), person
        # Each video stream at about the rate sent: none silent, none counted twice.
        assert 0.8 * sent <= person["video_fps_min"] <= person["fps"] <= 1.05 * sent, person
        assert 45 <= person["audio_fps"] <= 52, person  # 20 ms Opus packets
        assert person["first_frame_ms"] is not None
        assert person["every_video_ms"] >= person["first_frame_ms"]
    summary = report["summary"]
    assert summary["failed"] == 0
    assert summary["late_first_frame_ms_p50"] is not None
    assert summary["late_every_video_ms_max"] >= summary["late_first_frame_ms_max"]
