"""Merge channel candidates, diversify with MMR, and explain each recommendation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from liverec.data.dataset import Item
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
    contributions: dict[str, NDArray[np.float32]]  # channel -> (len(items),) fused share


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
    dense = np.zeros(n_items, np.float32)
    per_channel: dict[str, NDArray[np.float32]] = {}
    for name, r in retrieved.items():
        if not len(r.items):
            continue
        share = np.zeros(n_items, np.float32)
        share[r.items] = weights.get(name, 0.0) / (k + np.arange(1, len(r.items) + 1))
        dense += share
        per_channel[name] = share
    candidates = np.flatnonzero(dense > 0)
    order = candidates[np.lexsort((candidates, -dense[candidates]))].astype(np.int64)
    return Fused(
        items=order,
        scores=dense[order],
        contributions={c: s[order] for c, s in per_channel.items()},
    )


def mmr(
    relevance: NDArray[np.float32],
    features: sp.csr_matrix | NDArray[np.float32],
    k: int,
    lam: float,
) -> IntArray:
    """Maximal marginal relevance: pick ``argmax lam*rel - (1-lam)*max_sim_to_picked`` k times.

    ``features`` are binary genre rows; similarity is their Jaccard index. ``relevance`` is
    rescaled to [0, 1] first so ``lam`` means the same for every request. Returns positions.

    >>> g = np.array([[1, 0], [1, 0], [0, 1]], np.float32)
    >>> mmr(np.array([1.0, 0.9, 0.5], np.float32), g, k=2, lam=0.5).tolist()  # 2 is different
    [0, 2]
    """
    n = len(relevance)
    k = min(k, n)
    if lam >= 1.0 or n <= 1:
        return np.arange(k, dtype=np.int64)
    rel = relevance.astype(np.float64)
    span = rel.max() - rel.min()
    rel = (rel - rel.min()) / span if span > 0 else np.ones(n)
    dense = features.toarray() if isinstance(features, sp.spmatrix | sp.sparray) else features
    g = np.asarray(dense, np.float64)
    sizes = g.sum(axis=1)
    max_sim = np.zeros(n)
    picked = np.zeros(n, bool)
    out = np.empty(k, np.int64)
    for step in range(k):
        score = lam * rel - (1.0 - lam) * max_sim
        score[picked] = -np.inf
        best = int(np.argmax(score))
        out[step] = best
        picked[best] = True
        inter = g @ g[best]
        union = sizes + sizes[best] - inter
        sim = np.divide(inter, union, out=np.zeros(n), where=union > 0)
        # two items without genres are alike as far as this similarity can tell
        sim[(sizes == 0) & (sizes[best] == 0)] = 1.0
        np.maximum(max_sim, sim, out=max_sim)
    return out


def explain(
    ctx: Context, fused: Fused, positions: IntArray, catalog: list[Item], max_reasons: int = 2
) -> list[list[str]]:
    """Short human reasons for each chosen item, strongest contribution first."""
    out: list[list[str]] = []
    itemcf = ctx.scratch.get("itemcf")
    for pos in positions.tolist():
        item = int(fused.items[pos])
        ranked = sorted(
            ((float(share[pos]), name) for name, share in fused.contributions.items()),
            reverse=True,
        )
        reasons: list[str] = []
        for share, name in ranked:
            if share <= 0 or len(reasons) >= max_reasons:
                continue
            if name == "itemcf" and itemcf is not None:
                uniq, weights, sims = itemcf
                j = int(uniq[int(np.argmax(weights * sims[:, item]))])
                reasons.append(f"because you watched {catalog[j].display_title}")
            elif name == "new":
                genres = catalog[item].genres
                reasons.append(f"new in {genres[0]}" if genres else REASONS["new"])
            else:
                reasons.append(REASONS.get(name, name))
        out.append(reasons)
    return out
