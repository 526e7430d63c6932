"""Map every error to a status code and a message naming the field and what was expected."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from liverec.core.errors import ConfigError, DataError, LiverecError, UnknownIdError
from liverec.events.store import EventLogError

log = logging.getLogger(__name__)


def error_response(status: int, error: str, message: str, details: Sequence[Any] = ()) -> Response:
    """The one error body shape: ``{"error", "message", "details"}``."""
    body = {"error": error, "message": message, "details": list(details)}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def field_path(loc: Sequence[Any]) -> str:
    """``("body", "events", 3, "type")`` -> ``events[3].type``.

    >>> field_path(("body", "events", 3, "type")), field_path(("query", "k"))
    ('events[3].type', 'k')
    """
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    # a union body (one event or a batch) reports which branch it tried; drop that label
    parts = [p for p in parts if not (isinstance(p, str) and p in ("EventIn", "EventBatch"))]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def _problem(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "invalid"))
    msg = msg.removeprefix("Value error, ")
    if "input" in err and err.get("type") not in ("missing",):
        try:
            shown = orjson.dumps(err["input"]).decode()
        except TypeError:  # e.g. an integer past 64 bits inside a body: say nothing of it
            shown = ""
        if 0 < len(shown) <= 80:
            msg += f", got {shown}"
    return msg


async def validation_error(request: Request, exc: Exception) -> Response:
    """422 listing every bad field with what was expected."""
    assert isinstance(exc, RequestValidationError)  # registered for this type only
    errors = list(exc.errors())
    details = [{"field": field_path(e.get("loc", ())), "problem": _problem(e)} for e in errors]
    # With a union body pydantic reports each alternative; keep the most specific ones.
    if len({d["field"] for d in details}) > 1:
        details = [d for d in details if d["field"] != "body"] or details
    head = details[0] if details else {"field": "body", "problem": "invalid"}
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    message = f"{head['field']}: {head['problem']}{more}"
    return error_response(422, "invalid_request", message, details)


async def liverec_error(request: Request, exc: Exception) -> Response:
    """Domain errors: unknown ids are 404 on the path, 422 inside a body; the rest 400."""
    if isinstance(exc, EventLogError):
        # A storage fault is the server's, and passes: 503 + Retry-After, never a 4xx that a
        # client would not retry. The detail (file paths) stays in the server log.
        log.warning("event log failure on %s %s: %.300s", request.method, _route(request), exc)
        response = error_response(
            503, "storage_unavailable", "the event log cannot be written now; retry shortly"
        )
        response.headers["Retry-After"] = "1"
        return response
    if isinstance(exc, UnknownIdError):
        status = 422 if request.method in ("POST", "PUT") else 404
        return error_response(status, "not_found" if status == 404 else "unknown_id", str(exc))
    if isinstance(exc, DataError | ConfigError):
        return error_response(400, "bad_request", str(exc))
    return error_response(400, "bad_request", str(exc))


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (404 route, 405 method) in the same shape."""
    assert isinstance(exc, StarletteHTTPException)
    names = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
    message = str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.method} {request.url.path}; see /docs"
    return error_response(exc.status_code, names.get(exc.status_code, "error"), message)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    """Anything else: logged with its traceback, answered without one."""
    log.exception("unhandled error on %s %s", request.method, _route(request))
    return error_response(500, "internal_error", "the server failed to answer; see its log")


def _route(request: Request) -> str:
    """The route template (``/v1/users/{user_id}``): logs never carry a user id."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched route"))


def install(app: FastAPI) -> None:
    """Register every handler on ``app``."""
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(LiverecError, liverec_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
