"""Item statistics the live service keeps current: trending, and co-occurrence since the snapshot.

``apply`` is the only writer. Per event it adds the item to "trending" and, when the item is
new among the user's last ``pair_window`` distinct items, the pairs it forms with them (both
directions, weighted as the neighbour lists weigh them) plus its own weight ``n(i)``: a bounded
amount of work however long the user's history is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from liverec.features.pairs import PairLog
from liverec.features.trending import Trending

IntArray = NDArray[np.int64]
DAY = 86_400.0


class ItemStatsConfig(BaseModel):
    """How item statistics follow the events."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trending_half_life_days: float = Field(7.0, gt=0, description="trending halves this often")
    trending_depth: int = Field(1000, ge=1, description="items kept ranked by trending")
    pair_window: int = Field(
        20, ge=1, description="recent distinct items of the user a new item is paired with"
    )
    max_pairs: int = Field(
        50_000_000, ge=0, description="pair increments kept until the next snapshot (~12 B each)"
    )


@dataclass(frozen=True)
class PairWeighting:
    """How an event's pairs are weighted: ``w(t) = 2 ** (-(ref - t) / (2 half_life))``."""

    ref_time: float
    half_life_days: float

    def weight(self, ts: NDArray[np.float64]) -> NDArray[np.float64]:
        """``w`` of events at ``ts`` (1 without decay)."""
        if self.half_life_days <= 0:
            return np.ones(len(ts))
        return np.exp2(-(self.ref_time - np.asarray(ts)) / (2.0 * self.half_life_days * DAY))


@dataclass(frozen=True)
class Partners:
    """A user's recent distinct items (and when each was last used) that a new item pairs with."""

    items: IntArray
    ts: NDArray[np.float64]


class ItemStatsView(Protocol):
    """What readers may ask of item statistics."""

    def trending_items(self) -> IntArray:
        """Items by decayed event count, best first (the top ``trending_depth``)."""

    def trending_scores(self, items: IntArray) -> NDArray[np.float64]:
        """Decayed event counts of ``items``."""

    def pair_increments(self, rows: IntArray) -> tuple[IntArray, IntArray, NDArray[np.float32]]:
        """Pair weights added since the snapshot in ``rows`` (distinct): (row position, col, w)."""

    def item_weight(self, items: IntArray) -> NDArray[np.float64]:
        """``n(i)``, the neighbour lists' item weight, with the events since added."""

    def item_weights(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The arrays behind ``item_weight``: the snapshot's part and the part added since
        (index by item; an index past either array's end counts 0)."""


class ItemStats:
    """Trending and pair increments over a growing catalog."""

    def __init__(
        self,
        n_items: int,
        config: ItemStatsConfig | None = None,
        trending: Trending | None = None,
        item_weight: NDArray[np.float64] | None = None,
        weighting: PairWeighting | None = None,
    ) -> None:
        self.config = config or ItemStatsConfig()
        cfg = self.config
        self.trending = trending or Trending(
            n_items, cfg.trending_half_life_days * DAY, cfg.trending_depth
        )
        self.trending.grow(n_items)
        self.weighting = weighting
        self._base_weight = (
            np.zeros(n_items) if item_weight is None else np.asarray(item_weight, np.float64)
        )
        self._extra_weight = np.zeros(max(n_items, len(self._base_weight)))
        self.pairs = PairLog(max_pairs=cfg.max_pairs)

    def track_pairs(
        self, weighting: PairWeighting, base_item_weight: NDArray[np.float64] | None
    ) -> None:
        """Start keeping pair increments, weighted like the neighbour lists they extend."""
        self.weighting = weighting
        if base_item_weight is not None:
            self._base_weight = np.asarray(base_item_weight, np.float64)
            if len(self._base_weight) > len(self._extra_weight):
                self.grow(len(self._base_weight))

    @property
    def n_items(self) -> int:
        """Items covered."""
        return len(self._extra_weight)

    def grow(self, n_items: int) -> None:
        """Make room for items up to ``n_items``."""
        if n_items > len(self._extra_weight):
            extra = np.zeros(max(n_items, 2 * len(self._extra_weight)))
            extra[: len(self._extra_weight)] = self._extra_weight
            self._extra_weight = extra
        self.trending.grow(n_items)

    def apply(
        self, items: IntArray, ts: NDArray[np.float64], partners: Sequence[Partners | None]
    ) -> None:
        """Count a batch of events; ``partners[k]`` is None when event k's item was already
        among its user's recent distinct items (no new pairs), else those items."""
        self.trending.add(items, ts)
        if self.weighting is None:
            return
        fresh = [k for k, p in enumerate(partners) if p is not None]
        if not fresh:
            return
        w = self.weighting.weight(ts[fresh])
        new = items[fresh]
        np.add.at(self._extra_weight, new, w * w)
        lists = [partners[k] for k in fresh]
        counts = np.array([len(p.items) for p in lists if p is not None], np.int64)
        if not counts.sum():
            return
        others = np.concatenate([p.items for p in lists if p is not None])
        other_w = self.weighting.weight(np.concatenate([p.ts for p in lists if p is not None]))
        mine = np.repeat(new, counts)
        v = (np.repeat(w, counts) * other_w).astype(np.float32)
        self.pairs.add(np.concatenate([mine, others]), np.concatenate([others, mine]), np.r_[v, v])

    def trending_items(self) -> IntArray:
        """Items by decayed event count, best first."""
        return self.trending.ranking()

    def trending_scores(self, items: IntArray) -> NDArray[np.float64]:
        """Decayed event counts of ``items``."""
        return self.trending.current(items)

    def pair_increments(self, rows: IntArray) -> tuple[IntArray, IntArray, NDArray[np.float32]]:
        """Pair weights added since the snapshot in ``rows`` (distinct)."""
        return self.pairs.rows(rows)

    def item_weights(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The snapshot's item weights and the weight added since, as arrays."""
        return self._base_weight, self._extra_weight

    def item_weight(self, items: IntArray) -> NDArray[np.float64]:
        """``n(i)`` with the events since the snapshot added."""
        items = np.asarray(items, np.int64)
        base = np.zeros(len(items))
        inside = items < len(self._base_weight)
        base[inside] = self._base_weight[items[inside]]
        return base + self._extra_weight[items]
