"""The recommendation pipeline: retrieve from every channel -> fuse -> re-rank -> explain.

Every stage runs under a time budget, enforced the way a circuit breaker does it: a stage that
raises is skipped for that request; a stage that overruns its budget still delivers what it has
already computed (dropping it would cost accuracy and save no time), but after
``breaker_threshold`` failures or overruns in a row it is not started at all for
``breaker_cooldown_s``, so one slow part cannot keep slowing every request. Stages are also not
started once the request's own budget is used up. Python cannot safely interrupt numpy work in
flight, so this bounds latency from the next request on. Popularity is the last resort and
always answers; the result lists every stage that was skipped and why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator

from liverec.core.errors import ConfigError
from liverec.features.catalog_store import CatalogView
from liverec.features.content import ItemVectors
from liverec.features.fingerprint import hamming
from liverec.features.histories import UserHistoryView
from liverec.features.request import (
    EMPTY_ITEMS,
    Channel,
    Context,
    RankingFeature,
    Retrieved,
)
from liverec.models.registry import COMPONENTS, channel_names
from liverec.serving.candidates import CandidateSet, LearnedRanking
from liverec.serving.rerank import GENERIC_REASONS, Fused, IntArray, explain, fuse, mmr

log = logging.getLogger(__name__)
T = TypeVar("T")
STAGES = ("ranker", "rank", "rerank")


def _check_names(kind: str, names: Sequence[str], known: Sequence[str]) -> None:
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown {kind} {', '.join(map(repr, unknown))}; expected some of {', '.join(known)}"
        )


class PipelineConfig(BaseModel):
    """Candidate counts, fusion weights, MMR trade-off and time budgets of the pipeline.

    Channel, feature and stage names are checked against the component registry when the
    config is made: a misspelt name is an error, never a silent weight of 0.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    candidates: int = Field(100, ge=1, description="candidates taken from each channel")
    history_window: int = Field(50, ge=1, description="recent events the channels look at")
    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "itemcf": 1.0,
            "sasrec": 1.0,
            "als": 0.5,
            "content": 0.3,
            "trending": 0.1,
            "new": 0.2,
            "pop": 0.02,
        },
        description="reciprocal-rank fusion weight per channel",
    )
    fusion_k: float = Field(10.0, gt=0, description="rank offset of reciprocal-rank fusion")
    mmr_lambda: float = Field(
        0.75, ge=0, le=1, description="1 = relevance only, 0 = diversity only"
    )
    mmr_pool: int = Field(50, ge=1, description="fused candidates MMR chooses from")
    learned_ranker: bool = Field(
        True,
        description="order the fused candidates by the snapshot's learned ranker when it has "
        "one (fusion's order when it has none, fails or is over its breaker)",
    )
    ranker_candidates: int = Field(
        300, ge=1, description="fused candidates the learned ranker scores"
    )
    feature_weights: dict[str, float] = Field(
        default_factory=lambda: {"text": 0.02, "sasrec": 0.0},
        description="weight of each ranking feature added to the fused score over the pool "
        "(sasrec: the transformer's standardised score; on the validation replay 0.02 / 0.05 / "
        "0.2 cost 2.6% / 8% / 16% NDCG@10, so it ranks through fusion only)",
    )
    stage_budget_ms: dict[str, float] = Field(
        default_factory=lambda: {
            "itemcf": 20.0,
            "sasrec": 20.0,
            "als": 20.0,
            "content": 20.0,
            "trending": 10.0,
            "new": 10.0,
            "ranker": 5.0,
            "rank": 10.0,
            "rerank": 20.0,
        },
        description="time budget per stage; a stage over budget counts towards its breaker",
    )
    request_budget_ms: float = Field(80.0, gt=0, description="stages starting later are skipped")
    fresh_slots: int = Field(
        1, ge=0, description="list places kept for items added since the snapshot (exploration)"
    )
    dedupe_max_bits: int = Field(
        3,
        ge=-1,
        le=63,
        description="SimHash bits two items may differ in and still be "
        "near-duplicates kept out of one list (-1 turns this off)",
    )
    disabled: tuple[str, ...] = Field(
        (), description="retrieval channels not to run at all, e.g. content"
    )
    breaker_threshold: int = Field(3, ge=1, description="failures/overruns in a row that open it")
    breaker_cooldown_s: float = Field(2.0, ge=0, description="how long an open breaker skips")

    def without_budgets(self) -> PipelineConfig:
        """This config with no time budget: for offline runs whose accuracy must not
        depend on the machine's load."""
        return self.model_copy(update={"stage_budget_ms": {}, "request_budget_ms": 1e9})

    @field_validator("weights", "disabled")
    @classmethod
    def _channels(cls, value: Any) -> Any:
        _check_names("channel", list(value), channel_names())
        return value

    @field_validator("feature_weights")
    @classmethod
    def _features(cls, value: dict[str, float]) -> dict[str, float]:
        _check_names("ranking feature", list(value), list(COMPONENTS))
        return value

    @field_validator("stage_budget_ms")
    @classmethod
    def _stages(cls, value: dict[str, float]) -> dict[str, float]:
        _check_names("stage", list(value), [*channel_names(), *STAGES])
        return value


