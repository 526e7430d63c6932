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
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from liverec.core.errors import LiverecError, UnknownIdError
from liverec.core.privacy import Pseudonyms
from liverec.core.types import EventType
from liverec.data.catalog import Item
from liverec.events.exposures import ExposureLog, MemoryExposureLog
from liverec.events.schema import Event, LoggedEvent
from liverec.events.store import EventLog, EventLogError, open_event_log
from liverec.serving.cache import ResultCache
from liverec.serving.clock import EventClock
from liverec.serving.erasure import erase_user
from liverec.serving.experiments import Experiments, ExperimentStore
from liverec.serving.exposure import ExperimentExposure
from liverec.serving.loghead import CAUGHT_UP, LogHead
from liverec.serving.results import (
    HistoryEvent,
    IngestResult,
    Recommendation,
    RecommendationResult,
    SimilarResult,
    UserErasure,
    UserProfile,
    shown_items,
)
from liverec.serving.runtime import Runtime, ServiceConfig, freeze_long_lived, newest_runtime
from liverec.serving.snapshot import MANIFEST, Snapshot, list_snapshots, load_snapshot
from liverec.serving.telemetry import Telemetry

log = logging.getLogger(__name__)

__all__ = ["LiveService", "Runtime", "ServiceConfig"]


def answer_bytes(result: RecommendationResult) -> int:
    """Approximate memory of a cached answer. Calibrated with tracemalloc
    (docs/scripts/cache_size.py): 5.5 KB for k=10
    and 51 KB for k=100 with two reasons per item, i.e. ~460 bytes per answer plus ~300 per
    item, plus its strings (genre names are shared with the catalog)."""
    size = 460
    for it in result.items:
        size += 300 + len(it.item_id) + len(it.title) + 8 * len(it.genres)
        size += sum(len(r) + 50 for r in it.reasons)
    return size


