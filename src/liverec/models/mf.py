"""Matrix factorisation through the ``implicit`` library (CPU): ALS and BPR, with fold-in."""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from liverec.core.progress import ProgressFn, no_progress
from liverec.data.arrowio import mapped
from liverec.data.interactions import Histories, Interactions
from liverec.features.histories import UserHistoryView
from liverec.features.request import Context, Retrieved
from liverec.index import VectorIndex
from liverec.index.registry import index_vectors, load_index
from liverec.models.base import (
    IntArray,
    Recommender,
    ScoreArray,
    cosine_neighbours,
    requires_fit,
)
from liverec.models.component import Component, Servable, ServeContext, TrainContext

ALS_SEARCH_SPACE: dict[str, list[Any]] = {
    "factors": [16, 32, 64, 128],
    "regularization": [0.01, 0.05, 0.1, 0.5, 1.0],
    "alpha": [0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0],
    "iterations": [15],
}
BPR_SEARCH_SPACE: dict[str, list[Any]] = {
    "factors": [16, 32, 64, 128],
    "learning_rate": [0.002, 0.005, 0.01],
    "regularization": [0.001, 0.01, 0.05],
    "iterations": [100, 200, 400],
}


@dataclass(frozen=True)
class ALSConfig:
    """ALS with confidence ``alpha`` on observed pairs, 1 elsewhere (Hu, Koren, Volinsky 2008)."""

    factors: int = 32
    regularization: float = 0.05
    alpha: float = 1.0
    iterations: int = 15
    seed: int = 0
    index: str = "auto"  # served: exact for small catalogs, IVF above (index.registry.auto_kind)


@dataclass(frozen=True)
class BPRConfig:
    """Bayesian personalised ranking with SGD over sampled (user, seen, unseen) triples.

    ``threads``: 1 keeps results bit-reproducible for a seed; more threads run lock-free
    (Hogwild) SGD, about 1.8x faster on 2 cores but different in the fourth decimal per run.
    """

    factors: int = 32
    learning_rate: float = 0.005
    regularization: float = 0.01
    iterations: int = 200
    seed: int = 0
    threads: int = 1


def fold_in(
    item_factors: NDArray[np.float32],
    histories: Histories,
    alpha: float,
    regularization: float,
    gram: NDArray[np.float64] | None = None,
) -> NDArray[np.float32]:
    """Solve each user's factor from their items with the item factors fixed (one ALS step).

    implicit 0.7 gives an observed pair confidence ``alpha`` (unobserved: 1), so the user step is
    ``x_u = (Y'Y + (alpha - 1) Y_u'Y_u + reg I)^-1 alpha Y_u' 1`` - the closed form behind
    implicit's ``recalculate_user``; ``gram`` (Y'Y) can be passed in when it is cached.
    """
    if gram is None:
        y = item_factors.astype(np.float64)
        gram = y.T @ y
    dim = item_factors.shape[1]
    eye = regularization * np.eye(dim)
    out = np.zeros((len(histories), dim), np.float32)
    for u in range(len(histories)):
        items = np.unique(histories[u])
        if not len(items):
            continue
        # Only the user's rows: a float64 copy of every item's factors was 256 MB per call
        # at 1M items, 60% of a request's CPU (py-spy, bench scale --size L).
        yu = item_factors[items].astype(np.float64)
        a = gram + (alpha - 1.0) * (yu.T @ yu) + eye
        b = alpha * yu.sum(axis=0)
        out[u] = np.linalg.solve(a, b)
    return out


