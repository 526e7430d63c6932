"""Request-shape limits applied before any route runs: JSON-only writes and bounded bodies.

A write must say ``Content-Type: application/json`` (415 otherwise), and no body may exceed
``max_body_bytes`` (413), whether it announces its length or streams it in chunks: the body is
counted as it arrives, so an endless upload costs at most the limit in memory.
"""

from __future__ import annotations

import orjson
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})


class LimitsConfig(BaseModel):
    """Documented bounds on what one request may send."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_body_bytes: int = Field(
        4 << 20, ge=1024, description="largest request body (a full 10,000-event batch fits)"
    )


class BodyTooLarge(HTTPException):
    """Raised inside ``receive`` when a streamed body passes the limit; an HTTP error, so the
    route's body parsing passes it on and the app answers 413 in the usual error shape."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body is larger than {limit} bytes")


class LimitsMiddleware:
    """415 for non-JSON writes, 413 for bodies over the limit."""

    def __init__(self, app: ASGIApp, config: LimitsConfig) -> None:
        self.app = app
        self.limit = config.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the headers, then count the body as the route reads it."""
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        length = headers.get(b"content-length")
        has_body = length not in (None, b"0") or b"transfer-encoding" in headers
        if kind != b"application/json" and has_body:
            shown = kind.decode("latin-1")[:60] or "none"
            await _reject(send, 415, f"send Content-Type: application/json (got {shown})")
            return
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await _reject(send, 413, f"the body is larger than {self.limit} bytes")
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counting_receive, send)


async def _reject(send: Send, status: int, message: str) -> None:
    error = {413: "body_too_large", 415: "unsupported_media_type"}[status]
    body = orjson.dumps({"error": error, "message": message, "details": []})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
