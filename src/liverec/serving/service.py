"""The live service without HTTP: ingest, recommend, profile, similar items, model hot-swap.

A ``Runtime`` is one snapshot with the online state and pipeline built on it; the service swaps
whole runtimes, so a request always sees one consistent model. Each acknowledged event is in
the durable log before ``ingest`` returns, then applied to the online state and the user's
cached answers are dropped: the next recommendation reflects it (read-your-writes).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from liverec.core.errors import LiverecError, UnknownIdError
from liverec.core.types import EventType
from liverec.data.catalog import Item
from liverec.events.schema import Event, LoggedEvent
from liverec.events.store import EventLog
from liverec.serving.cache import ResultCache
from liverec.serving.runtime import Runtime, ServiceConfig, freeze_long_lived
from liverec.serving.snapshot import latest_snapshot, load_snapshot

log = logging.getLogger(__name__)

__all__ = ["LiveService", "Runtime", "ServiceConfig"]


@dataclass(frozen=True)
class RecommendedItem:
    """One item of an answer: ids, what to show, the score and why."""

    item_id: str
    title: str
    genres: list[str]
    score: float
    reasons: list[str]


@dataclass(frozen=True)
class RecommendationResult:
    """What ``recommend`` returns; the API writes it as JSON."""

    user_id: str
    items: list[RecommendedItem]
    model_version: str
    degraded: list[str]
    cold_start: bool
    cached: bool
    took_ms: float
    stage_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class HistoryEvent:
    """One event of a user's profile."""

    item_id: str
    title: str
    type: str
    ts: float


@dataclass(frozen=True)
class UserProfile:
    """A user's recent events (newest first) and how many they have."""

    user_id: str
    event_count: int
    recent: list[HistoryEvent]


@dataclass(frozen=True)
class SimilarResult:
    """Items like one item."""

    item_id: str
    title: str
    model_version: str
    items: list[RecommendedItem]


@dataclass(frozen=True)
class IngestResult:
    """How many events were durably logged, and their sequence numbers."""

    accepted: int
    first_seq: int
    last_seq: int


