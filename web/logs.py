"""Structured logging: one JSON line per event, never a token, secret or query string."""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
# Anything that looks like a JWT is cut out before a line is written.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")


def redact(text: str) -> str:
    return _JWT.sub("[token]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(
            f"{k}={v}" for k, v in record.__dict__.items() if k not in _STANDARD and k[0] != "_"
        )
        line = f"{record.levelname:<7} {record.name}: {record.getMessage()} {extra}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


def setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))


class AccessLogger(AbstractAccessLogger):
    """One line per request with the path only: query strings may carry join tokens."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time_: float) -> None:
        self.logger.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "ms": round(time_ * 1000, 1),
            },
        )
