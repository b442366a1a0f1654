"""BENCHMARKS.md: each benchmark writes its own section, dated and with the machine it ran on.

A run replaces the sections it measured and keeps the others, so one benchmark can
be re-run alone. The summary table at the top is rebuilt from every section's
target and result.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import re
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BENCHMARKS = ROOT / "BENCHMARKS.md"

#: Section names in the order they appear in the file.
ORDER = (
    "forwarding_cpu",
    "viewers_per_core",
    "multi_publisher",
    "join_time",
    "quiz_burst",
    "recording_speed",
    "memory",
)

HEADER = """# Benchmarks

Written by `make bench` (the tests under `tests/bench/`, excluded from `make test`).
Each section says when and on what machine it was measured; a run replaces the
sections it measured and keeps the others. Targets come from issue 7; anchors:
mediasoup ~500 consumers per worker core, stock aiortc relaying ~0.16 core per
extra 640x480 viewer, BigBlueButton ~200 users per server.
"""


def machine() -> str:
    """nproc, CPU model, memory, Python and aiortc versions of this machine."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
                break
        else:
            memory = "unknown memory"
    except OSError:
        memory = "unknown memory"
    return (
        f"{os.cpu_count()} x {model}, {memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, aiortc {metadata.version('aiortc')}; "
        f"load average {os.getloadavg()[0]:.1f} when written (other work on the machine "
        "competes with the server for its core)"
    )


@dataclasses.dataclass
class Section:
    """One benchmark's part of BENCHMARKS.md."""

    name: str
    title: str
    target: str  # what the issue asks for, in words
    result: str  # the headline figure, in words
    met: bool | None  # None: nothing to compare with
    body: str  # markdown: how it was measured, tables, profile notes
    command: str  # how to run just this benchmark

    def render(self, when: datetime.datetime | None = None) -> str:
        stamp = (when or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%d %H:%M UTC")
        summary = json.dumps(
            {"title": self.title, "target": self.target, "result": self.result, "met": self.met},
            ensure_ascii=False,
        )
        return (
            f"<!-- bench:{self.name} -->\n"
            f"<!-- summary: {summary} -->\n"
            f"## {self.title}\n\n"
            f"Measured {stamp} on {machine()}.\n"
            f"Run alone: `{self.command}`.\n\n"
            f"{self.body.strip()}\n"
            f"<!-- /bench:{self.name} -->\n"
        )


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table; floats are shown with at most three significant decimals."""

    def cell(value: object) -> str:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return str(value)
        if abs(value) >= 1000 or isinstance(value, int):
            return f"{value:,.0f}"
        return f"{value:.3g}"

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


_SECTION = re.compile(r"<!-- bench:(\w+) -->\n.*?<!-- /bench:\1 -->\n", re.S)
_SUMMARY = re.compile(r"<!-- summary: (.*?) -->")


def _sections(text: str) -> dict[str, str]:
    return {match.group(1): match.group(0) for match in _SECTION.finditer(text)}


def _summary(sections: dict[str, str]) -> str:
    rows = []
    for name in sorted(sections, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER)):
        found = _SUMMARY.search(sections[name])
        if not found:
            continue
        item = json.loads(found.group(1))
        verdict = {True: "met", False: "not met", None: "-"}[item["met"]]
        rows.append((item["title"], item["target"], item["result"], verdict))
    return "## Summary\n\n" + table(("benchmark", "target", "measured", ""), rows)


_SUMMARY_BLOCK = re.compile(r"## Summary\n\n(?:\|.*\n)*")


def write(section: Section, path: Path = BENCHMARKS) -> None:
    """Put one section into BENCHMARKS.md (replacing its previous run where it stood) and
    rebuild the summary; what is written outside the marked sections stays as it is."""
    text = path.read_text() if path.exists() else HEADER + "\n" + _summary({}) + "\n"
    sections = _sections(text)
    rendered = section.render()
    if section.name in sections:
        text = text.replace(sections[section.name], rendered, 1)
    else:
        text = text.rstrip("\n") + "\n\n" + rendered
    sections[section.name] = rendered
    if _SUMMARY_BLOCK.search(text):
        text = _SUMMARY_BLOCK.sub(lambda _: _summary(sections), text, count=1)
    else:
        text = _summary(sections) + "\n" + text
    path.write_text(text)