class LiveService:
    """Ingest and recommend over a swappable runtime, with a result cache.

    Callers use raw user ids; the service turns each into its pseudonym on the way in
    (``pseudonyms``), so the log, the state, the cache and the snapshots never hold a raw id.
    Answers carry the caller's id back.
    """

    def __init__(
        self,
        runtime: Runtime,
        log_: EventLog,
        snapshots: Path,
        config: ServiceConfig,
        pseudonyms: Pseudonyms,
        exposures: ExposureLog | None = None,
        experiments: ExperimentStore | None = None,
        event_clock: EventClock | None = None,
    ) -> None:
        self.config = config
        self.pseudonyms = pseudonyms
        self.log = log_
        self.experiments = Experiments(experiments or ExperimentStore(), config.pipeline)
        # From the runtime as given: ``open`` has replayed the log into it, so the data's
        # latest event includes the log's.
        self.event_clock = event_clock or EventClock(config.event_clock, runtime.state.latest_ts)
        self.exposure = ExperimentExposure(exposures or MemoryExposureLog(), self.event_clock.now)
        self.snapshots = snapshots
        self._runtime = runtime
        self.cache: ResultCache[RecommendationResult] = ResultCache(config.cache, answer_bytes)
        self._write_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._unloadable: set[str] = set()  # snapshot versions that failed to load
        self._head = LogHead(log_)
        self.telemetry = Telemetry()  # the last minutes, for the operator dashboard
        self.started_at = time.time()
        self.events_ingested = 0
        self.swaps = 0
        self.answers = 0  # lists computed (not served from the cache)
        self.degraded_answers = 0
        self.storage_failure: str | None = None  # the last append's error, until one succeeds

    @classmethod
    def open(
        cls,
        source: Path | Snapshot,
        log_: EventLog | None = None,
        config: ServiceConfig | None = None,
        pseudonyms: Pseudonyms | None = None,
        exposures: ExposureLog | None = None,
        experiments: ExperimentStore | None = None,
        event_clock: EventClock | None = None,
    ) -> LiveService:
        """Serve ``source`` and replay the log entries it does not contain: the one place a
        service is put together.

        ``source`` is a folder of snapshots (the newest one that loads is served), one snapshot
        folder, or a loaded ``Snapshot``. The defaults suit offline use: an in-memory log, the
        default config, and user ids taken as they are (a dataset's ids already are pseudonyms),
        exposures and experiment definitions in memory, and the event clock
        ``config.event_clock`` asks for, started now.

        Raises
        ------
        LiverecError
            If no snapshot can be loaded; the message names each one and why.
        """
        t0 = time.perf_counter()
        log_ = log_ if log_ is not None else open_event_log("memory://")
        config = config if config is not None else ServiceConfig()
        pseudonyms = pseudonyms if pseudonyms is not None else Pseudonyms.passthrough()
        if isinstance(source, Snapshot):
            runtime, root = Runtime.build(source, config), source.directory.parent
        elif (source / MANIFEST).exists():
            runtime, root = Runtime.build(load_snapshot(source), config), source.parent
        else:
            runtime, root = newest_runtime(source, config), source
        replayed = runtime.catch_up(log_)
        log.info(
            "serving snapshot %s; replayed %d log entries in %.2f s",
            runtime.version,
            replayed,
            time.perf_counter() - t0,
        )
        return cls(runtime, log_, root, config, pseudonyms, exposures, experiments, event_clock)

    @property
    def exposures(self) -> ExposureLog:
        """Where experiment answers are logged (``ExperimentExposure``)."""
        return self.exposure.log

    @property
    def clock(self) -> Callable[[], float]:
        """The time stamped on exposures: the events' clock unless a replay sets its own."""
        return self.exposure.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self.exposure.clock = clock

    @property
    def exposure_failures(self) -> int:
        """Exposures lost to a failing exposure log (their answers were still served)."""
        return self.exposure.failures

    @property
    def runtime(self) -> Runtime:
        """The runtime serving right now."""
        return self._runtime

    @property
    def version(self) -> str:
        """Model version served right now."""
        return self._runtime.version

    @property
    def applied_seq(self) -> int:
        """The last log entry applied to the online state."""
        return self._runtime.state.applied_seq

    @property
    def batches_users(self) -> bool:
        """Whether a component (the transformer) updates several users per call
        (``prepare``), so callers gain by batching concurrent requests."""
        return self._runtime.has_prepare

    def now(self) -> float:
        """The time stamped on events that come without one (``ServiceConfig.event_clock``)."""
        return self.event_clock.now()

    def has_item(self, item_id: str) -> bool:
        """Whether ``item_id`` is in the catalog served now."""
        return item_id in self._runtime.state.catalog.ids

    def catch_up(self) -> None:
        """Apply entries other processes appended (only needed with a shared log)."""
        if not self.config.shared_log or CAUGHT_UP.get():
            return
        rt = self._runtime
        if self.log.last_seq() > rt.state.applied_seq:
            with self._write_lock:
                rt.catch_up(self.log)

    async def catch_up_async(self) -> None:
        """``catch_up`` for a request on the event loop: the log's head is awaited (and
        shared with concurrent requests, see ``LogHead``) rather than blocking the loop;
        the read that follows in the same request does not ask again."""
        if not self.config.shared_log:
            return
        if await self._head.read() > self._runtime.state.applied_seq:
            with self._write_lock:
                self._runtime.catch_up(self.log)
        CAUGHT_UP.set(True)

    def ingest(self, events: Sequence[Event]) -> IngestResult:
        """Log ``events`` durably (all or none), then apply them and drop affected caches.

        An event without a time is stamped ``now()``; a given time is kept as it is.

        Raises
        ------
        UnknownIdError
            If an event names an item that is not in the catalog (nothing is logged).
        """
        if not events:
            last = self.log.last_seq()
            return IngestResult(0, last, last)
        of = self.pseudonyms.of
        events = [replace(e, user_id=of(e.user_id)) for e in events]
        with self._write_lock:
            rt = self._runtime
            if self.config.shared_log:
                rt.catch_up(self.log)
            # Stamped under the lock: log order is then time order for the clock's events.
            now = self.now()
            events = [e.at(now) for e in events]
            ids = rt.state.catalog.ids
            for pos, e in enumerate(events):
                if e.item_id not in ids:
                    raise UnknownIdError(
                        f"events[{pos}].item_id: unknown item {e.item_id!r}; add it first with "
                        f"PUT /v1/items/{e.item_id}"
                    )
            try:
                first, last = self.log.append(events)
            except EventLogError as e:
                self.storage_failure = str(e)
                raise
            self.storage_failure = None
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
        ``Cache-Control: no-cache`` request. Under an experiment the user's arm answers (or
        both, interleaved) and the answer is logged as an exposure."""
        t0 = time.perf_counter()
        self.catch_up()
        rt = self._runtime
        state = rt.state
        pseudonym = self.pseudonyms.of(user_id)
        experiment = self.experiments.current()
        if experiment is not None and experiment.config.mode == "interleave":
            merged = self.exposure.interleaved(
                experiment, rt, user_id, pseudonym, k, explain, self._excluded(exclude), genres
            )
            self._count_computed(merged.degraded, merged.stage_ms)
            return merged
        arm = experiment.assign(pseudonym) if experiment is not None else ""
        uidx = state.users.get(pseudonym)
        count = state.histories.event_count(uidx) if uidx is not None else 0
        params = (k, explain, tuple(exclude), tuple(g.lower() for g in genres), arm)
        # A catalog change can change any list (filters, new items), so it is part of the key.
        version = f"{rt.version}/{state.catalog.version}"
        cached = None if fresh else self.cache.get(pseudonym, params, count, version)
        if cached is not None:
            answer, stage_ms = cached, {}
            self.telemetry.answer(cached=True, degraded=False)
        else:
            pipeline = (
                rt.pipeline if experiment is None else rt.pipeline_for(experiment.pipelines[arm])
            )
            out = pipeline.recommend(uidx, k, self._excluded(exclude), genres, explain)
            items = shown_items(state.catalog, out.items)
            answer = RecommendationResult(
                "", items, rt.version, out.degraded, out.cold_start, False, 0.0
            )
            stage_ms = out.stage_ms
            self._count_computed(out.degraded, out.stage_ms)
            # A degraded answer is not cached: the next request should try the full pipeline.
            if not out.degraded:  # cached under the pseudonym, without the caller's id
                self.cache.put(pseudonym, params, count, version, answer)
        request_id = self.exposure.request_id()
        if experiment is not None:
            self.exposure.record(request_id, experiment.name, arm, pseudonym, answer.items)
        return RecommendationResult(
            user_id,
            answer.items,
            answer.model_version,
            answer.degraded,
            answer.cold_start,
            cached is not None,
            round((time.perf_counter() - t0) * 1e3, 3),
            stage_ms,
            request_id,
            experiment.name if experiment is not None else None,
            arm or None,
        )

    def _excluded(self, exclude: Sequence[str]) -> list[int]:
        ids = self._runtime.state.catalog.ids
        return [i for i in (ids.get(x) for x in exclude) if i is not None]

    def _count_computed(self, degraded: Sequence[str], stage_ms: dict[str, float]) -> None:
        """Count an answer computed (not served from the cache) for metrics and the dashboard."""
        self.answers += 1
        self.degraded_answers += bool(degraded)
        self.telemetry.answer(cached=False, degraded=bool(degraded))
        self.telemetry.stages(stage_ms)

    def prepare(self, user_ids: Sequence[str]) -> int:
        """Update per-user model state (the transformer's) for several users at once;
        returns the forward calls made (0 when no component batches)."""
        self.catch_up()
        rt = self._runtime
        if not rt.has_prepare:
            return 0
        state = rt.state
        window = self.config.pipeline.history_window
        pseudonyms = self.pseudonyms.many(user_ids)
        known = [u for u in (state.users.get(x) for x in pseudonyms) if u is not None]
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
        uidx = state.users.get(self.pseudonyms.of(user_id))
        if uidx is None:
            raise UnknownIdError(f"unknown user id {user_id!r}")
        h = state.histories.history(uidx, limit or self.config.history_limit)
        items = state.catalog.items(h.items[::-1])
        recent = [
            HistoryEvent(it.item_id, it.display_title, EventType(int(t)).label, float(ts))
            for it, ts, t in zip(items, h.ts[::-1].tolist(), h.types[::-1].tolist(), strict=True)
        ]
        return UserProfile(user_id, h.event_count, recent)

    def readiness_problem(self) -> str | None:
        """Why this service cannot take writes now (None when it can): the last append
        failed, or the log cannot be read."""
        if self.storage_failure is not None:
            return self.storage_failure
        try:
            self.log.last_seq()
        except EventLogError as e:
            return str(e)
        return None

    def user_index(self, user_id: str) -> int | None:
        """The internal index of a raw user id (None for a user never seen)."""
        self.catch_up()
        return self._runtime.state.users.get(self.pseudonyms.of(user_id))

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
            Recommendation(
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

    def erase_user(
        self, user_id: str, home: Path, dataset: str, models_dir: Path | None = None
    ) -> UserErasure:
        """Erase the user everywhere (see ``liverec.serving.erasure``) and serve the result.

        Raises
        ------
        UnknownIdError
            If the user is in neither the log, the dataset nor any snapshot.
        """
        pseudonym = self.pseudonyms.of(user_id)
        report = erase_user(
            pseudonym,
            home=home,
            dataset=dataset,
            log=self.log,
            exposures=self.exposure.log,
            snapshots=self.snapshots,
            models_dir=models_dir,
            progress=log.info,
        )
        self.cache.invalidate({pseudonym})
        if report.snapshot is not None and report.snapshot != self.version:
            self.reload(self.snapshots / report.snapshot)
        if not report.found:
            raise UnknownIdError(f"unknown user id {user_id!r}")
        return UserErasure(
            user_id,
            report.log_events,
            report.dataset_events,
            report.snapshots_retrained,
            report.snapshots_deleted,
            report.snapshot,
        )

    def reload(self, directory: Path | None = None) -> bool:
        """Swap to ``directory`` (default: the newest snapshot) if it is not already served.

        The new runtime is built and caught up with the log while the old one keeps serving;
        only the final catch-up and the reference swap happen under the write lock.
        """
        with self._reload_lock:
            if directory is not None:
                if directory.name == self._runtime.version:
                    return False
                runtime = Runtime.build(load_snapshot(directory), self.config)
            else:
                newer = [p for p in list_snapshots(self.snapshots) if p.name > self.version]
                newer = [p for p in newer if p.name not in self._unloadable]
                if not newer:
                    return False
                try:
                    runtime = newest_runtime(self.snapshots, self.config, newer)
                except LiverecError:
                    self._unloadable.update(p.name for p in newer)  # said once, not every poll
                    raise
            runtime.catch_up(self.log)
            with self._write_lock:
                runtime.catch_up(self.log)
                self._runtime = runtime
            self.cache.clear()
            self.swaps += 1
            log.info("swapped to snapshot %s", runtime.version)
            freeze_long_lived()
            return True
