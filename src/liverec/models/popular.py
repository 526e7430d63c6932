"""Popularity (the same list for everyone) and trending (decayed recent popularity).

``Popularity`` is the offline model; ``PopularComponent`` serves the snapshot's ranking as the
fallback channel that always answers; ``TrendingComponent`` serves the live decayed counts the
item statistics keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from liverec.core.arrays import distinct
from liverec.data.arrowio import mapped
from liverec.data.interactions import Histories, Interactions
from liverec.features.itemstats import DAY, ItemStatsView
from liverec.features.request import Context, Retrieved
from liverec.models.base import IntArray, Recommender, ScoreArray, requires_fit, top_k
from liverec.models.component import Component, Servable, ServeContext, TrainContext


@dataclass(frozen=True)
class PopularityConfig:
    """Popularity has nothing to tune."""


def distinct_user_counts(data: Interactions) -> NDArray[np.int64]:
    """Number of distinct users per item, without building a user x item matrix."""
    key = np.asarray(data.uidx, np.int64) * data.n_items + np.asarray(data.iidx, np.int64)
    pairs = distinct(key)
    return np.bincount(pairs % data.n_items, minlength=data.n_items).astype(np.int64)


class Popularity(Recommender):
    """Scores every item by its number of distinct training users."""

    name: ClassVar[str] = "pop"
    Config: ClassVar[type[Any]] = PopularityConfig

    def _fit(self, data: Interactions) -> None:
        self.counts = distinct_user_counts(data).astype(np.float32)

    @requires_fit
    def score_histories(self, histories: Histories) -> ScoreArray:
        """The popularity vector, repeated for every history."""
        return np.broadcast_to(self.counts, (len(histories), self.n_items)).copy()

    @requires_fit
    def similar_items(self, items: IntArray, k: int) -> tuple[IntArray, ScoreArray]:
        """The most popular items other than the query item."""
        s = np.broadcast_to(self.counts, (len(items), self.n_items)).copy()
        s[np.arange(len(items)), items] = -np.inf
        return top_k(s, k)

    def _state(self) -> dict[str, NDArray[Any]]:
        return {"counts": self.counts}

    def _restore(self, state: dict[str, NDArray[Any]]) -> None:
        self.counts = state["counts"].astype(np.float32)


class PopularChannel:
    """All-time popularity from the snapshot: the fallback that is always available."""

    name = "pop"

    def __init__(self, order: IntArray, counts: NDArray[np.floating[Any]]) -> None:
        self.order = order
        self.counts = counts

    def retrieve(self, ctx: Context, n: int) -> Retrieved:
        """The most popular allowed items."""
        keep = ctx.first_allowed(self.order, n)
        scores = np.asarray(self.counts[keep], np.float32)
        return Retrieved(keep, scores, lambda items: ["popular with everyone"] * len(items))


@dataclass(frozen=True)
class PopularServeConfig:
    """How deep the stored ranking goes (the fallback never needs the whole catalog)."""

    depth: int = 100_000


def first_event_times(data: Interactions) -> NDArray[np.float64]:
    """Each item's earliest event time (NaN for an item without events).

    >>> data = Interactions.from_arrays([0, 1, 0], [1, 1, 0], ts=[5.0, 3.0, 7.0], n_items=3)
    >>> first_event_times(data).tolist()
    [7.0, 3.0, nan]
    """
    first = np.full(data.n_items, np.inf)
    np.minimum.at(first, np.asarray(data.iidx, np.int64), np.asarray(data.ts, np.float64))
    first[np.isinf(first)] = np.nan
    return first


class ItemAge:
    """Ranking feature: days from each item's first event in the snapshot's data to the
    user's newest event (NaN for an item with none then: new since, or never used). Measured
    against the user's own time, not the clock, so a request and the examples the ranker
    learned from (asked at the time of each walked event) read it alike."""

    name = "item_age"

    def __init__(self, first_seen: NDArray[np.float64]) -> None:
        self.first_seen = first_seen

    def __call__(self, ctx: Context, items: IntArray) -> NDArray[np.float32] | None:
        """One age per item, in days."""
        if not len(ctx.history.ts):
            return None
        items = np.asarray(items, np.int64)
        first = np.full(len(items), np.nan)
        known = items < len(self.first_seen)
        first[known] = self.first_seen[items[known]]
        age: NDArray[np.float32] = ((ctx.history.ts[-1] - first) / DAY).astype(np.float32)
        return age


class PopularComponent(Component):
    """The snapshot's popularity ranking, served as the fallback channel."""

    name: ClassVar[str] = "pop"
    channel: ClassVar[str | None] = "pop"
    required: ClassVar[bool] = True
    Config: ClassVar[type[Any]] = PopularServeConfig
    summary: ClassVar[str] = "most popular items (the fallback that always answers)"

    def train(self, ctx: TrainContext, out: Path) -> dict[str, Any]:
        """Distinct users per item, and the top of the ranking."""
        counts = distinct_user_counts(ctx.data.interactions).astype(np.float32)
        depth = min(self.config.depth, len(counts))
        top = np.argpartition(-counts, depth - 1)[:depth] if depth else np.zeros(0, np.int64)
        order = top[np.lexsort((top, -counts[top]))].astype(np.int64)
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / "counts.npy", counts)
        np.save(out / "order.npy", order)
        np.save(out / "first_seen.npy", first_event_times(ctx.data.interactions))
        return {"items_ranked": int(depth)}

    def load(self, directory: Path, meta: dict[str, Any], ctx: ServeContext) -> Servable:
        """The stored ranking (memory-mapped), and items' ages as a ranking feature (from
        snapshots that store first event times)."""
        counts = mapped(directory / "counts.npy")
        order = mapped(directory / "order.npy")
        first_seen = directory / "first_seen.npy"
        features = (ItemAge(mapped(first_seen)),) if first_seen.exists() else ()
        channel = PopularChannel(order, counts)
        return Servable(self.name, channel=channel, fallback=True, features=features)


class TrendingChannel:
    """Most events recently, with older events decaying (the item statistics' half-life)."""

    name = "trending"

    def __init__(self, stats: ItemStatsView) -> None:
        self.stats = stats

    def retrieve(self, ctx: Context, n: int) -> Retrieved:
        """The top allowed items of the incrementally kept trending list."""
        keep = ctx.first_allowed(self.stats.trending_items(), n)
        scores = self.stats.trending_scores(keep).astype(np.float32)
        return Retrieved(keep, scores, lambda items: ["trending now"] * len(items))


@dataclass(frozen=True)
class TrendingConfig:
    """Trending keeps no artifact: the live item statistics are its state."""


class TrendingComponent(Component):
    """Trending items from the live item statistics."""

    name: ClassVar[str] = "trending"
    channel: ClassVar[str | None] = "trending"
    Config: ClassVar[type[Any]] = TrendingConfig
    summary: ClassVar[str] = "items with the most recent events (decayed counts)"

    def train(self, ctx: TrainContext, out: Path) -> dict[str, Any]:
        """Nothing to fit: the service counts from the snapshot's events when it starts."""
        return {}

    def load(self, directory: Path, meta: dict[str, Any], ctx: ServeContext) -> Servable:
        """A channel over the live statistics."""
        return Servable(self.name, channel=TrendingChannel(ctx.stats))
