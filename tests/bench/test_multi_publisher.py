"""A room of several publishers: every camera and voice to every viewer, and late joiners.

The load tool (``classroom loadtest``'s ``run``) in this process on the load core;
the server is its own process on core 0. Six publishers send the pre-encoded
1 Mbit/s 640x480 VP8 clip and Opus; thirty viewers count what arrives; once media
flows, more viewers join the busy room and their time to a first frame (of any video
and of every video) is taken.
"""

from __future__ import annotations

import time
from pathlib import Path

from config import load_settings
from loadtest.runner import LoadConfig, run
from tests.bench import report
from tests.bench.conftest import SECRET
from tests.bench.process import Server

PUBLISHERS, VIEWERS, LATE = 6, 30, 6
WARMUP_S, WINDOW_S = 5.0, 20.0
FPS_FLOOR = 0.95  # every video stream at 95% of the sent rate at least
COMMAND = ".venv/bin/python -m pytest tests/bench/test_multi_publisher.py -o addopts='' -s"


def udp_receive_errors() -> int:
    """Datagrams this machine's kernel dropped for a full socket receive buffer (all sockets)."""
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()]
    names, values = (row for row in lines if row[0] == "Udp:")
    return int(values[names.index("RcvbufErrors")])


async def test_every_stream_of_six_publishers_reaches_thirty_viewers(server: Server) -> None:
    settings = load_settings(environ={})
    config = LoadConfig(
        url=server.url,
        room="six",
        publishers=PUBLISHERS,
        subscribers=VIEWERS,
        late_subscribers=LATE,
        duration_s=WINDOW_S,
        warmup_s=WARMUP_S,
        signing_key=SECRET,
        audience=settings.token_audience,
        issuer=settings.token_issuer,
    )
    udp_before, load_before, started = udp_receive_errors(), time.process_time(), time.monotonic()
    result = await run(config)
    udp_dropped = udp_receive_errors() - udp_before
    load_cores = (time.process_time() - load_before) / (time.monotonic() - started)
    summary = result.summary()
    people = result.participants
    sent = result.sent_fps or 0.0

    def expected(publishes: bool) -> int:
        return PUBLISHERS - 1 if publishes else PUBLISHERS

    whole = [
        p
        for p in people
        if p.error is None
        and (p.streams, p.videos) == (2 * expected(p.publishes), expected(p.publishes))
        and (p.video_fps_min or 0.0) >= FPS_FLOOR * sent
    ]
    groups = [
        ("publishers", [p for p in people if p.publishes]),
        ("viewers", [p for p in people if not p.publishes and not p.late]),
        ("late joiners", [p for p in people if p.late]),
    ]
    rows = []
    for name, group in groups:
        fps = [p.fps for p in group if p.fps is not None]
        lowest = [p.video_fps_min for p in group if p.video_fps_min is not None]
        loss = [p.loss for p in group if p.loss is not None]
        first = sorted(p.first_frame_ms for p in group if p.first_frame_ms is not None)
        every = sorted(p.every_video_ms for p in group if p.every_video_ms is not None)
        rows.append(
            (
                name,
                len(group),
                sum(1 for p in group if p in whole),
                f"{2 * expected(group[0].publishes)} ({expected(group[0].publishes)} videos)",
                sum(fps) / len(fps) if fps else "-",
                min(lowest) if lowest else "-",
                max(loss) * 100 if loss else "-",
                first[len(first) // 2] if first else "-",
                every[len(every) // 2] if every else "-",
                every[-1] if every else "-",
            )
        )
    server_cores = result.server.get("cpu_cores")
    forwarded = result.server.get("packets_forwarded_per_s")
    late_every = summary["late_every_video_ms_p50"]
    met = len(whole) == len(people)
    body = (
        f"{PUBLISHERS} publishers (the load tool's pre-encoded 1 Mbit/s 640x480 VP8 clip at "
        f"30 frames a second, and Opus) and {VIEWERS} viewers in one room: "
        f"{PUBLISHERS * (PUBLISHERS - 1) * 2 + VIEWERS * PUBLISHERS * 2} streams forwarded "
        f"({PUBLISHERS * (PUBLISHERS - 1 + VIEWERS + LATE) * 2} with the late joiners). "
        f"Once media flows ({WARMUP_S:g} s), {LATE} more viewers join the busy room at once; "
        f"their first frames are timed from opening the websocket, and their rates are taken "
        f"from {WARMUP_S:g} s after they joined. Measured over {WINDOW_S:g} s. A participant "
        "is served in full when it is shown every other publisher's camera and microphone, "
        f"each counted on its own m-line, every video at {FPS_FLOOR:.0%} of the sent rate or "
        "more. The server is one process pinned to one core; the load tool has the other.\n\n"
        + report.table(
            (
                "who",
                "count",
                "served in full",
                "streams each",
                "fps mean",
                "slowest video fps",
                "worst loss %",
                "first frame p50 (ms)",
                "every video p50 (ms)",
                "every video max (ms)",
            ),
            rows,
        )
        + f"\nSent {sent:.1f} frames a second; server CPU "
        + (f"{server_cores:.2f} cores" if server_cores is not None else "-")
        + ", "
        + (f"{forwarded:,.0f} RTP packets forwarded a second" if forwarded else "-")
        + f", {result.server.get('packets_dropped_per_s') or 0:,.0f} not sent a second; "
        f"{udp_dropped:,} datagrams dropped by the kernel for full receive buffers (the load "
        f"tool's sockets: it used {load_cores:.2f} cores over the run, encoding included); "
        f"{summary['failed']} participants reported a problem.\n"
    )
    errors = [f"{p.name}: {p.error}" for p in people if p.error]
    if errors:
        body += "\nProblems:\n\n" + "".join(f"- {e}\n" for e in errors[:10])
    report.write(
        report.Section(
            name="multi_publisher",
            title=f"{PUBLISHERS} publishers x {VIEWERS} viewers, and joining a busy room",
            target="every stream reaches every viewer",
            result=(
                f"{len(whole)} of {len(people)} served in full; late joiners see every video "
                f"after {late_every:.0f} ms (p50)"
                if late_every is not None
                else f"{len(whole)} of {len(people)} served in full"
            ),
            met=met,
            body=body,
            command=COMMAND,
        )
    )
    assert met, errors or [(p.name, p.streams, p.video_fps_min) for p in people if p not in whole]
