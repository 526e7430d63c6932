"""One snapshot made servable: the online state, every component loaded, the pipeline on top.

``Runtime.build`` knows no model by name: it loads whatever components the snapshot's
manifest lists (in registry order, so one may read what an earlier one provides, such as the
text vectors) and wires their channels, ranking features, similar-item sources and hooks.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from liverec.core.errors import LiverecError
from liverec.events.store import EventLog
from liverec.features.online import LiveState, OnlineConfig
from liverec.models import kernels
from liverec.models.component import Servable, ServeContext
from liverec.serving.cache import CacheConfig
from liverec.serving.candidates import CandidateFeatures, LearnedRanking
from liverec.serving.clock import ClockSetting
from liverec.serving.pipeline import Pipeline, PipelineConfig
from liverec.serving.similar import SimilarItems
from liverec.serving.snapshot import Snapshot, list_snapshots, load_snapshot

if TYPE_CHECKING:
    from pathlib import Path

    from liverec.features.histories import UserHistory

log = logging.getLogger(__name__)


def freeze_long_lived() -> None:
    """Exempt the loaded model and state from the cyclic garbage collector's full passes.

    They live as long as the runtime; measured here, one full collection walking them paused
    a request for 16 ms (~47k tracked objects), against ~0.5 ms for the request itself.
    Unfreezing first lets a swapped-out runtime's reference cycles be collected once.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class ServiceConfig(BaseModel):
    """Everything the live service needs beyond where its files are."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    online: OnlineConfig = Field(default_factory=OnlineConfig)
    shared_log: bool = Field(
        False, description="other processes append to the log: catch up before every read"
    )
    history_limit: int = Field(20, ge=1, description="events shown by the user profile")
    micro_batch: bool = Field(
        True,
        description="bring concurrent requests' transformer encodings up to date in one "
        "batched forward pass; measured at 32 connections it cut the saturated p99 about "
        "4x and cost ~0.3 ms p50 at half load (docs/benchmarks.md)",
    )
    sequence_int8: bool = Field(True, description="run the transformer's int8 graphs (False: fp32)")
    event_clock: ClockSetting = Field(
        "auto",
        description="the time stamped on events sent without one: 'wall' the machine's clock; "
        "'data' the data's latest event time plus the time since the service opened (so a "
        "historical dataset's trending and recency are not swamped by one event decades "
        "later); 'auto' is 'data' when the latest event is over 30 days old at open, else "
        "'wall'",
    )


@dataclass
class Runtime:
    """One snapshot, the online state derived from it, and the pipeline reading that state."""

    snapshot: Snapshot
    state: LiveState
    servables: dict[str, Servable]
    pipeline: Pipeline
    similar: SimilarItems
    variants: dict[str, Pipeline] = field(default_factory=dict, repr=False)

    @property
    def version(self) -> str:
        """Model version served (the snapshot's)."""
        return self.snapshot.version

    @classmethod
    def build(cls, snapshot: Snapshot, config: ServiceConfig) -> Runtime:
        """Load every component of the snapshot over a fresh online state.

        Raises
        ------
        LiverecError
            If the snapshot has no component that can serve as the fallback.
        """
        kernels.warm_up()
        state = LiveState(snapshot.data, snapshot.last_seq, config.online)
        ctx = ServeContext(
            histories=state.histories,
            stats=state.stats,
            catalog=state.catalog,
            window=config.pipeline.history_window,
            int8=config.sequence_int8,
        )
        servables: dict[str, Servable] = {}
        for name, part in snapshot.components.items():
            servable = part.component.load(part.directory, part.meta, ctx)
            servables[name] = servable
            if servable.vectors is not None:
                ctx.vectors = servable.vectors
            if servable.weighting is not None:
                state.stats.track_pairs(servable.weighting, servable.base_item_weight)
            if servable.on_items is not None:
                state.item_hooks.append(servable.on_items)
        fallbacks = [s.channel for s in servables.values() if s.fallback and s.channel]
        if not fallbacks:
            raise LiverecError(f"snapshot {snapshot.version} has no fallback channel (pop)")
        pipeline = Pipeline(
            state.histories,
            state.catalog,
            [s.channel for s in servables.values() if s.channel and not s.fallback],
            fallbacks[0],
            config.pipeline,
            [f for s in servables.values() for f in s.features],
            ctx.vectors,
        )
        sources = [s.similar for s in servables.values() if s.similar is not None]
        similar = SimilarItems(state.catalog, sources, ctx.vectors)
        runtime = cls(snapshot, state, servables, pipeline, similar)
        rankers = [s.ranker for s in servables.values() if s.ranker is not None]
        if rankers:
            try:
                pipeline.ranking = LearnedRanking(rankers[0], runtime.candidate_features())
            except LiverecError as e:  # the ranker is an improvement, never a requirement
                log.warning("snapshot %s: serving fusion's order: %s", snapshot.version, e)
        return runtime

    def candidate_features(self) -> CandidateFeatures:
        """The candidate-feature builder over this runtime's channels, features and state."""
        p = self.pipeline
        return CandidateFeatures(
            [c.name for c in (*p.channels, p.fallback)],
            p.features,
            self.state.histories,
            self.state.stats,
            self.state.catalog,
        )

    def pipeline_for(self, config: PipelineConfig) -> Pipeline:
        """A pipeline over the same channels, features and state with another config (an
        experiment arm's), built on first use and kept for the runtime's life."""
        if config == self.pipeline.config:
            return self.pipeline
        key = config.model_dump_json()
        found = self.variants.get(key)
        if found is None:
            found = self.pipeline.with_config(config)
            self.variants[key] = found
        return found

    def catch_up(self, log_: EventLog, batch: int = 10_000) -> int:
        """Apply every log entry newer than the state; returns how many were applied."""
        applied = 0
        while True:
            entries = log_.read(self.state.applied_seq, batch)
            if not entries:
                return applied
            self.state.apply(entries)
            applied += len(entries)

    def prepare(self, users: list[tuple[int, UserHistory]]) -> int:
        """Warm per-user model state for several users at once; returns forward calls made."""
        return sum(s.prepare(users) for s in self.servables.values() if s.prepare is not None)

    @property
    def has_prepare(self) -> bool:
        """Whether any component batches per-user work (the transformer does)."""
        return any(s.prepare is not None for s in self.servables.values())


def newest_runtime(
    root: Path, config: ServiceConfig, candidates: Sequence[Path] | None = None
) -> Runtime:
    """A runtime on the newest snapshot under ``root`` that loads; each one that does not
    (corrupt, truncated, from another version) is skipped with a warning naming it.

    Raises
    ------
    LiverecError
        If none loads (or there is none), naming each one tried and why.
    """
    tried: list[str] = []
    for path in reversed(candidates if candidates is not None else list_snapshots(root)):
        try:
            return Runtime.build(load_snapshot(path), config)
        except Exception as e:  # any damage to any file of a snapshot must be survivable
            why = f"{path}: {type(e).__name__}: {str(e)[:200]}"
            log.warning("skipping snapshot that does not load: %s", why)
            tried.append(why)
    if not tried:
        raise LiverecError(f"no snapshot under {root}; run: liverec train")
    raise LiverecError("no snapshot loads: " + "; ".join(tried))
