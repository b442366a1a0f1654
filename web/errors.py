"""JSON errors for the API: one middleware turns every failure into a clear reply."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pydantic
from aiohttp import web

from classroom.errors import (
    ClassroomError,
    Forbidden,
    InsufficientStorage,
    NotFound,
    StoreUnavailable,
    TokenError,
)

log = logging.getLogger("classroom.web")

_STATUS = {
    TokenError: 401,
    Forbidden: 403,
    NotFound: 404,
    InsufficientStorage: 507,
    StoreUnavailable: 503,
}
Model = TypeVar("Model", bound=pydantic.BaseModel)


def json_error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    body = {"error": {"code": code, "message": message, **extra}}
    headers = {"WWW-Authenticate": 'Bearer realm="classroom"'} if status == 401 else None
    return web.json_response(body, status=status, headers=headers)


def error_reply(error: ClassroomError) -> web.Response:
    """The JSON reply to a domain error; the store being unavailable is a 503 that says
    when to try again."""
    # Some errors say why as a finer code too (a refused token's expired, wrong_room...;
    # a pairing code's code_expired, device_full): pages translate it.
    extra = {"reason": error.reason} if error.reason is not None else {}
    response = json_error(status_of(error), error.code, error.message, **extra)
    if isinstance(error, StoreUnavailable):
        response.headers["Retry-After"] = str(error.retry_after_s)
    return response


def status_of(error: ClassroomError) -> int:
    for kind, status in _STATUS.items():
        if isinstance(error, kind):
            return status
    return 409 if error.code == "invalid_state" else 400


class DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKey(f"duplicated key {key!r}")
        result[key] = value
    return result


#: Deepest nesting of arrays and objects accepted in a message or request body; none of
#: ours goes past 5 levels, and deeper input only costs stack (docs/protocol.md).
MAX_JSON_DEPTH = 32


def _too_deep(data: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in children)
    return False


def parse_json(text: str | bytes) -> Any:
    """json.loads that refuses duplicated keys and nesting deeper than MAX_JSON_DEPTH
    (ValueError with a message)."""
    too_deep = f"arrays and objects nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise ValueError(too_deep) from None
    if _too_deep(data, MAX_JSON_DEPTH):
        raise ValueError(too_deep)
    return data


def validation_message(error: pydantic.ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


async def read_json(request: web.Request, model: type[Model]) -> Model:
    """The request body validated against a model, or a 400 that says what is wrong."""
    raw = await request.read()
    try:
        data = parse_json(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": {"code": "bad_json", "message": f"malformed JSON: {error}"}}),
            content_type="application/json",
        ) from None
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as error:
        raise web.HTTPBadRequest(
            text=json.dumps(
                {"error": {"code": "bad_request", "message": validation_message(error)}}
            ),
            content_type="application/json",
        ) from None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """API paths always answer JSON; domain errors map to their HTTP status."""
    api = request.path.startswith("/api")
    try:
        return await handler(request)
    except ClassroomError as error:
        return error_reply(error)
    except web.HTTPException as error:
        if not api or error.content_type == "application/json" or error.status < 400:
            raise
        reason = error.reason or "error"
        message = (
            f"no such endpoint: {request.method} {request.path}"
            if error.status
            in (
                404,
                405,
            )
            else (error.text or reason)
        )
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status, "http_error")
        return json_error(error.status, code, message)
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        if api:
            return json_error(500, "internal", "internal error; the event is logged")
        raise