class _Factorisation(Recommender):
    """Shared scoring, neighbours and persistence of factor models."""

    user_factors: NDArray[np.float32]
    item_factors: NDArray[np.float32]

    @requires_fit
    def score(self, users: IntArray) -> ScoreArray:
        """Trained user factors dotted with item factors."""
        u = self.user_factors[np.asarray(users, np.int64)]
        return np.asarray(u @ self.item_factors.T, dtype=np.float32)

    @requires_fit
    def score_histories(self, histories: Histories) -> ScoreArray:
        """Fold-in user factors for the histories, dotted with item factors."""
        return np.asarray(self.fold_in(histories) @ self.item_factors.T, dtype=np.float32)

    def fold_in(self, histories: Histories) -> NDArray[np.float32]:
        """User factors re-solved from ``histories`` (read-your-writes without retraining)."""
        return fold_in(self.item_factors, histories, self._fold_alpha, self._fold_reg, self._gram)

    @property
    def _fold_alpha(self) -> float:
        return 1.0

    @property
    def _fold_reg(self) -> float:
        return 0.05

    @requires_fit
    def similar_items(self, items: IntArray, k: int) -> tuple[IntArray, ScoreArray]:
        """Cosine neighbours in factor space."""
        return cosine_neighbours(self.item_factors, np.asarray(items, np.int64), k)

    def _after_fit(self, model: Any) -> None:
        self.user_factors = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        self._gram = self.item_factors.astype(np.float64).T @ self.item_factors

    def _state(self) -> dict[str, NDArray[Any]]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def _restore(self, state: dict[str, NDArray[Any]]) -> None:
        self.user_factors = state["user_factors"].astype(np.float32)
        self.item_factors = state["item_factors"].astype(np.float32)
        self._gram = self.item_factors.astype(np.float64).T @ self.item_factors


def _threads() -> int:
    return max(1, len(os.sched_getaffinity(0)))


class ALS(_Factorisation):
    """Implicit-feedback ALS (implicit.cpu); fold-in is the exact ALS user step."""

    name: ClassVar[str] = "als"
    Config: ClassVar[type[Any]] = ALSConfig

    def _fit(self, data: Interactions, progress: ProgressFn = no_progress) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        c = self.config

        def iteration_done(iteration: int, _seconds: float, _loss: float) -> None:
            progress(iteration + 1, c.iterations)

        # implicit parallelises itself; a multi-threaded BLAS underneath would oversubscribe.
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=c.factors,
                regularization=c.regularization,
                alpha=c.alpha,
                iterations=c.iterations,
                random_state=c.seed,
                num_threads=_threads(),
            )
            model.fit(data.to_csr(), show_progress=False, callback=iteration_done)
        self._after_fit(model)

    @property
    def _fold_alpha(self) -> float:
        return float(self.config.alpha)

    @property
    def _fold_reg(self) -> float:
        return float(self.config.regularization)


class BPR(_Factorisation):
    """BPR (implicit.cpu); fold-in uses the ALS closed form on BPR's item factors."""

    name: ClassVar[str] = "bpr"
    Config: ClassVar[type[Any]] = BPRConfig

    def _fit(self, data: Interactions) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        c = self.config
        with threadpool_limits(1, "blas"):
            model = BayesianPersonalizedRanking(
                factors=c.factors,
                learning_rate=c.learning_rate,
                regularization=c.regularization,
                iterations=c.iterations,
                random_state=c.seed,
                num_threads=c.threads if c.threads > 0 else _threads(),
            )
            model.fit(data.to_csr(), show_progress=False)
        self._after_fit(model)


FOLD_IN_ITEMS = 200  # a live user's vector is re-solved from this many recent distinct items


