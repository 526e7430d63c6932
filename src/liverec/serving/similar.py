"""Item-to-item similarity for "more like this": co-occurrence, ALS vectors and genres blended."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from liverec.features.genres import GenreIndex
from liverec.features.online import OnlineState
from liverec.models.itemcf import ItemCFConfig

# Collaborative evidence first; genres keep brand-new items (no interactions yet) answerable.
WEIGHTS = {"cf": 0.6, "als": 0.3, "genre": 0.1}


@dataclass(frozen=True)
class Similar:
    """One similar item (internal index), its blended score and reasons."""

    item: int
    score: float
    reasons: list[str]


def _unit_max(v: NDArray[np.floating]) -> NDArray[np.float32]:
    """Scale to a maximum of 1 (all zeros stay zeros)."""
    m = float(np.max(v)) if len(v) else 0.0
    return (v / m).astype(np.float32) if m > 0 else np.zeros(len(v), np.float32)


class SimilarItems:
    """Blends three similarities, each scaled to a maximum of 1 per query."""

    def __init__(
        self,
        state: OnlineState,
        itemcf: ItemCFConfig,
        item_factors: NDArray[np.float32],
        genres: GenreIndex,
    ) -> None:
        self.state = state
        self.itemcf = itemcf
        norms = np.linalg.norm(item_factors, axis=1, keepdims=True)
        self.unit_factors = (item_factors / np.maximum(norms, 1e-12)).astype(np.float32)
        self.genres = genres

    def find(self, item: int, k: int) -> list[Similar]:
        """The ``k`` items most like ``item`` with a positive blended score."""
        state = self.state
        n = state.n_items
        c = self.itemcf
        rows = state.cooccurrence.similarity_rows(np.array([item]), c.alpha, c.shrink, 0)
        parts = {"cf": _unit_max(rows[0])}
        if item < len(self.unit_factors):
            als = np.zeros(n, np.float32)
            als[: len(self.unit_factors)] = np.maximum(
                self.unit_factors @ self.unit_factors[item], 0
            )
            parts["als"] = _unit_max(als)
        self.genres.refresh(state.catalog, state.catalog_version)
        g, sizes = self.genres.dense, self.genres.sizes
        inter = g @ g[item]
        union = sizes + sizes[item] - inter
        parts["genre"] = np.divide(inter, union, out=np.zeros(n), where=union > 0).astype(
            np.float32
        )
        score = np.zeros(n, np.float32)
        for name, v in parts.items():
            score += WEIGHTS[name] * v
        score[item] = -np.inf
        k = min(k, n - 1)
        top = np.argpartition(-score, k - 1)[:k] if k > 0 else np.zeros(0, np.int64)
        top = top[np.argsort(-score[top], kind="stable")]
        mine = set(state.catalog[item].genres)
        out = []
        for j in top.tolist():
            if score[j] <= 0:
                break
            reasons = []
            if parts["cf"][j] > 0:
                reasons.append("often watched together")
            shared = [x for x in state.catalog[j].genres if x in mine]
            if shared:
                reasons.append("shares " + ", ".join(shared))
            out.append(Similar(j, float(score[j]), reasons))
        return out
