"""Item neighbour lists at any scale: blockwise co-occurrence with capped, time-decayed histories.

A full ``X.T @ X`` grows with the square of the heaviest users' histories (1e9 non-zeros at
10M events). Here each user counts only their ``history_cap`` most recent distinct items, and
a user's pair of items weighs ``w(i) * w(j)`` with ``w(i) = 2 ** (-age_i / (2 * half_life))``
(so a pair's weight halves when the mean age of its two events grows by one half-life; 1 with
no decay, the textbook count of common users). Item rows are computed in blocks whose work,
``sum over the block's users of their capped history length``, stays under a budget, and only
the top ``k`` neighbours of each row are kept, by

    sim(j, i) = c(j, i) / (n(j) ** alpha * n(i) ** (1 - alpha) + shrink),

with ``c`` the pair weight and ``n(i) = sum_u w_u(i) ** 2`` (the count of users, undecayed).
The lists keep the raw pair weights, so the live service can re-score them with its current
counts and add the pairs its events created since.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from liverec.core.arrays import ranges
from liverec.data.arrowio import mapped
from liverec.data.interactions import Interactions
from liverec.engine import Executor, LocalExecutor

DAY = 86_400.0
BLOCK_WORK = 40_000_000  # pair products per block: ~0.5 GB of temporaries at most


@dataclass(frozen=True)
class NeighbourConfig:
    """How neighbour lists are built (``history_cap`` most recent distinct items per user)."""

    k: int = 200
    alpha: float = 0.4
    shrink: float = 10.0
    history_cap: int = 200
    half_life_days: float = 0.0  # 0: no time decay
    workers: int = 0  # local processes for the blocks (0: one per core) without an executor


@dataclass(frozen=True)
class NeighbourLists:
    """Top-k neighbours of every item: CSR rows of neighbour ids and pair weights ``c``."""

    indptr: NDArray[np.int64]  # (n_items + 1,)
    neighbours: NDArray[np.int32]  # (nnz,)
    weights: NDArray[np.float32]  # (nnz,) pair weight c(row, neighbour)
    item_weight: NDArray[np.float64]  # (n_items,) n(i)
    ref_time: float  # the time decay is relative to this (latest training event)
    config: NeighbourConfig

    @property
    def n_items(self) -> int:
        """Items with a row."""
        return len(self.indptr) - 1

    def similarity(self, alpha: float | None = None, shrink: float | None = None) -> sp.csr_matrix:
        """The lists as an items x items similarity matrix (offline scoring)."""
        a = self.config.alpha if alpha is None else alpha
        s = self.config.shrink if shrink is None else shrink
        rows = np.repeat(np.arange(self.n_items), np.diff(self.indptr))
        sims = pair_similarity(self.weights, self.item_weight, rows, self.neighbours, a, s)
        return sp.csr_matrix(
            (sims.astype(np.float32), self.neighbours, self.indptr),
            shape=(self.n_items, self.n_items),
        )

    def decay_weight(self, ts: NDArray[np.float64] | float) -> NDArray[np.float64]:
        """``w`` of events at ``ts`` relative to ``ref_time`` (1 without decay)."""
        hl = self.config.half_life_days
        t = np.asarray(ts, np.float64)
        if hl <= 0:
            return np.ones_like(t)
        w: NDArray[np.float64] = np.exp2(-(self.ref_time - t) / (2.0 * hl * DAY))
        return w

    def save(self, directory: Path) -> None:
        """Write the arrays (``.npy``, memory-mappable) and the config."""
        directory.mkdir(parents=True, exist_ok=True)
        for name in ("indptr", "neighbours", "weights", "item_weight"):
            np.save(directory / f"{name}.npy", getattr(self, name))
        meta = {"ref_time": self.ref_time, "config": asdict(self.config)}
        (directory / "neighbours.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> NeighbourLists:
        """Memory-map lists written by ``save``."""
        meta = json.loads((directory / "neighbours.json").read_text())
        arrays = {
            name: mapped(directory / f"{name}.npy")
            for name in ("indptr", "neighbours", "weights", "item_weight")
        }
        return cls(**arrays, ref_time=meta["ref_time"], config=NeighbourConfig(**meta["config"]))


def pair_similarity(
    weights: NDArray[np.floating[Any]],
    item_weight: NDArray[np.floating[Any]],
    rows: NDArray[np.integer[Any]],
    cols: NDArray[np.integer[Any]],
    alpha: float,
    shrink: float,
) -> NDArray[np.float64]:
    """Similarity of the pairs ``(rows[e], cols[e])`` from their co-occurrence weights."""
    n = np.asarray(item_weight, np.float64)
    return asymmetric_cosine(weights, n[rows], n[cols], alpha, shrink)


def asymmetric_cosine(
    c: NDArray[np.floating[Any]],
    n_source: NDArray[np.floating[Any]],
    n_neighbour: NDArray[np.floating[Any]],
    alpha: float,
    shrink: float,
) -> NDArray[np.float64]:
    """``c / (n_source ** alpha * n_neighbour ** (1 - alpha) + shrink)``, 0 where the
    denominator is 0: the one definition of item-CF similarity. ``kernels.neighbour_scores``
    repeats it inside its compiled loop (numba does not inline calls there);
    tests/features/test_online.py checks that the two agree.

    >>> asymmetric_cosine(np.array([2.0]), np.array([4.0]), np.array([1.0]), 0.5, 0.0).tolist()
    [1.0]
    """
    denom = np.power(n_source, alpha) * np.power(n_neighbour, 1.0 - alpha) + shrink
    weights = np.asarray(c, np.float64)
    sims: NDArray[np.float64] = np.divide(
        weights, denom, out=np.zeros_like(weights), where=denom > 0
    )
    return sims


def capped_matrix(
    data: Interactions, cap: int, half_life_days: float, ref_time: float
) -> sp.csr_matrix:
    """Users x items: each user's ``cap`` most recent distinct items, weighted ``w(age)``.

    A repeated item counts once, at its latest time.
    """
    sorted_data = data.sorted_by_user()
    u = np.asarray(sorted_data.uidx, np.int64)
    i = np.asarray(sorted_data.iidx, np.int64)
    ts = np.asarray(sorted_data.ts, np.float64)
    key = u * data.n_items + i
    # latest occurrence of each (user, item): first in reversed order
    _, first_rev = np.unique(key[::-1], return_index=True)
    latest = np.sort(len(key) - 1 - first_rev)  # back in (user, time) order
    lu = u[latest]
    counts = np.bincount(lu, minlength=data.n_users)
    ends = np.cumsum(counts)
    from_end = ends[lu] - 1 - np.arange(len(latest))  # 0 for each user's newest item
    keep = latest[from_end < cap]
    w = np.ones(len(keep), np.float32)
    if half_life_days > 0:
        w = np.exp2(-(ref_time - ts[keep]) / (2.0 * half_life_days * DAY)).astype(np.float32)
    return sp.csr_matrix(
        (w, (u[keep], i[keep])), shape=(data.n_users, data.n_items), dtype=np.float32
    )


def topk_per_row(
    indptr: NDArray[np.int64], values: NDArray[np.float64], k: int
) -> NDArray[np.bool_]:
    """Mask of the ``k`` largest entries of each CSR row (ties broken by position).

    Rows are grouped by length (powers of two) and each group partitioned as one padded
    matrix, so the cost is linear in the entries rather than a sort of all of them.
    """
    lengths = np.diff(indptr)
    keep = np.zeros(len(values), bool)
    short = lengths <= k
    keep[np.repeat(short, lengths)] = True
    long_rows = np.flatnonzero(~short)
    if not len(long_rows):
        return keep
    bucket = np.ceil(np.log2(lengths[long_rows])).astype(np.int64)
    for b in np.unique(bucket).tolist():
        rows = long_rows[bucket == b]
        width = 1 << b
        lens = lengths[rows]
        pos = np.repeat(indptr[rows], lens) + ranges(lens)  # entries of these rows
        grid = np.full((len(rows), width), -np.inf)
        col = ranges(lens)
        row = np.repeat(np.arange(len(rows)), lens)
        grid[row, col] = values[pos]
        # negated so the k largest are the k smallest; argpartition gives their columns
        best = np.argpartition(-grid, k - 1, axis=1)[:, :k]
        chosen = (indptr[rows][:, None] + best).ravel()
        keep[chosen[(best < lens[:, None]).ravel()]] = True
    return keep


def _blocks(work: NDArray[np.float64], budget: float) -> Iterator[tuple[int, int]]:
    """Consecutive row ranges whose summed work stays under ``budget`` (one row at least)."""
    ends = np.cumsum(work)
    lo = 0
    n = len(work)
    while lo < n:
        base = ends[lo - 1] if lo else 0.0
        hi = int(np.searchsorted(ends, base + budget, side="right"))
        hi = max(hi, lo + 1)
        yield lo, min(hi, n)
        lo = hi


@dataclass(frozen=True)
class _BlockJob:
    """What every block reads (shared with the executor's workers, never written)."""

    xt: sp.csr_matrix  # items x users
    x: sp.csr_matrix  # users x items
    item_weight: NDArray[np.float64]
    config: NeighbourConfig


def _block(
    job: _BlockJob, bounds: tuple[int, int]
) -> tuple[int, NDArray[np.int64], NDArray[np.int32], NDArray[np.float32]]:
    """Top-k neighbours of item rows ``lo:hi``: (lo, row lengths, neighbours, pair weights)."""
    lo, hi = bounds
    c = (job.xt[lo:hi] @ job.x).tocsr()  # (block, n_items) pair weights
    c.sort_indices()
    rows = np.repeat(np.arange(lo, hi), np.diff(c.indptr))
    cols = c.indices.astype(np.int64)
    off_diagonal = cols != rows
    cfg = job.config
    sims = pair_similarity(c.data, job.item_weight, rows, cols, cfg.alpha, cfg.shrink)
    sims[~off_diagonal] = -np.inf
    keep = topk_per_row(c.indptr.astype(np.int64), sims, cfg.k) & off_diagonal & (sims > 0)
    lengths = np.bincount(rows[keep] - lo, minlength=hi - lo).astype(np.int64)
    return lo, lengths, c.indices[keep].astype(np.int32), c.data[keep].astype(np.float32)


def compute_neighbours(
    data: Interactions,
    config: NeighbourConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    executor: Executor | None = None,
) -> NeighbourLists:
    """Neighbour lists of every item of ``data`` (see the module docstring).

    The blocks run on ``executor`` (default: a local pool of ``config.workers`` processes);
    each block's lists depend only on the block, so every executor gives the same lists.
    """
    config = config or NeighbourConfig()
    ref_time = float(np.max(data.ts)) if len(data) else 0.0
    x = capped_matrix(data, config.history_cap, config.half_life_days, ref_time)
    item_weight = np.asarray(x.multiply(x).sum(axis=0), np.float64).ravel()
    xt = x.T.tocsr()
    # work of item i: the capped history lengths of its users (products its row will sum)
    user_len = np.diff(x.indptr).astype(np.float64)
    work = sp.csr_matrix((np.ones(xt.nnz), xt.indices, xt.indptr), shape=xt.shape) @ user_len
    bounds = list(_blocks(np.asarray(work, np.float64), BLOCK_WORK))
    executor = executor or LocalExecutor(config.workers)
    blocks = executor.map(_block, _BlockJob(xt, x, item_weight, config), bounds, progress)
    n_items = data.n_items
    lengths = np.zeros(n_items, np.int64)
    for lo, lens, _, _ in blocks:
        lengths[lo : lo + len(lens)] = lens
    indptr = np.zeros(n_items + 1, np.int64)
    np.cumsum(lengths, out=indptr[1:])
    empty_i, empty_w = np.zeros(0, np.int32), np.zeros(0, np.float32)
    return NeighbourLists(
        indptr=indptr,
        neighbours=np.concatenate([b[2] for b in blocks]) if blocks else empty_i,
        weights=np.concatenate([b[3] for b in blocks]) if blocks else empty_w,
        item_weight=item_weight,
        ref_time=ref_time,
        config=config,
    )