class ALSChannel:
    """Inner-product search of the user's ALS vector in the item index."""

    name = "als"

    def __init__(
        self,
        model: _Factorisation,
        index: VectorIndex,
        histories: UserHistoryView,
        cache_size: int = 10_000,
    ) -> None:
        self.model = model
        self.index = index
        self.histories = histories
        self._vectors: OrderedDict[tuple[int, int], NDArray[np.float32]] = OrderedDict()
        self._cache_size = cache_size

    def user_vector(self, ctx: Context) -> NDArray[np.float32] | None:
        """Trained vector while the user has no new events; fold-in from recent items after."""
        u = ctx.uidx
        if u is None or not ctx.history.event_count:
            return None
        if not ctx.live and u < len(self.model.user_factors):
            vec: NDArray[np.float32] = np.asarray(self.model.user_factors[u], np.float32)
            return vec
        key = (u, ctx.history.event_count)
        cached = self._vectors.get(key)
        if cached is not None:
            return cached
        items, _ = self.histories.recent_distinct(u, FOLD_IN_ITEMS)
        items = items[items < len(self.model.item_factors)]  # newer items have no vector yet
        if not len(items):
            return None
        vec = self.model.fold_in(Histories.from_lists([items], len(self.model.item_factors)))[0]
        self._vectors[key] = vec
        if len(self._vectors) > self._cache_size:
            self._vectors.popitem(last=False)
        return vec

    def retrieve(self, ctx: Context, n: int) -> Retrieved:
        """The best allowed items by inner product (the index over-fetches past seen ones)."""
        vec = self.user_vector(ctx)
        if vec is None:
            return Retrieved.empty()
        ids, scores = self.index.search_one(vec, n + ctx.filter_extra(n), exclude=ctx.blocked)
        got = Retrieved(ids, scores.astype(np.float32)).best(ctx, n)
        return Retrieved(got.items, got.scores, lambda items: [REASON] * len(items))

    def knows(self, items: IntArray) -> NDArray[np.bool_]:
        """Items trained with interactions (ALS leaves the factors of the others at zero)."""
        items = np.asarray(items, np.int64)
        out = np.zeros(len(items), bool)
        inside = items < len(self.model.item_factors)
        out[inside] = np.abs(self.model.item_factors[items[inside]]).sum(axis=1) > 1e-6
        return out

    def similar(self, item: int, n: int) -> Retrieved:
        """Cosine neighbours in factor space among the index's inner-product candidates."""
        factors = self.model.item_factors
        if item >= len(factors):
            return Retrieved.empty()
        query = np.asarray(factors[item], np.float32)
        ids, _ = self.index.search_one(query, 4 * n + 1)
        ids = ids[ids != item]
        cand = np.asarray(factors[ids], np.float32)
        norms = np.linalg.norm(cand, axis=1) * max(float(np.linalg.norm(query)), 1e-12)
        cos = (cand @ query) / np.maximum(norms, 1e-12)
        order = np.lexsort((ids, -cos))[:n]
        return Retrieved(ids[order], np.maximum(cos[order], 0).astype(np.float32))


REASON = "people with similar taste liked it"


class ALSComponent(Component):
    """ALS factors (implicit) and an index over the item factors."""

    name: ClassVar[str] = "als"
    channel: ClassVar[str | None] = "als"
    Config: ClassVar[type[Any]] = ALSConfig
    summary: ClassVar[str] = "matrix factorisation (implicit ALS) with live fold-in"

    def train(self, ctx: TrainContext, out: Path) -> dict[str, Any]:
        """Fit ALS; save factors as ``.npy`` (memory-mapped when served) and the index."""
        model = ALS(self.config)
        model.n_items = ctx.data.n_items
        # minutes at 100M events (1,122 s measured at size L): worth a line with an ETA
        with ctx.progress_line("als", "iterations") as line:
            model._fit(ctx.data.interactions, line)
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / "user_factors.npy", model.user_factors)
        np.save(out / "item_factors.npy", model.item_factors)
        index = index_vectors(model.item_factors, self.config.index)
        index.save(out / "index")
        return {"index": index.kind, "factors": int(model.item_factors.shape[1])}

    def load(self, directory: Path, meta: dict[str, Any], ctx: ServeContext) -> Servable:
        """Factors memory-mapped; the index loaded."""
        model = ALS(self.config)
        model.user_factors = mapped(directory / "user_factors.npy")
        model.item_factors = np.load(directory / "item_factors.npy")
        model.n_items = len(model.item_factors)
        model._gram = model.item_factors.astype(np.float64).T @ model.item_factors
        channel = ALSChannel(model, load_index(directory / "index"), ctx.histories)
        return Servable(self.name, channel=channel, similar=channel)