@dataclass(frozen=True)
class Recommended:
    """One recommended item (internal index), its fused score and reasons."""

    item: int
    score: float
    reasons: list[str]
    explore: bool = False  # in the exploration slot: a new item shown to learn about it


@dataclass
class PipelineResult:
    """Ranked items plus what went wrong on the way and where the time went."""

    items: list[Recommended]
    degraded: list[str] = field(default_factory=list)
    cold_start: bool = False
    stage_ms: dict[str, float] = field(default_factory=dict)


class StageGuard:
    """Runs stages under budgets with a per-stage circuit breaker."""

    def __init__(
        self,
        budgets_ms: dict[str, float],
        threshold: int,
        cooldown_s: float,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.budgets_ms = budgets_ms
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.clock = clock  # seconds; tests pass a manual clock to drive budgets and cooldowns
        self._open_until: dict[str, float] = {}
        self._strikes: dict[str, int] = {}
        self.overruns: dict[str, int] = {}
        self.failures: dict[str, int] = {}

    def _strike(self, name: str) -> None:
        strikes = self._strikes.get(name, 0) + 1
        self._strikes[name] = strikes
        if strikes >= self.threshold:
            self._open_until[name] = self.clock() + self.cooldown_s
            self._strikes[name] = 0
            log.warning("stage %s: breaker open for %.1f s", name, self.cooldown_s)

    def run(
        self, name: str, fn: Callable[[], T], deadline: float, result: PipelineResult
    ) -> T | None:
        """``fn()``, or None (with the reason added to ``result.degraded``) if it was skipped."""
        now = self.clock()
        if now < self._open_until.get(name, 0.0):
            result.degraded.append(
                f"{name}: skipped, {self.threshold} failures or overruns in a row"
            )
            return None
        if now > deadline:
            result.degraded.append(f"{name}: skipped, request time budget used up")
            return None
        try:
            out = fn()
        except Exception as e:  # a failing stage must never fail the request
            log.exception("stage %s failed", name)
            self.failures[name] = self.failures.get(name, 0) + 1
            self._strike(name)
            result.degraded.append(f"{name}: failed ({type(e).__name__})")
            return None
        took = (self.clock() - now) * 1e3
        result.stage_ms[name] = round(took, 3)
        budget = self.budgets_ms.get(name)
        if budget is not None and took > budget:
            self.overruns[name] = self.overruns.get(name, 0) + 1
            self._strike(name)
        else:
            self._strikes[name] = 0
        return out


class Pipeline:
    """Channels -> fusion -> ranking features -> MMR -> explanations, over candidates only."""

    def __init__(
        self,
        histories: UserHistoryView,
        catalog: CatalogView,
        channels: Sequence[Channel],
        fallback: Channel,
        config: PipelineConfig | None = None,
        features: Sequence[RankingFeature] = (),
        vectors: ItemVectors | None = None,
        ranking: LearnedRanking | None = None,
    ) -> None:
        self.histories = histories
        self.catalog = catalog
        self.channels = list(channels)
        self.fallback = fallback
        self.features = list(features)
        self.vectors = vectors
        self.ranking = ranking
        self.config = config or PipelineConfig()
        cfg = self.config
        self.guard = StageGuard(cfg.stage_budget_ms, cfg.breaker_threshold, cfg.breaker_cooldown_s)

    def context(
        self, uidx: int | None, exclude: Sequence[int] = (), genres: Sequence[str] = ()
    ) -> Context:
        """Everything the stages need to know about this request."""
        excluded = np.unique(np.asarray(exclude, np.int64)) if len(exclude) else EMPTY_ITEMS
        if uidx is None:
            return Context(None, blocked=excluded, genres=tuple(genres), catalog=self.catalog)
        seen = self.histories.seen(uidx)
        return Context(
            uidx=uidx,
            history=self.histories.history(uidx, self.config.history_window),
            seen=seen,
            blocked=np.union1d(seen, excluded) if len(excluded) else seen,
            genres=tuple(genres),
            live=self.histories.has_live_events(uidx),
            catalog=self.catalog,
        )

    def with_config(self, config: PipelineConfig) -> Pipeline:
        """A pipeline over the same channels, features, ranker and state with ``config``."""
        return Pipeline(
            self.histories,
            self.catalog,
            self.channels,
            self.fallback,
            config,
            self.features,
            self.vectors,
            self.ranking,
        )

    def candidates(
        self,
        ctx: Context,
        k: int,
        result: PipelineResult,
        deadline: float,
    ) -> CandidateSet:
        """Every channel's candidates (the fallback's always) and their fusion."""
        cfg = self.config
        retrieved: dict[str, Retrieved] = {}
        for ch in self.channels:
            if ch.name in cfg.disabled:
                continue
            got = self.guard.run(
                ch.name, partial(ch.retrieve, ctx, cfg.candidates), deadline, result
            )
            if got is not None:
                retrieved[ch.name] = got
        # The fallback is never skipped: it is what a degraded answer degrades to.
        retrieved[self.fallback.name] = self.fallback.retrieve(ctx, max(k, cfg.candidates))
        if result.cold_start:
            # With no history every new item fits a visitor alike: they take the exploration
            # slot only, rather than outranking the popular items by fusion.
            fusing = {name: got for name, got in retrieved.items() if name != "new"}
        else:
            fusing = retrieved
        return CandidateSet(ctx, fuse(fusing, cfg.weights, cfg.fusion_k), retrieved)

    def recommend(
        self,
        uidx: int | None,
        k: int = 10,
        exclude: Sequence[int] = (),
        genres: Sequence[str] = (),
        with_reasons: bool = True,
    ) -> PipelineResult:
        """Top ``k`` items for a known user (``uidx``) or an unknown one (None)."""
        cfg = self.config
        start = self.guard.clock()
        deadline = start + cfg.request_budget_ms / 1e3
        ctx = self.context(uidx, exclude, genres)
        result = PipelineResult(items=[], cold_start=not len(ctx.history.items))
        cs = self.candidates(ctx, k, result, deadline)
        retrieved, fresh = cs.retrieved, cs.retrieved.get("new")
        fused = self._learned_order(cs, result, deadline)
        pool = min(len(fused.items), max(cfg.mmr_pool, k))
        if fused is cs.fused:
            scores = self._rank_scores(ctx, fused, pool, result, deadline)
        else:  # the ranker already weighed every ranking feature
            scores = fused.scores[:pool].copy()
        positions = self.guard.run(
            "rerank", partial(self._rerank, fused.items[:pool], scores, k), deadline, result
        )
        if positions is None:
            positions = np.argsort(-scores, kind="stable")[: min(k, pool)].astype(np.int64)
        explore = self._exploration(fused, positions, fresh, k)
        positions = positions[: max(0, min(len(positions), k - len(explore)))]
        reasons = explain(fused, positions, retrieved) if with_reasons else None
        result.items = [
            Recommended(
                int(fused.items[p]),
                float(scores[p] if p < pool else fused.scores[p]),
                reasons[r] if reasons else [],
            )
            for r, p in enumerate(positions.tolist())
        ]
        floor = result.items[-1].score if result.items else 0.0
        result.items += [replace(e, score=floor) for e in explore]
        result.stage_ms["total"] = round((self.guard.clock() - start) * 1e3, 3)
        return result

    def _learned_order(self, cs: CandidateSet, result: PipelineResult, deadline: float) -> Fused:
        """The first ``ranker_candidates`` fused candidates in the learned ranker's order, or
        the fused order unchanged (no ranker, a cold visitor, or the ranker skipped/failed)."""
        if self.ranking is None or not self.config.learned_ranker:
            return cs.fused
        if result.cold_start or len(cs.fused.items) < 2:
            return cs.fused  # nothing the ranker learned from: no history to relate items to
        head = CandidateSet(cs.ctx, cs.fused.head(self.config.ranker_candidates), cs.retrieved)
        scores = self.guard.run("ranker", partial(self.ranking.scores, head), deadline, result)
        return cs.fused if scores is None else head.fused.reordered(scores)

    def _rank_scores(
        self, ctx: Context, fused: Fused, pool: int, result: PipelineResult, deadline: float
    ) -> NDArray[np.float32]:
        """Fused scores of the pool plus each weighted ranking feature."""
        scores = fused.scores[:pool].copy()
        weighted = [f for f in self.features if self.config.feature_weights.get(f.name, 0) > 0]
        if not weighted or not pool:
            return scores
        items = fused.items[:pool]

        def rank() -> NDArray[np.float32]:
            total = np.zeros(pool, np.float32)
            for feature in weighted:
                values = feature(ctx, items)
                if values is not None:
                    total += self.config.feature_weights[feature.name] * values
            return total

        added = self.guard.run("rank", rank, deadline, result)
        return scores + added if added is not None else scores

    def _rerank(self, items: IntArray, scores: NDArray[np.float32], k: int) -> IntArray:
        """MMR over the pool, keeping near-duplicates (same SimHash, nearly) out of one list."""
        duplicates = None
        vectors = self.vectors
        if vectors is not None and self.config.dedupe_max_bits >= 0:
            fp = vectors.fingerprints(items)
            duplicates = hamming(fp[:, None], fp[None, :]) <= self.config.dedupe_max_bits
            # items without text have an all-zero vector: never call those duplicates
            has_text = fp != 0
            duplicates &= has_text[:, None] & has_text[None, :]
        genre_sim = self.catalog.genre_similarity(items)
        return mmr(scores, genre_sim, k, self.config.mmr_lambda, duplicates)

    def _exploration(
        self, fused: Fused, positions: IntArray, fresh: Retrieved | None, k: int
    ) -> list[Recommended]:
        """The best new items for the last ``fresh_slots`` places, if none made the list.

        New items have no interactions, so fused scores rank them low however well they fit;
        without a reserved place they would never be shown and never collect the events that
        let the collaborative channels learn them. They are marked (``explore``) and scored
        as the last item chosen on merit, so scores still read best first.
        """
        slots = min(self.config.fresh_slots, k)
        if slots == 0 or fresh is None or not len(fresh.items):
            return []
        chosen = set(fused.items[positions].tolist())
        if chosen & set(fresh.items.tolist()):
            return []
        picks = fresh.items[:slots]
        why = fresh.reasons(picks) if fresh.reasons is not None else [None] * len(picks)
        return [  # scored by the caller
            Recommended(int(item), 0.0, [reason or GENERIC_REASONS["new"]], explore=True)
            for item, reason in zip(picks.tolist(), why, strict=True)
        ]
