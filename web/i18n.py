"""Translations of UI strings, shared by templates and the browser (JSON catalogues)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jinja2
from aiohttp import web

from live.charts import Words

LOCALES_DIR = Path(__file__).parent / "static" / "locales"
TEMPLATES_DIR = Path(__file__).parent / "templates"
DEFAULT_LANGUAGE = "en"
RTL_LANGUAGES = frozenset({"ar", "fa", "ps", "he", "ur"})
# Language codes people carry in tokens or browsers mapped to a shipped catalogue.
ALIASES = {"sr": "sr-Latn", "bs": "sr-Latn", "hr": "sr-Latn", "cnr": "sr-Latn", "sh": "sr-Latn"}

TEMPLATES = web.AppKey("templates", jinja2.Environment)


@cache
def catalogue(lang: str) -> dict[str, str]:
    return dict(json.loads((LOCALES_DIR / f"{lang}.json").read_text(encoding="utf-8")))


def available() -> list[str]:
    return sorted(p.stem for p in LOCALES_DIR.glob("*.json"))


def resolve(code: str | None) -> str | None:
    """The shipped catalogue for a language code ('sr-Latn-RS' -> 'sr-Latn'), or None."""
    if not code:
        return None
    shipped = available()
    code = code.strip()
    for candidate in (code, ALIASES.get(code.lower(), ""), code.split("-")[0].lower()):
        if candidate in shipped:
            return candidate
        alias = ALIASES.get(candidate.lower())
        if alias in shipped:
            return alias
    return None


def negotiate(request: web.Request, preferred: str | None = None) -> str:
    """The page's language: ``?lang=`` if shipped, else the token's, else the browser's
    first shipped one (Accept-Language), else English."""
    chosen = resolve(request.query.get("lang")) or resolve(preferred)
    if chosen:
        return chosen
    header = request.headers.get("Accept-Language", "")
    for part in header.split(","):
        chosen = resolve(part.split(";")[0])
        if chosen:
            return chosen
    return DEFAULT_LANGUAGE


def translate(lang: str, key: str, **values: object) -> str:
    text = catalogue(lang).get(key) or catalogue(DEFAULT_LANGUAGE).get(key) or key
    return text.format(**values) if values else text


def direction(lang: str) -> str:
    return "rtl" if lang.split("-")[0] in RTL_LANGUAGES else "ltr"


def words(lang: str) -> Words:
    """What the server's pictures (``live.charts``) say, in ``lang`` and its direction."""
    return Words(lambda key, **values: translate(lang, key, **values), direction(lang) == "rtl")


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    env.globals.update(translate=translate, direction=direction, languages=available)
    return env
