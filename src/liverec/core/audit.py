"""The audit trail: one JSON line per write or admin action, in ``$LIVEREC_HOME/audit.jsonl``.

A line holds the time, the key's name (or ``open`` without keys), the method and route
template, the status, a count (events accepted, events erased) and the outcome. It never holds
a user id, raw or pseudonymised: the route template (``/v1/users/{user_id}``) is logged, not the
path. Lines are appended with one ``write`` on a file opened with ``O_APPEND``, so several
workers can share the file without interleaving lines.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from liverec.core.paths import Paths


@dataclass(frozen=True)
class AuditEntry:
    """One audited action."""

    time: float
    key: str
    method: str
    route: str
    status: int
    count: int | None = None

    @property
    def outcome(self) -> str:
        """``ok``, ``denied`` (401/403/429), ``rejected`` (other 4xx) or ``failed`` (5xx)."""
        if self.status < 400:
            return "ok"
        if self.status in (401, 403, 429):
            return "denied"
        return "rejected" if self.status < 500 else "failed"


class AuditLog:
    """Append-only audit lines of one home."""

    def __init__(self, home: Path) -> None:
        self.path = Paths(home).audit
        self._fd: int | None = None

    def append(self, entry: AuditEntry) -> None:
        """Write one line (no fsync: the audit trail must not halve ingest throughput)."""
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        line = json.dumps({**asdict(entry), "outcome": entry.outcome}, separators=(",", ":"))
        os.write(self._fd, (line + "\n").encode())

    def read(self, since: float = 0.0) -> Iterator[AuditEntry]:
        """Entries at or after ``since`` (unix seconds), oldest first."""
        try:
            f = self.path.open()
        except FileNotFoundError:
            return
        with f:
            for line in f:
                doc = json.loads(line)
                doc.pop("outcome", None)
                if doc["time"] >= since:
                    yield AuditEntry(**doc)

    def close(self) -> None:
        """Close the file (appends reopen it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def parse_since(text: str, now: float | None = None) -> float:
    """``--since`` as unix seconds: ``30m``, ``2h``, ``7d`` ago, or an ISO date/time.

    >>> parse_since("2h", now=10_000.0)
    2800.0
    >>> parse_since("1970-01-02T00:00:00+00:00")
    86400.0
    """
    from datetime import datetime

    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[:-1].isdigit() and text[-1:] in units:
        return (time.time() if now is None else now) - int(text[:-1]) * units[text[-1]]
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ValueError(
            f"--since: expected e.g. 30m, 2h, 7d or an ISO time, got {text[:40]!r}"
        ) from None
