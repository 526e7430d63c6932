"""Merge channel candidates, diversify with MMR, and explain each recommendation."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from liverec.data.dataset import Item
from liverec.features.genres import jaccard_matrix  # noqa: F401 - used by the mmr doctest
from liverec.serving.channels import Context, Retrieved

IntArray = NDArray[np.int64]

REASONS = {
    "als": "people with similar taste liked it",
    "trending": "trending this week",
    "pop": "popular with everyone",
    "new": "new in the catalog",
}


@dataclass(frozen=True)
class Fused:
    """Candidates after reciprocal-rank fusion, best first, with each channel's contribution."""

    items: IntArray
    scores: NDArray[np.float32]
    channels: tuple[str, ...]
    contributions: NDArray[np.float32]  # (len(channels), len(items)) each channel's fused share


def fuse(
    retrieved: dict[str, Retrieved], weights: dict[str, float], k: float, n_items: int
) -> Fused:
    """Weighted reciprocal-rank fusion: score(i) = sum_c w_c / (k + rank_c(i)).

    Ranks are robust to the channels' incomparable score scales.

    >>> r = {"a": Retrieved(np.array([5, 7]), np.array([9., 1.], np.float32)),
    ...      "b": Retrieved(np.array([7]), np.array([3.], np.float32))}
    >>> fuse(r, {"a": 1.0, "b": 1.0}, k=1.0, n_items=10).items.tolist()  # 7: 1/3 + 1/2
    [7, 5]
    """
    names = tuple(name for name, r in retrieved.items() if len(r.items))
    shares = np.zeros((len(names), n_items), np.float32)
    longest = max((len(retrieved[n].items) for n in names), default=0)
    inverse_ranks = _inverse_ranks(k, longest)
    for row, name in enumerate(names):
        items = retrieved[name].items
        shares[row, items] = weights.get(name, 0.0) * inverse_ranks[: len(items)]
    dense = shares.sum(axis=0)
    candidates = np.flatnonzero(dense > 0)  # ascending, so a stable sort breaks ties by index
    order = candidates[np.argsort(-dense[candidates], kind="stable")]
    return Fused(order, dense[order], names, shares[:, order])


@lru_cache(maxsize=8)
def _inverse_ranks_cached(k: float, n: int) -> NDArray[np.float32]:
    return (1.0 / (k + np.arange(1, n + 1))).astype(np.float32)


def _inverse_ranks(k: float, n: int) -> NDArray[np.float32]:
    """``1 / (k + rank)`` for ranks 1..n (computed once per size class)."""
    size = 1 << max(6, (n - 1).bit_length())  # 64, 128, ...: few cache entries
    return _inverse_ranks_cached(k, size)


def mmr(relevance: NDArray[np.float32], sim: NDArray[np.float32], k: int, lam: float) -> IntArray:
    """Maximal marginal relevance: pick ``argmax lam*rel - (1-lam)*max_sim_to_picked`` k times.

    ``sim`` is the candidates' pairwise similarity (genre Jaccard in the pipeline).
    ``relevance`` is rescaled to [0, 1] first so ``lam`` means the same for every request.
    Returns positions.

    >>> sim = jaccard_matrix(np.array([[1, 0], [1, 0], [0, 1]], np.float32))
    >>> mmr(np.array([1.0, 0.9, 0.5], np.float32), sim, k=2, lam=0.5).tolist()  # 2 differs
    [0, 2]
    """
    n = len(relevance)
    k = min(k, n)
    if lam >= 1.0 or n <= 1:
        return np.arange(k, dtype=np.int64)
    lo, hi = float(relevance.min()), float(relevance.max())
    rel = (relevance - lo) / (hi - lo) if hi > lo else np.ones(n, np.float32)
    gain = (lam * rel).astype(np.float32)
    weighted = ((1.0 - lam) * sim).astype(np.float32)  # penalty rows, scaled once
    penalty = np.zeros(n, np.float32)
    out = np.empty(k, np.int64)
    for step in range(k):
        best = int(np.argmax(gain - penalty))
        out[step] = best
        gain[best] = -np.inf  # never picked twice
        np.maximum(penalty, weighted[best], out=penalty)
    return out


def explain(
    ctx: Context, fused: Fused, positions: IntArray, catalog: list[Item], max_reasons: int = 2
) -> list[list[str]]:
    """Short human reasons for each chosen item, strongest contribution first."""
    items = fused.items[positions]
    shares = fused.contributions[:, positions]  # (channels, chosen)
    order = np.argsort(-shares, axis=0, kind="stable")[:max_reasons]  # (reasons, chosen)
    because: dict[int, int] = {}
    itemcf = ctx.scratch.get("itemcf")
    if itemcf is not None and "itemcf" in fused.channels:
        uniq, weights, sims = itemcf
        # the history item that contributed most to each chosen item
        best = np.argmax(weights[:, None] * sims[:, items], axis=0)
        because = dict(zip(items.tolist(), uniq[best].tolist(), strict=True))
    out: list[list[str]] = []
    for col, item in enumerate(items.tolist()):
        reasons = []
        for row in order[:, col].tolist():
            if shares[row, col] <= 0:
                break
            name = fused.channels[row]
            if name == "itemcf" and item in because:
                reasons.append(f"because you watched {catalog[because[item]].display_title}")
            elif name == "new":
                genres = catalog[item].genres
                reasons.append(f"new in {genres[0]}" if genres else REASONS["new"])
            else:
                reasons.append(REASONS.get(name, name))
        out.append(reasons)
    return out
