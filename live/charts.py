"""Pictures of a session, drawn on the server as SVG: the presence timeline and result bars.

Every text that reaches a picture (names, questions, options) is escaped; the SVGs
carry a title and a description so screen readers announce them. What the server says in
them is said in the reader's language (``Words``: the web layer's catalogue, in the
language of whoever asks), and a right-to-left language reads right to left: names and
options on the right, bars and time growing leftwards, the text's base direction RTL.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from html import escape
from typing import Any

WIDTH = 760
LABEL_WIDTH = 200
ROW_HEIGHT = 22
ROLE_COLOURS = {
    "trainer": "#0b5cad",
    "trainee": "#2e7d32",
    "companion": "#6a1b9a",
    "room": "#ef6c00",
    "interpreter": "#00838f",
    "observer": "#757575",
}
BAR_COLOUR, CORRECT_COLOUR = "#0b5cad", "#2e7d32"
#: Why a span ended, by its reason's catalogue key.
SPAN_ENDS = {"server_stopped": "report.server_stopped"}
#: What the pictures say, in English: the catalogue's words where no reader's are given.
ENGLISH = {
    "chart.presence": "{title}: presence",
    "chart.nobody": "nobody was present",
    "chart.no_results": "no results",
    "chart.server_stops": "ended by a server stop: {count}",
    "chart.question": "{quiz}, question {number}: {question}",
    "report.server_stopped": "connection lost: server stopped",
    "report.span": "{name}: {from} to {to}",
    "report.minutes": "{minutes} min",
}


def english(key: str, **values: object) -> str:
    text = ENGLISH.get(key) or key.removeprefix("role.")
    return text.format(**values) if values else text


@dataclasses.dataclass(frozen=True)
class Words:
    """The reader's language: ``say(key, **values)`` a catalogue's sentence, and whether
    it is written right to left."""

    say: Callable[..., str] = english
    rtl: bool = False

    def x(self, x: float, width: float = 0.0) -> float:
        """Where something drawn at ``x`` (``width`` wide) goes: mirrored when RTL."""
        return WIDTH - x - width if self.rtl else x


IN_ENGLISH = Words()


def _clock(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%H:%M")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _svg(
    width: int, height: int, title: str, description: str, body: list[str], words: Words
) -> str:
    direction = ' direction="rtl"' if words.rtl else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="system-ui, sans-serif" '
        f'font-size="12"{direction}><title>{escape(title)}</title>'
        f"<desc>{escape(description)}</desc>" + "".join(body) + "</svg>"
    )


def timeline_svg(
    rows: list[dict[str, Any]], start: float, end: float, title: str, words: Words = IN_ENGLISH
) -> str:
    """One line per person: bars where they were present between start and end (UTC clock),
    time running rightwards (leftwards when the reader's language is RTL).

    Each time is also given as epoch seconds (``data-at`` on a tick, ``data-from`` and
    ``data-to`` on a span, ``data-reason`` when a server stop ended it), so that a page
    writes them in its reader's language and time zone."""
    say, x_of = words.say, words.x
    span = max(end - start, 1.0)
    plot = WIDTH - LABEL_WIDTH - 40  # room for the last tick, written long by a page
    height = 40 + ROW_HEIGHT * max(len(rows), 1)
    body = [f'<rect width="{WIDTH}" height="{height}" fill="#fff"/>']
    for step in range(5):  # the time axis: five ticks
        x = x_of(LABEL_WIDTH + plot * step / 4)
        at = start + span * step / 4
        body.append(f'<line x1="{x:.1f}" y1="18" x2="{x:.1f}" y2="{height - 4}" stroke="#ddd"/>')
        body.append(
            f'<text x="{x:.1f}" y="13" text-anchor="middle" data-at="{at:.0f}">{_clock(at)}</text>'
        )
    described = []
    for index, row in enumerate(rows):
        y = 24 + ROW_HEIGHT * index
        colour = ROLE_COLOURS.get(row["role"], "#444")
        label = escape(_clip(row["name"], 28))
        body.append(f'<text x="{x_of(4):.1f}" y="{y + 13}">{label}</text>')
        minutes, stops = 0.0, 0
        reasons = row.get("reasons") or [None] * len(row["spans"])
        for (began, left), reason in zip(row["spans"], reasons, strict=True):
            w = max(plot * (left - began) / span, 1.0)
            x = x_of(LABEL_WIDTH + plot * (began - start) / span, w)
            minutes += (left - began) / 60
            lost = "" if reason is None else f" ({say(SPAN_ENDS.get(reason, reason))})"
            stops += reason is not None
            ended = "" if reason is None else f' data-reason="{escape(reason)}"'
            times = {"name": row["name"], "from": _clock(began), "to": _clock(left)}
            body.append(
                f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{ROW_HEIGHT - 8}" '
                f'fill="{colour}" data-from="{began:.0f}" data-to="{left:.0f}"{ended}>'
                f"<title>{escape(say('report.span', **times) + lost)}</title></rect>"
            )
        lost = f", {say('chart.server_stops', count=stops)}" if stops else ""
        role = say(f"role.{row['role']}")
        present = say("report.minutes", minutes=f"{minutes:.0f}")
        described.append(f"{row['name']} ({role}): {present}{lost}")
    description = "; ".join(described) or say("chart.nobody")
    return _svg(WIDTH, height, say("chart.presence", title=title), description, body, words)


def _bars(
    title: str,
    labels: list[str],
    counts: list[int],
    correct: set[int] | None,
    top: int,
    words: Words,
) -> tuple[list[str], str, int]:
    """The drawing of one bar chart starting at ``top``, its description and its height."""
    x_of = words.x
    total = max(counts, default=0) or 1
    plot = WIDTH - LABEL_WIDTH - 60
    height = 34 + ROW_HEIGHT * max(len(labels), 1)
    heading = escape(_clip(title, 100))
    body = [f'<text x="{x_of(4):.1f}" y="{top + 16}" font-weight="bold">{heading}</text>']
    for index, (label, count) in enumerate(zip(labels, counts, strict=True)):
        y = top + 26 + ROW_HEIGHT * index
        right = bool(correct) and index in (correct or set())
        w = plot * count / total
        mark = " ✓" if right else ""
        body.append(f'<text x="{x_of(4):.1f}" y="{y + 13}">{escape(_clip(label, 28))}{mark}</text>')
        body.append(
            f'<rect x="{x_of(LABEL_WIDTH, w):.1f}" y="{y + 2}" width="{w:.1f}" '
            f'height="{ROW_HEIGHT - 8}" fill="{CORRECT_COLOUR if right else BAR_COLOUR}"/>'
        )
        body.append(f'<text x="{x_of(LABEL_WIDTH + w + 6):.1f}" y="{y + 13}">{count}</text>')
    pairs = zip(labels, counts, strict=True)
    description = f"{title}: " + "; ".join(f"{label}: {count}" for label, count in pairs)
    return body, description, height


Chart = tuple[str, list[str], list[int], set[int] | None]  # title, labels, counts, correct


def charts_svg(title: str, charts: list[Chart], words: Words = IN_ENGLISH) -> str:
    """Bar charts one under the other (options or rating steps, correct ones in green)."""
    body: list[str] = []
    descriptions = []
    top = 0
    for chart_title, labels, counts, correct in charts:
        drawing, description, height = _bars(chart_title, labels, counts, correct, top, words)
        body += drawing
        descriptions.append(description)
        top += height + 10
    if not charts:
        body.append(f'<text x="{words.x(4):.1f}" y="20">—</text>')
        top = 30
    background = f'<rect width="{WIDTH}" height="{top}" fill="#fff"/>'
    described = " | ".join(descriptions) or words.say("chart.no_results")
    return _svg(WIDTH, top, title, described, [background, *body], words)
