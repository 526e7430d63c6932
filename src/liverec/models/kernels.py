"""Compiled request-path loops (numba), where numpy would need a dozen passes and temporaries.

Each kernel touches only the entries a request needs, accumulating into caller-owned scratch
arrays that are reset entry by entry afterwards, so per-request work follows the candidates,
never the catalog. Compiled on first use and cached on disk (``cache=True``); every kernel has
a numpy twin it is tested against.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray


@njit(cache=True, nogil=True)
def neighbour_scores(
    sources: Any,
    weights: Any,
    indptr: Any,
    neighbours: Any,
    pair_weights: Any,
    inc_source: Any,
    inc_neighbour: Any,
    inc_weight: Any,
    base_weight: Any,
    extra_weight: Any,
    base_right: Any,
    alpha: float,
    shrink: float,
    scratch: Any,
    best: Any,
    because: Any,
    touched: Any,
) -> int:  # pragma: no cover - compiled
    """Add ``weights[s] * c / (n_j^a n_i^(1-a) + shrink)`` for every neighbour i of every
    source j: list entries, then the live increments (which add to the same pairs linearly).

    ``n`` is ``base_weight + extra_weight`` (an index past an array's end counts 0), and
    ``base_right`` holds ``base_weight ** (1 - a)`` for items without new events (a pow costs
    ~40 ns). ``scratch[i]`` gets the sum; ``best[i]`` and ``because[i]`` the largest single
    contribution and its source position (``because`` is -1 for untouched items). Returns
    how many items were touched; they are listed in ``touched``. Written as one loop body:
    numba did not inline helper calls here, and they cost 5x.
    """
    t = 0
    n_base, n_extra, n_right = len(base_weight), len(extra_weight), len(base_right)
    beta = 1.0 - alpha
    rows = len(indptr) - 1
    # pass 0 walks each source's list; pass 1 each increment (one entry per step)
    for pass_ in range(2):
        for s in range(len(sources) if pass_ == 0 else len(inc_source)):
            if pass_ == 0:
                src = s
                j = sources[s]
                if j >= rows:
                    continue
                lo, hi = indptr[j], indptr[j + 1]
            else:
                src = inc_source[s]
                j = sources[src]
                lo, hi = s, s + 1
            nj = (base_weight[j] if j < n_base else 0.0) + (extra_weight[j] if j < n_extra else 0.0)
            left = nj**alpha
            for e in range(lo, hi):
                i = neighbours[e] if pass_ == 0 else inc_neighbour[e]
                if i == j:
                    continue
                fresh = i < n_extra and extra_weight[i] != 0.0
                if i < n_right and not fresh:
                    right = base_right[i]
                else:
                    ni = (base_weight[i] if i < n_base else 0.0) + (
                        extra_weight[i] if fresh else 0.0
                    )
                    right = ni**beta
                d = left * right + shrink
                if d <= 0.0:
                    continue
                c = pair_weights[e] if pass_ == 0 else inc_weight[e]
                v = weights[src] * c / d
                if because[i] < 0:  # the first contribution to item i in this request
                    touched[t] = i
                    t += 1
                    because[i] = src
                scratch[i] += v
                if v > best[i]:
                    best[i] = v
                    because[i] = src
    return t


class Scratch:
    """Per-channel accumulation buffers, one slot per item, grown with the catalog."""

    def __init__(self, n_items: int) -> None:
        self.scores = np.zeros(n_items, np.float64)
        self.best = np.zeros(n_items, np.float64)
        self.because = np.full(n_items, -1, np.int64)  # -1: not touched by this request
        self.touched = np.zeros(n_items, np.int64)

    def ensure(self, n_items: int) -> None:
        """Room for item indices below ``n_items``."""
        if n_items > len(self.scores):
            size = max(n_items, 2 * len(self.scores))
            self.__init__(size)  # type: ignore[misc]

    def take(self, t: int) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
        """(items, summed scores, best source position) of the ``t`` touched items; resets
        exactly those slots."""
        items = self.touched[:t].copy()
        out = self.scores[items], self.because[items]
        self.scores[items] = 0.0
        self.best[items] = 0.0
        self.because[items] = -1
        return items, out[0], out[1]


@njit(cache=True, nogil=True)
def rank_fusion(
    items: Any, offsets: Any, weights: Any, k: float, candidates: Any, shares: Any
) -> int:  # pragma: no cover - compiled
    """Reciprocal-rank shares of concatenated ranked lists (list ``l`` is
    ``items[offsets[l]:offsets[l + 1]]``, each item at most once per list).

    Distinct items go to ``candidates`` in first-seen order; ``shares[l, c]`` (zeroed by the
    caller) gets ``weights[l] / (k + rank)`` in float32, as numpy would compute it. Returns
    the number of candidates. Items are matched through a small open-addressing table sized
    to the lists, so the cost follows the candidates, not the catalog.
    """
    size = 16
    while size < 2 * len(items):
        size *= 2
    keys = np.full(size, -1, np.int64)
    slots = np.empty(size, np.int64)
    c = 0
    for lst in range(len(offsets) - 1):
        for e in range(offsets[lst], offsets[lst + 1]):
            item = items[e]
            h = (item * 0x9E3779B1) & (size - 1)  # odd multiplier: a bijection on the low bits
            while keys[h] != -1 and keys[h] != item:
                h = (h + 1) & (size - 1)
            if keys[h] == -1:
                keys[h] = item
                slots[h] = c
                candidates[c] = item
                c += 1
            inverse_rank = np.float32(1.0 / (k + (e - offsets[lst] + 1)))
            shares[lst, slots[h]] = weights[lst] * inverse_rank
    return c


@njit(cache=True, nogil=True)
def mmr_picks(
    relevance: Any, sim: Any, k: int, lam: float, duplicates: Any, out: Any
) -> int:  # pragma: no cover - compiled
    """Maximal marginal relevance into ``out``; returns how many were picked (see
    ``liverec.serving.rerank.mmr``). ``duplicates`` is (n, n) or (0, 0) for none."""
    n = len(relevance)
    lo, hi = np.inf, -np.inf
    for i in range(n):
        lo = min(lo, relevance[i])
        hi = max(hi, relevance[i])
    gain = np.empty(n)
    for i in range(n):
        gain[i] = lam * ((relevance[i] - lo) / (hi - lo) if hi > lo else 1.0)
    penalty = np.zeros(n)
    check = duplicates.shape[0] == n
    picked = 0
    for _ in range(min(k, n)):
        best, top = -1, -np.inf
        for i in range(n):
            s = gain[i] - penalty[i]
            if s > top:
                best, top = i, s
        if best < 0:
            break  # everything left duplicates something already picked
        out[picked] = best
        picked += 1
        gain[best] = -np.inf  # never picked twice
        for i in range(n):
            if check and duplicates[best, i]:
                gain[i] = -np.inf
            if lam < 1.0:
                penalty[i] = max(penalty[i], (1.0 - lam) * sim[best, i])
    return picked


@njit(cache=True, nogil=True)
def pair_weights_among(
    sources: Any, indptr: Any, neighbours: Any, pair_weights: Any, items: Any, out: Any
) -> None:  # pragma: no cover - compiled
    """``out[s, r] += c(sources[s], items[r])`` for every list entry of each source whose
    neighbour is one of ``items`` (distinct). Items are matched through a small open-addressing
    table, so the cost follows the sources' lists and the items, not the catalog."""
    size = 16
    while size < 2 * len(items):
        size *= 2
    keys = np.full(size, -1, np.int64)
    rows = np.empty(size, np.int64)
    for r in range(len(items)):
        h = (items[r] * 0x9E3779B1) & (size - 1)
        while keys[h] != -1 and keys[h] != items[r]:
            h = (h + 1) & (size - 1)
        keys[h] = items[r]
        rows[h] = r
    for s in range(len(sources)):
        if sources[s] >= len(indptr) - 1:  # an item added since the snapshot has no list
            continue
        for e in range(indptr[sources[s]], indptr[sources[s] + 1]):
            item = np.int64(neighbours[e])
            h = (item * 0x9E3779B1) & (size - 1)
            while keys[h] != -1 and keys[h] != item:
                h = (h + 1) & (size - 1)
            if keys[h] == item:
                out[s, rows[h]] += pair_weights[e]


def warm_up() -> None:
    """Compile (or load from the disk cache) every kernel now, not on a first request.

    A cold compile takes about a second per kernel; the service calls this when it loads a
    snapshot, so no request pays for it (it would otherwise blow the request's time budget).
    """
    i64, f64 = np.zeros(1, np.int64), np.zeros(1)
    scratch = Scratch(1)
    neighbour_scores(
        i64[:0], f64[:0], np.zeros(2, np.int64), np.zeros(1, np.int32), np.zeros(1, np.float32),
        i64[:0], i64[:0], f64[:0], f64, f64, f64, 0.5, 0.0,
        scratch.scores, scratch.best, scratch.because, scratch.touched,
    )  # fmt: skip
    no_duplicates = np.zeros((0, 0), bool)
    mmr_picks(f64, np.zeros((1, 1), np.float32), 1, 0.5, no_duplicates, np.zeros(1, np.int64))
    rank_fusion(
        i64, np.array([0, 1]), np.ones(1, np.float32), 60.0, np.zeros(1, np.int64),
        np.zeros((1, 1), np.float32),
    )  # fmt: skip
    pair_weights_among(
        i64[:0], np.zeros(2, np.int64), np.zeros(1, np.int32), np.zeros(1, np.float32), i64,
        np.zeros((0, 1)),
    )  # fmt: skip
