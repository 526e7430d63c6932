"""Ranking and beyond-accuracy metrics as pure functions over top-k lists.

Every accuracy metric here takes ``ranks``: the 1-based position of each user's held-out item in
that user's recommendation list, or 0 when it is not in the list. With a single held-out item per
user (leave-last-out) HR@K is the share of users whose item is in the top K, NDCG@K reduces to
``1 / log2(rank + 1)`` (the ideal DCG is 1), and MRR@K is ``1 / rank`` (0 beyond K).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray


def target_ranks(top: ArrayLike, targets: ArrayLike) -> NDArray[np.int64]:
    """1-based position of ``targets[u]`` in row ``top[u]``, 0 if absent.

    >>> target_ranks([[5, 3, 9], [1, 2, 4], [7, 8, 6]], [5, 4, 0]).tolist()
    [1, 3, 0]
    """
    top_arr = np.asarray(top)
    hit = top_arr == np.asarray(targets)[:, None]
    return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0).astype(np.int64)


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def hit_rate_at_k(ranks: ArrayLike, k: int) -> float:
    """Share of users whose held-out item is in their top ``k``.

    >>> hit_rate_at_k([1, 3, 0, 12], k=10)
    0.5
    """
    _check_k(k)
    r = np.asarray(ranks)
    return float(np.mean((r >= 1) & (r <= k))) if len(r) else 0.0


def ndcg_at_k(ranks: ArrayLike, k: int) -> float:
    """Mean NDCG@k with one relevant item: ``1/log2(rank+1)`` inside the top k, else 0.

    A hit at rank 1 scores 1, at rank 3 scores 1/log2(4) = 0.5, a miss 0:

    >>> ndcg_at_k([1], k=10), ndcg_at_k([3], k=10), ndcg_at_k([0], k=10)
    (1.0, 0.5, 0.0)
    >>> round(ndcg_at_k([1, 3, 0, 12], k=10), 6)   # (1 + 0.5 + 0 + 0) / 4
    0.375
    """
    _check_k(k)
    r = np.asarray(ranks, dtype=np.float64)
    if not len(r):
        return 0.0
    hit = (r >= 1) & (r <= k)
    gains = np.zeros_like(r)
    gains[hit] = 1.0 / np.log2(r[hit] + 1.0)
    return float(gains.mean())


def mrr_at_k(ranks: ArrayLike, k: int) -> float:
    """Mean reciprocal rank, counting ranks beyond ``k`` as 0.

    >>> mrr_at_k([1, 4, 0, 12], k=10)   # (1 + 0.25 + 0 + 0) / 4
    0.3125
    """
    _check_k(k)
    r = np.asarray(ranks, dtype=np.float64)
    if not len(r):
        return 0.0
    hit = (r >= 1) & (r <= k)
    rr = np.zeros_like(r)
    rr[hit] = 1.0 / r[hit]
    return float(rr.mean())


def catalog_coverage(top: ArrayLike, n_items: int, k: int) -> float:
    """Share of the catalog that appears in at least one top-``k`` list.

    >>> catalog_coverage([[0, 1], [1, 2]], n_items=8, k=2)
    0.375
    """
    _check_k(k)
    shown = np.unique(np.asarray(top)[:, :k])
    shown = shown[shown >= 0]
    return float(len(shown) / n_items)


def intra_list_diversity(top: ArrayLike, features: sp.spmatrix | ArrayLike, k: int) -> float:
    """Mean pairwise Jaccard distance between the feature sets (e.g. genres) in each top-``k``.

    ``features`` is a binary items x features matrix. Two items without any feature count as
    identical (distance 0); one with and one without as fully different (distance 1).

    Genres {A}, {A, B}, {C}: distances 1 - 1/2, 1, 1, mean 5/6:

    >>> g = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1]])
    >>> round(intra_list_diversity([[0, 1, 2]], g, k=3), 6)
    0.833333

    Padding (-1, a list shorter than ``k``) is left out; a list of one item has diversity 0:

    >>> round(intra_list_diversity([[0, 1, 2], [2, -1, -1]], g, k=3), 6)
    0.416667
    """
    _check_k(k)
    lists = np.asarray(top)[:, :k]
    n_users = len(lists)
    feats = sp.csr_matrix(features, dtype=np.float32)
    sizes = np.asarray(feats.sum(axis=1)).ravel()
    total = 0.0
    for padded in lists:
        row = padded[padded >= 0]
        if len(row) < 2:
            continue
        iu, ju = np.triu_indices(len(row), k=1)
        f = feats[row].toarray()
        inter = (f @ f.T)[iu, ju]
        union = sizes[row][iu] + sizes[row][ju] - inter
        sim = np.divide(inter, union, out=np.ones_like(inter), where=union > 0)
        total += float(np.mean(1.0 - sim))
    return total / n_users if n_users else 0.0


def novelty(top: ArrayLike, item_users: ArrayLike, n_users: int, k: int) -> float:
    """Mean self-information ``-log2 p(i)`` of recommended items, ``p(i) = (users(i)+1)/(n+1)``.

    ``item_users[i]`` is how many training users interacted with item ``i``; the +1 smoothing
    keeps unseen items finite. Items every user saw score 0 bits, rarer ones more:

    >>> novelty([[0, 1]], item_users=[3, 0], n_users=3, k=2)   # (0 + 2) / 2
    1.0
    >>> novelty([[1, -1]], item_users=[3, 0], n_users=3, k=2)  # padding (-1) left out
    2.0
    """
    _check_k(k)
    counts = np.asarray(item_users, dtype=np.float64)
    info = -np.log2((counts + 1.0) / (n_users + 1.0))
    lists = np.asarray(top)[:, :k]
    shown = lists[lists >= 0]
    return float(info[shown].mean()) if shown.size else 0.0
