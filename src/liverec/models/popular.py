"""Popularity: the same list for everyone, ranked by how many users interacted with an item."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from liverec.data.interactions import Histories, Interactions
from liverec.models.base import IntArray, Recommender, ScoreArray, top_k


@dataclass(frozen=True)
class PopularityConfig:
    """Popularity has nothing to tune."""


class Popularity(Recommender):
    """Scores every item by its number of distinct training users."""

    name: ClassVar[str] = "pop"
    Config: ClassVar[type[Any]] = PopularityConfig

    def _fit(self, data: Interactions) -> None:
        self.counts = data.item_counts().astype(np.float32)

    def score_histories(self, histories: Histories) -> ScoreArray:
        """The popularity vector, repeated for every history."""
        return np.broadcast_to(self.counts, (len(histories), self.n_items)).copy()

    def similar_items(self, items: IntArray, k: int) -> tuple[IntArray, ScoreArray]:
        """The most popular items other than the query item."""
        s = np.broadcast_to(self.counts, (len(items), self.n_items)).copy()
        s[np.arange(len(items)), items] = -np.inf
        return top_k(s, k)

    def _state(self) -> dict[str, NDArray[Any]]:
        return {"counts": self.counts}

    def _restore(self, state: dict[str, NDArray[Any]]) -> None:
        self.counts = state["counts"].astype(np.float32)
