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
    "sasrec": "fits the sequence of what you watched",
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
    n = len(relevance)
    k = min(k, n)
    lo, hi = float(relevance.min()) if n else 0.0, float(relevance.max()) if n else 0.0
    rel = (relevance - lo) / (hi - lo) if hi > lo else np.ones(n, np.float32)
    gain = (lam * rel).astype(np.float32)
    weighted = ((1.0 - lam) * sim).astype(np.float32)  # penalty rows, scaled once
    penalty = np.zeros(n, np.float32)
    out: list[int] = []
    for _ in range(k):
        score = gain - penalty if lam < 1.0 else gain
        best = int(np.argmax(score))
        if score[best] == -np.inf:
            break  # everything left duplicates something already picked
        out.append(best)
        gain[best] = -np.inf  # never picked twice
        if duplicates is not None:
            gain[duplicates[best]] = -np.inf
        if lam < 1.0:
            np.maximum(penalty, weighted[best], out=penalty)
    return np.asarray(out, np.int64)


_STOPWORDS = frozenset(
    {"the", "a", "an", "of", "and", "in", "on", "to", "for", "with", "from", "at", "by", "ii"}
)


@lru_cache(maxsize=4096)
def _words(title: str) -> frozenset[str]:
    words = (t.strip(".,:;!?()'\"").lower() for t in title.split())
    return frozenset(w for w in words if len(w) > 3 and w not in _STOPWORDS)


def content_reason(history_item: Item, item: Item) -> str:
    """ "similar to Toy Story (1995): Animation, Comedy" - shared genres, else shared words."""
    shared = [g for g in item.genres if g in history_item.genres]
    if not shared:
        shared = sorted(_words(item.title) & _words(history_item.title))
    tail = f": {', '.join(shared[:3])}" if shared else ""
    return f"similar to {history_item.display_title}{tail}"


def explain(
    ctx: Context,
    fused: Fused,
    positions: IntArray,
    catalog: list[Item],
    vectors: NDArray[np.float32] | None = None,
    max_reasons: int = 2,
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
    like: dict[int, int] = {}
    if vectors is not None and "content" in fused.channels and len(ctx.history.items):
        row = fused.channels.index("content")
        # only items that will show a content reason need their closest recent item
        wanted = np.flatnonzero((order == row).any(axis=0) & (shares[row] > 0))
        if len(wanted):
            recent = np.unique(ctx.history.items[-50:])
            picked = items[wanted]
            closest = np.argmax(vectors[recent] @ vectors[picked].T, axis=0)
            like = dict(zip(picked.tolist(), recent[closest].tolist(), strict=True))
    out: list[list[str]] = []
    for col, item in enumerate(items.tolist()):
        reasons = []
        for row in order[:, col].tolist():
            if shares[row, col] <= 0:
                break
            name = fused.channels[row]
            if name == "itemcf" and item in because:
                reasons.append(f"because you watched {catalog[because[item]].display_title}")
            elif name == "content" and item in like:
                reasons.append(content_reason(catalog[like[item]], catalog[item]))
            elif name == "sasrec" and len(ctx.history.items):
                last = catalog[int(ctx.history.items[-1])].display_title
                reasons.append(f"often watched next after {last}")
            elif name == "new":
                genres = catalog[item].genres
                reasons.append(f"new in {genres[0]}" if genres else REASONS["new"])
            else:
                reasons.append(REASONS.get(name, name))
        out.append(reasons)
    return out
