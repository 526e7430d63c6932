"""What the API-key check costs per request, measured in process (an HTTP load test cannot
resolve microseconds): the auth middleware around an app that does nothing, against that app
alone, for a request with a valid key, with the same scope and headers a client would send."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from liverec.api.auth import AuthConfig, AuthMiddleware
from liverec.core.audit import AuditLog
from liverec.core.keys import KeyStore, Scope


async def _noop(scope: Any, receive: Any, send: Any) -> None:
    return None


async def _per_call_us(app: Any, scope: dict[str, Any], calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        await app(scope, None, None)
    return (time.perf_counter() - t0) / calls * 1e6


def auth_overhead_us(calls: int = 20_000, rounds: int = 7) -> dict[str, float]:
    """Median over ``rounds`` of the per-request cost of the check (µs), and its spread."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        _, key = KeyStore(home).create(Scope.read, "bench", rate_per_s=1e12, burst=1e12)
        auth = AuthMiddleware(_noop, KeyStore(home), AuditLog(home), AuthConfig())
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/v1/users/196/recommendations",
            "client": ("127.0.0.1", 50000),
            "headers": [
                (b"host", b"127.0.0.1:8000"),
                (b"user-agent", b"wrk"),
                (b"authorization", f"Bearer {key}".encode()),
            ],
        }
        diffs = []
        for _ in range(rounds):
            with_auth = asyncio.run(_per_call_us(auth, scope, calls))
            bare = asyncio.run(_per_call_us(_noop, scope, calls))
            diffs.append(with_auth - bare)
    return {
        "median_us": round(statistics.median(diffs), 2),
        "min_us": round(min(diffs), 2),
        "max_us": round(max(diffs), 2),
    }