class LiveService:
    """Ingest and recommend over a swappable runtime, with a result cache."""

    def __init__(self, runtime: Runtime, log_: EventLog, snapshots: Path, config: ServiceConfig):
        self.config = config
        self.log = log_
        self.snapshots = snapshots
        self._runtime = runtime
        self.cache: ResultCache[RecommendationResult] = ResultCache(config.cache)
        self._write_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self.events_ingested = 0
        self.swaps = 0
        self.answers = 0  # lists computed (not served from the cache)
        self.degraded_answers = 0

    @classmethod
    def open(cls, snapshot_dir: Path, log_: EventLog, config: ServiceConfig) -> LiveService:
        """Load a snapshot and replay the log entries it does not contain."""
        t0 = time.perf_counter()
        runtime = Runtime.build(load_snapshot(snapshot_dir), config)
        replayed = runtime.catch_up(log_)
        log.info(
            "serving snapshot %s; replayed %d log entries in %.2f s",
            runtime.version,
            replayed,
            time.perf_counter() - t0,
        )
        service = cls(runtime, log_, snapshot_dir.parent, config)
        freeze_long_lived()
        return service

    @property
    def runtime(self) -> Runtime:
        """The runtime serving right now."""
        return self._runtime

    @property
    def version(self) -> str:
        """Model version served right now."""
        return self._runtime.version

    def catch_up(self) -> None:
        """Apply entries other processes appended (only needed with a shared log)."""
        if not self.config.shared_log:
            return
        rt = self._runtime
        if self.log.last_seq() > rt.state.applied_seq:
            with self._write_lock:
                rt.catch_up(self.log)

    # --- writes ----------------------------------------------------------------------------
    def ingest(self, events: Sequence[Event]) -> IngestResult:
        """Log ``events`` durably (all or none), then apply them and drop affected caches.

        Raises
        ------
        UnknownIdError
            If an event names an item that is not in the catalog (nothing is logged).
        """
        if not events:
            last = self.log.last_seq()
            return IngestResult(0, last, last)
        with self._write_lock:
            rt = self._runtime
            if self.config.shared_log:
                rt.catch_up(self.log)
            ids = rt.state.catalog.ids
            for pos, e in enumerate(events):
                if e.item_id not in ids:
                    raise UnknownIdError(
                        f"events[{pos}].item_id: unknown item {e.item_id!r}; add it first with "
                        f"PUT /v1/items/{e.item_id}"
                    )
            first, last = self.log.append(events)
            if first == rt.state.applied_seq + 1:
                logged = [LoggedEvent(first + k, e) for k, e in enumerate(events)]
                rt.state.apply(logged)
            else:  # another process wrote in between: replay in log order
                rt.catch_up(self.log)
        self.events_ingested += len(events)
        self.cache.invalidate({e.user_id for e in events})
        return IngestResult(len(events), first, last)

    def upsert_item(self, item: Item) -> int:
        """Log a catalog item (new or changed) and make it recommendable; returns its seq."""
        with self._write_lock:
            rt = self._runtime
            seq = self.log.upsert_item(item)
            rt.catch_up(self.log)
        return seq

    # --- reads -----------------------------------------------------------------------------
    def recommend(
        self,
        user_id: str,
        k: int = 10,
        explain: bool = True,
        exclude: Sequence[str] = (),
        genres: Sequence[str] = (),
        fresh: bool = False,
    ) -> RecommendationResult:
        """Top ``k`` for ``user_id`` (a cold-start list for a user never seen).

        ``fresh`` skips the cache lookup (the answer is still stored), like an HTTP
        ``Cache-Control: no-cache`` request.
        """
        t0 = time.perf_counter()
        self.catch_up()
        rt = self._runtime
        state = rt.state
        uidx = state.users.get(user_id)
        count = state.histories.event_count(uidx) if uidx is not None else 0
        params = (k, explain, tuple(exclude), tuple(g.lower() for g in genres))
        # A catalog change can change any list (filters, new items), so it is part of the key.
        version = f"{rt.version}/{state.catalog.version}"
        cached = None if fresh else self.cache.get(user_id, params, count, version)
        if cached is not None:
            took = round((time.perf_counter() - t0) * 1e3, 3)
            return RecommendationResult(
                cached.user_id,
                cached.items,
                cached.model_version,
                cached.degraded,
                cached.cold_start,
                True,
                took,
                {},
            )
        ids = state.catalog.ids
        excluded = [i for i in (ids.get(x) for x in exclude) if i is not None]
        out = rt.pipeline.recommend(uidx, k, excluded, genres, explain)
        shown = state.catalog.items([r.item for r in out.items])
        items = [
            RecommendedItem(
                it.item_id, it.display_title, list(it.genres), round(r.score, 6), r.reasons
            )
            for r, it in zip(out.items, shown, strict=True)
        ]
        took = round((time.perf_counter() - t0) * 1e3, 3)
        result = RecommendationResult(
            user_id, items, rt.version, out.degraded, out.cold_start, False, took, out.stage_ms
        )
        self.answers += 1
        self.degraded_answers += bool(out.degraded)
        # A degraded answer is not cached: the next request should try the full pipeline.
        if not out.degraded:
            self.cache.put(user_id, params, count, version, result)
        return result

    def prepare(self, user_ids: Sequence[str]) -> int:
        """Update per-user model state (the transformer's) for several users at once;
        returns the forward calls made (0 when no component batches)."""
        self.catch_up()
        rt = self._runtime
        if not rt.has_prepare:
            return 0
        state = rt.state
        window = self.config.pipeline.history_window
        known = [u for u in (state.users.get(x) for x in user_ids) if u is not None]
        return rt.prepare([(u, state.histories.history(u, window)) for u in known])

    def profile(self, user_id: str, limit: int | None = None) -> UserProfile:
        """The user's recent events (newest first) and how many events they have.

        Raises
        ------
        UnknownIdError
            If the user has never been seen.
        """
        self.catch_up()
        state = self._runtime.state
        uidx = state.users.index(user_id)
        h = state.histories.history(uidx, limit or self.config.history_limit)
        items = state.catalog.items(h.items[::-1])
        recent = [
            HistoryEvent(it.item_id, it.display_title, EventType(int(t)).label, float(ts))
            for it, ts, t in zip(items, h.ts[::-1].tolist(), h.types[::-1].tolist(), strict=True)
        ]
        return UserProfile(user_id, h.event_count, recent)

    def similar(self, item_id: str, k: int = 10) -> SimilarResult:
        """Items like ``item_id``: co-occurrence, ALS-vector, text and genre similarity blended.

        Raises
        ------
        UnknownIdError
            If the item is not in the catalog.
        """
        self.catch_up()
        rt = self._runtime
        catalog = rt.state.catalog
        i = catalog.ids.index(item_id)
        found = rt.similar.find(i, k)
        shown = catalog.items([s.item for s in found])
        items = [
            RecommendedItem(
                it.item_id, it.display_title, list(it.genres), round(s.score, 6), s.reasons
            )
            for s, it in zip(found, shown, strict=True)
        ]
        return SimilarResult(item_id, catalog.item(i).display_title, rt.version, items)

    def item(self, item_id: str) -> Item:
        """The catalog entry of ``item_id``."""
        self.catch_up()
        catalog = self._runtime.state.catalog
        return catalog.item(catalog.ids.index(item_id))

    # --- model swap ------------------------------------------------------------------------
    def reload(self, directory: Path | None = None) -> bool:
        """Swap to ``directory`` (default: the newest snapshot) if it is not already served.

        The new runtime is built and caught up with the log while the old one keeps serving;
        only the final catch-up and the reference swap happen under the write lock.
        """
        with self._reload_lock:
            path = directory or latest_snapshot(self.snapshots)
            if path is None:
                raise LiverecError(f"no snapshot under {self.snapshots}; run: liverec train")
            if path.name == self._runtime.version:
                return False
            runtime = Runtime.build(load_snapshot(path), self.config)
            runtime.catch_up(self.log)
            with self._write_lock:
                runtime.catch_up(self.log)
                self._runtime = runtime
            self.cache.clear()
            self.swaps += 1
            log.info("swapped to snapshot %s", runtime.version)
            freeze_long_lived()
            return True
