"""Per-user result cache that can never serve an answer older than the user's last event.

Every entry records the user's event count and the model version it was computed at; a lookup
with any other count or version misses. Ingestion also drops the user's entries at once so
memory is not held by answers that can no longer be served. Users are evicted least recently
used first once ``max_users`` is reached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

V = TypeVar("V")


class CacheConfig(BaseModel):
    """``enabled`` False turns caching off (every request computed); ``max_users`` bounds it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    max_users: int = Field(100_000, ge=1)


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


class ResultCache(Generic[V]):
    """user key -> (event count, model version, {request params -> result})."""

    def __init__(self, config: CacheConfig | None = None) -> None:
        self.config = config or CacheConfig()
        self._data: OrderedDict[str, tuple[int, str, dict[Hashable, V]]] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def get(self, user: str, params: Hashable, event_count: int, version: str) -> V | None:
        """The cached result if it was computed at this exact event count and model version."""
        if not self.config.enabled:
            return None
        with self._lock:
            entry = self._data.get(user)
            if entry is not None and entry[0] == event_count and entry[1] == version:
                value = entry[2].get(params)
                if value is not None:
                    self._data.move_to_end(user)
                    self.stats.hits += 1
                    return value
            self.stats.misses += 1
            return None

    def put(self, user: str, params: Hashable, event_count: int, version: str, value: V) -> None:
        """Store ``value``; older entries of the user (other count or version) are replaced."""
        if not self.config.enabled:
            return
        with self._lock:
            entry = self._data.get(user)
            if entry is None or entry[0] != event_count or entry[1] != version:
                entry = (event_count, version, {})
                self._data[user] = entry
            entry[2][params] = value
            self._data.move_to_end(user)
            while len(self._data) > self.config.max_users:
                self._data.popitem(last=False)
                self.stats.evictions += 1

    def invalidate(self, users: set[str] | list[str]) -> None:
        """Forget these users' results (called when their events are acknowledged)."""
        with self._lock:
            for u in users:
                if self._data.pop(u, None) is not None:
                    self.stats.invalidations += 1

    def clear(self) -> None:
        """Forget everything (called on a model swap)."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
