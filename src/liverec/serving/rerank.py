"""Merge channel candidates, diversify with MMR, and explain each recommendation.

Everything here works on the request's candidate set (a few hundred items at most).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from liverec.features.genres import jaccard_matrix  # noqa: F401 - used by the mmr doctest
from liverec.features.request import Retrieved
from liverec.models import kernels

IntArray = NDArray[np.int64]

# What a channel's pick means when the channel gives no reason of its own for it.
GENERIC_REASONS = {
    "als": "people with similar taste liked it",
    "sasrec": "fits the sequence of what you chose",
    "trending": "trending now",
    "pop": "popular with everyone",
    "new": "new in the catalog",
    "itemcf": "often chosen together with your recent items",
    "content": "similar in content to your recent items",
}


@dataclass(frozen=True)
class Fused:
    """Candidates after reciprocal-rank fusion, best first, with each channel's contribution."""

    items: IntArray
    scores: NDArray[np.float32]
    channels: tuple[str, ...]
    contributions: NDArray[np.float32]  # (len(channels), len(items)) each channel's fused share

    def head(self, n: int) -> Fused:
        """The first ``n`` candidates."""
        return Fused(self.items[:n], self.scores[:n], self.channels, self.contributions[:, :n])

    def reordered(self, scores: NDArray[np.float32]) -> Fused:
        """The candidates best first by ``scores`` (one per candidate; ties keep fused order),
        which become their scores; each channel's share stays with its item for the reasons."""
        order = np.argsort(-scores, kind="stable")
        return Fused(self.items[order], scores[order], self.channels, self.contributions[:, order])


def fuse(retrieved: Mapping[str, Retrieved], weights: Mapping[str, float], k: float) -> Fused:
    """Weighted reciprocal-rank fusion over the union of candidates: sum_c w_c / (k + rank_c).

    Ranks are robust to the channels' incomparable score scales. Ties go to the lower index.

    >>> r = {"a": Retrieved(np.array([5, 7]), np.array([9., 1.], np.float32)),
    ...      "b": Retrieved(np.array([7]), np.array([3.], np.float32))}
    >>> fuse(r, {"a": 1.0, "b": 1.0}, k=1.0).items.tolist()  # 7: 1/3 + 1/2
    [7, 5]
    """
    names = tuple(name for name, r in retrieved.items() if len(r.items) and weights.get(name, 0))
    if not names:
        empty = np.zeros(0, np.float32)
        return Fused(np.zeros(0, np.int64), empty, (), np.zeros((0, 0), np.float32))
    items = np.concatenate([retrieved[n].items for n in names]).astype(np.int64, copy=False)
    offsets = np.cumsum([0, *(len(retrieved[n].items) for n in names)])
    channel_weights = np.array([weights[n] for n in names], np.float32)
    candidates = np.empty(len(items), np.int64)
    shares = np.zeros((len(names), len(items)), np.float32)
    c = kernels.rank_fusion(items, offsets, channel_weights, k, candidates, shares)
    candidates, shares = candidates[:c], shares[:, :c]
    dense = shares.sum(axis=0)
    order = np.lexsort((candidates, -dense))  # ties: the lower index first
    return Fused(candidates[order], dense[order], names, shares[:, order])


def mmr(
    relevance: NDArray[np.float32],
    sim: NDArray[np.float32],
    k: int,
    lam: float,
    duplicates: NDArray[np.bool_] | None = None,
) -> IntArray:
    """Maximal marginal relevance: pick ``argmax lam*rel - (1-lam)*max_sim_to_picked`` k times.

    ``sim`` is the candidates' pairwise similarity (genre Jaccard in the pipeline).
    ``relevance`` is rescaled to [0, 1] first so ``lam`` means the same for every request.
    ``duplicates[i, j]`` True means candidates i and j are near-duplicates: once one is
    picked the other is never picked. Returns positions (fewer than k if duplicates run out).

    >>> sim = jaccard_matrix(np.array([[1, 0], [1, 0], [0, 1]], np.float32))
    >>> mmr(np.array([1.0, 0.9, 0.5], np.float32), sim, k=2, lam=0.5).tolist()  # 2 differs
    [0, 2]
    >>> dup = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]], bool)
    >>> mmr(np.array([1.0, 0.9, 0.5], np.float32), sim, k=3, lam=1.0, duplicates=dup).tolist()
    [0, 2]
    """
    out = np.zeros(min(k, len(relevance)), np.int64)
    dup = duplicates if duplicates is not None else np.zeros((0, 0), bool)
    n = kernels.mmr_picks(
        np.asarray(relevance, np.float64), np.asarray(sim, np.float32), k, lam, dup, out
    )
    return out[:n]


def explain(
    fused: Fused,
    positions: IntArray,
    retrieved: Mapping[str, Retrieved],
    max_reasons: int = 2,
) -> list[list[str]]:
    """Short human reasons for each chosen item: its strongest channels, each in its own words."""
    items = fused.items[positions]
    shares = fused.contributions[:, positions]  # (channels, chosen)
    order = np.argsort(-shares, axis=0, kind="stable")[:max_reasons]  # (reasons, chosen)
    worded: dict[str, dict[int, str]] = {}
    for row, name in enumerate(fused.channels):
        wanted = np.flatnonzero((order == row).any(axis=0) & (shares[row] > 0))
        words = retrieved[name].reasons
        if not len(wanted) or words is None:
            continue
        said = words(items[wanted])
        worded[name] = {
            int(i): r for i, r in zip(items[wanted].tolist(), said, strict=True) if r is not None
        }
    out: list[list[str]] = []
    for col, item in enumerate(items.tolist()):
        reasons: list[str] = []
        for row in order[:, col].tolist():
            if shares[row, col] <= 0:
                break
            name = fused.channels[row]
            reason = worded.get(name, {}).get(item) or GENERIC_REASONS.get(name, name)
            if reason not in reasons:
                reasons.append(reason)
        out.append(reasons)
    return out
