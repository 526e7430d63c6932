"""Per-user result cache that can never serve an answer older than the user's last event.

Every entry records the user's event count and the model version it was computed at; a lookup
with any other count or version misses. Ingestion also drops the user's entries at once so
memory is not held by answers that can no longer be served. Users are evicted least recently
used first once ``max_users`` or ``max_bytes`` is reached; a user keeps at most
``max_variants`` answers (each distinct ``k``/``exclude``/``genres`` is one), so a client
cycling through ``exclude=`` values cannot grow one user's entry without bound.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

V = TypeVar("V")


class CacheConfig(BaseModel):
    """``enabled`` False turns caching off (every request computed); ``max_users`` bounds it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    max_users: int = Field(100_000, ge=1)
    max_bytes: int = Field(
        256 << 20, ge=1 << 16, description="approximate size bound of all cached answers"
    )
    max_variants: int = Field(
        8, ge=1, description="answers kept per user (distinct k, exclude=, genres=)"
    )


@dataclass
class CacheStats:
    """Counters for /metrics."""

    hits: int = 0
    misses: int = 0
    evictions: int = 0
    invalidations: int = 0

    @property
    def hit_ratio(self) -> float:
        """Hits over lookups (0 before the first lookup)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


@dataclass(slots=True)
class _Entry(Generic[V]):
    event_count: int
    version: str
    answers: dict[Hashable, tuple[V, int]]  # params -> (answer, approximate bytes)
    size: int = 0


class ResultCache(Generic[V]):
    """user key -> (event count, model version, {request params -> result}), bounded in
    users, in answers per user and in approximate bytes (least recently used go first)."""

    def __init__(
        self, config: CacheConfig | None = None, size_of: Callable[[V], int] = lambda _: 1024
    ) -> None:
        self.config = config or CacheConfig()
        self.size_of = size_of
        self._data: OrderedDict[str, _Entry[V]] = OrderedDict()
        self._lock = threading.Lock()
        self._bytes = 0
        self.stats = CacheStats()

    @property
    def bytes(self) -> int:
        """Approximate size of every cached answer."""
        return self._bytes

    def get(self, user: str, params: Hashable, event_count: int, version: str) -> V | None:
        """The cached result if it was computed at this exact event count and model version."""
        if not self.config.enabled:
            return None
        with self._lock:
            entry = self._data.get(user)
            if entry is not None and entry.event_count == event_count and entry.version == version:
                hit = entry.answers.get(params)
                if hit is not None:
                    self._data.move_to_end(user)
                    self.stats.hits += 1
                    return hit[0]
            self.stats.misses += 1
            return None

    def put(self, user: str, params: Hashable, event_count: int, version: str, value: V) -> None:
        """Store ``value``; older entries of the user (other count or version) are replaced."""
        if not self.config.enabled:
            return
        size = self.size_of(value)
        with self._lock:
            entry = self._data.get(user)
            if entry is None or entry.event_count != event_count or entry.version != version:
                self._drop(user)
                entry = self._data[user] = _Entry(event_count, version, {})
            old = entry.answers.pop(params, None)
            if old is None and len(entry.answers) >= self.config.max_variants:
                old = entry.answers.pop(next(iter(entry.answers)))  # the oldest variant
            if old is not None:
                entry.size -= old[1]
                self._bytes -= old[1]
            entry.answers[params] = (value, size)
            entry.size += size
            self._bytes += size
            self._data.move_to_end(user)
            while len(self._data) > 1 and (
                len(self._data) > self.config.max_users or self._bytes > self.config.max_bytes
            ):
                self._drop(next(iter(self._data)))
                self.stats.evictions += 1

    def _drop(self, user: str) -> bool:
        entry = self._data.pop(user, None)
        if entry is None:
            return False
        self._bytes -= entry.size
        return True

    def invalidate(self, users: set[str] | list[str]) -> None:
        """Forget these users' results (called when their events are acknowledged)."""
        with self._lock:
            for u in users:
                if self._drop(u):
                    self.stats.invalidations += 1

    def clear(self) -> None:
        """Forget everything (called on a model swap)."""
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._data)
