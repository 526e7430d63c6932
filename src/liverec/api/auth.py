"""API-key authentication, scopes, per-key rate limits and the audit trail, as one ASGI layer.

It is a pure ASGI middleware rather than a FastAPI dependency: a dependency measured ~70 us per
request here (see ``deps.py``), the whole check below a few microseconds (``liverec bench
serve`` reports it). What each route needs follows from its method and path, so a new route
is protected by default: reads need ``read``, writes ``write``, ``DELETE`` and ``/v1/admin/``
need ``admin``; only the page, its static files, health and the API docs are open.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass

import orjson
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from liverec.api.metrics import StatusRecorder
from liverec.core.audit import AuditEntry, AuditLog
from liverec.core.keys import ApiKey, KeyStore
from liverec.core.keys import Scope as KeyScope

OPEN_PATHS = frozenset({"/", "/dashboard", "/healthz", "/readyz", "/openapi.json", "/docs"})
OPEN_PREFIXES = ("/static/", "/docs/")
OPEN_KEY = "open"  # the audit name of requests served without keys (loopback only)


class AuthConfig(BaseModel):
    """Rate limits for keys that do not set their own, and how often the key file is re-read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate_per_s: float = Field(1000.0, gt=0, description="requests per second per key (refill)")
    burst: float = Field(2000.0, ge=1, description="bucket size: requests allowed at once")
    reread_keys_s: float = Field(1.0, ge=0, description="re-check the key file this often")


def required_scope(method: str, path: str) -> KeyScope | None:
    """The scope a request needs (None: open to everyone).

    >>> required_scope("GET", "/v1/users/7/recommendations").name
    'read'
    >>> required_scope("DELETE", "/v1/users/7").name, required_scope("GET", "/healthz")
    ('admin', None)
    """
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return None
    if method == "DELETE" or path.startswith("/v1/admin/"):
        return KeyScope.admin
    if method in ("GET", "HEAD", "OPTIONS"):
        return KeyScope.read
    return KeyScope.write


def path_template(path: str) -> str:
    """``path`` with the user or item id replaced by its name, for logs and the audit trail
    of requests that never reached a route.

    >>> path_template("/v1/users/alice/recommendations"), path_template("/v1/items/7")
    ('/v1/users/{user_id}/recommendations', '/v1/items/{item_id}')
    """
    parts = path.split("/")
    if len(parts) > 3 and parts[1] == "v1" and parts[2] in ("users", "items"):
        parts[3] = "{user_id}" if parts[2] == "users" else "{item_id}"
    return "/".join(parts)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class _Bucket:
    tokens: float
    at: float


class AuthMiddleware:
    """Checks ``Authorization: Bearer KEY``, applies the key's rate limit, audits writes."""

    def __init__(self, app: ASGIApp, keys: KeyStore, audit: AuditLog, config: AuthConfig) -> None:
        self.app = app
        self.keys = keys
        self.audit = audit
        self.config = config
        self._buckets: dict[str, _Bucket] = {}
        self._checked_at = -math.inf

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 401/403/429 itself, or pass the request on (auditing it unless a read)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        need = required_scope(method, scope["path"])
        if need is None:
            await self.app(scope, receive, send)
            return
        key, denial = self._authorize(scope, need)
        name = key.name if key is not None else OPEN_KEY
        if denial is not None:
            if need > KeyScope.read:
                self._audit(name, method, path_template(scope["path"]), denial[0], None)
            await _deny(send, *denial)
            return
        if need == KeyScope.read:
            await self.app(scope, receive, send)
            return
        recorder = StatusRecorder(send)
        try:
            await self.app(scope, receive, recorder)
        finally:
            route = getattr(scope.get("route"), "path", None) or path_template(scope["path"])
            count = scope.get("state", {}).get("audit_count")
            self._audit(name, method, route, recorder.status, count)

    def _authorize(
        self, scope: Scope, need: KeyScope
    ) -> tuple[ApiKey | None, tuple[int, str, str, dict[str, str]] | None]:
        now = time.monotonic()
        if now - self._checked_at >= self.config.reread_keys_s:
            self.keys.refresh()
            self._checked_at = now
        token = _bearer(scope)
        if not self.keys.configured():
            client = scope.get("client")
            if client is None or is_loopback(client[0]):
                return None, None
            return None, (403, "forbidden", "no API keys are configured: loopback only", {})
        if token is None:
            return None, (401, "unauthorized", "send Authorization: Bearer KEY", _challenge())
        key = self.keys.find(token)
        if key is None:
            return None, (401, "unauthorized", "unknown or revoked API key", _challenge())
        if key.scope < need:
            why = f"this route needs the {need.name} scope; key {key.name!r} has {key.scope.name}"
            return key, (403, "forbidden", why, {})
        wait = self._take(key, now)
        if wait > 0:
            retry = {"retry-after": str(math.ceil(wait))}
            return key, (429, "rate_limited", f"key {key.name!r} is over its rate limit", retry)
        return key, None

    def _take(self, key: ApiKey, now: float) -> float:
        """Take one token from the key's bucket; seconds to wait when it is empty."""
        rate = key.rate_per_s or self.config.rate_per_s
        burst = key.burst or max(self.config.burst, rate)
        b = self._buckets.get(key.key_id)
        if b is None:
            b = self._buckets[key.key_id] = _Bucket(burst, now)
        b.tokens = min(burst, b.tokens + (now - b.at) * rate)
        b.at = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return 0.0
        return (1.0 - b.tokens) / rate

    def _audit(self, key: str, method: str, route: str, status: int, count: int | None) -> None:
        self.audit.append(AuditEntry(time.time(), key, method, route, status, count))


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


def _challenge() -> dict[str, str]:
    return {"www-authenticate": 'Bearer realm="liverec"'}


async def _deny(send: Send, status: int, error: str, message: str, headers: dict[str, str]) -> None:
    body = orjson.dumps({"error": error, "message": message, "details": []})
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
