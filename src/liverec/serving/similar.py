"""Item-to-item similarity for "more like this": co-occurrence, ALS vectors and genres blended."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from liverec.features.genres import GenreIndex
from liverec.features.online import OnlineState
from liverec.models.itemcf import ItemCFConfig

# Collaborative evidence first, then text, then genres. Each candidate's blend is divided by
# the weights of the evidence that exists for it, so an item without interactions (a new one)
# competes on text and genres instead of being pushed down by zeros it cannot help.
WEIGHTS = {"cf": 0.45, "als": 0.2, "content": 0.3, "genre": 0.05}


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
        self.collaborative = np.asarray(state.cooccurrence.item_users > 0)  # at snapshot time
        self.itemcf = itemcf
        norms = np.linalg.norm(item_factors, axis=1, keepdims=True)
        self.unit_factors = (item_factors / np.maximum(norms, 1e-12)).astype(np.float32)
        self.genres = genres

    def find(self, item: int, k: int) -> list[Similar]:
        """The ``k`` items most like ``item`` with a positive blended score."""
        state = self.state
        n = state.n_items
        c = self.itemcf
        parts: dict[str, NDArray[np.float32]] = {}
        present: dict[str, NDArray[np.bool_]] = {}
        rows = state.cooccurrence.similarity_rows(np.array([item]), c.alpha, c.shrink, 0)
        has_events = state.cooccurrence.item_users[:n] > 0
        if has_events[item]:
            parts["cf"] = _unit_max(rows[0])
            present["cf"] = has_events
        if item < len(self.unit_factors) and self.collaborative[item]:
            als = np.zeros(n, np.float32)
            m = len(self.unit_factors)
            als[:m] = np.maximum(self.unit_factors @ self.unit_factors[item], 0)
            parts["als"] = _unit_max(als)
            present["als"] = np.r_[self.collaborative[:m], np.zeros(n - m, bool)]
        vectors = state.vectors
        if vectors is not None and np.any(vectors.matrix[item]):
            parts["content"] = np.maximum(vectors.matrix @ vectors.matrix[item], 0)
            present["content"] = np.abs(vectors.matrix).sum(axis=1) > 0
        self.genres.refresh(state.catalog, state.catalog_version)
        g, sizes = self.genres.dense, self.genres.sizes
        inter = g @ g[item]
        union = sizes + sizes[item] - inter
        parts["genre"] = np.divide(inter, union, out=np.zeros(n, np.float32), where=union > 0)
        present["genre"] = np.ones(n, bool)
        score = np.zeros(n, np.float32)
        weight = np.zeros(n, np.float32)
        for name, v in parts.items():
            score += WEIGHTS[name] * v * present[name]
            weight += WEIGHTS[name] * present[name]
        score = np.divide(score, weight, out=np.zeros_like(score), where=weight > 0)
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
            if "cf" in parts and parts["cf"][j] > 0.2:
                reasons.append("often watched together")
            if "content" in parts and parts["content"][j] >= 0.6:
                reasons.append("similar title and description")
            shared = [x for x in state.catalog[j].genres if x in mine]
            if shared:
                reasons.append("shares " + ", ".join(shared))
            out.append(Similar(j, float(score[j]), reasons))
        return out
