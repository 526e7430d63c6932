"""Item co-occurrence counts kept current per event, and item-CF similarity rows from them.

Two storages share one interface: dense (a square float32 matrix, right for catalogs up to a
few thousand items: ML-100K is 11 MB) and sparse (the snapshot's CSR counts plus per-row
dictionaries of increments since, for catalogs where a dense matrix does not fit).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

# Above this many items the dense matrix would exceed ~1.6 GB of float32.
DENSE_MAX_ITEMS = 20_000


def cooccurrence_counts(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Items x items: how many users interacted with both (zero diagonal)."""
    x = sp.csr_matrix(matrix, dtype=np.float32)
    x.data[:] = 1.0
    c = (x.T @ x).tocsr()
    c.setdiag(0)
    c.eliminate_zeros()
    return c


class Cooccurrence(ABC):
    """Co-occurrence counts ``c(i, j)`` and per-item user counts ``n(i)``, updated in place."""

    item_users: NDArray[np.float32]

    @property
    def n_items(self) -> int:
        """Number of items the counts cover."""
        return len(self.item_users)

    @abstractmethod
    def grow(self, n_items: int) -> None:
        """Make room for items up to ``n_items`` (new catalog items start at zero)."""

    @abstractmethod
    def add(self, item: int, others: NDArray[np.int64]) -> None:
        """Record a user's first interaction with ``item``; ``others`` are items they had seen."""

    @abstractmethod
    def rows(self, items: NDArray[np.int64]) -> NDArray[np.float32]:
        """Dense count rows ``c(items, :)``, shape (len(items), n_items)."""

    def similarity_rows(
        self, items: NDArray[np.int64], alpha: float, shrink: float, neighbours: int
    ) -> NDArray[np.float32]:
        """``c(j, i) / (n_j^alpha n_i^(1-alpha) + shrink)`` for j in ``items``, top-N pruned.

        The same formula as ``liverec.models.itemcf.item_similarity``, on live counts.
        """
        counts = self.rows(items)  # (L, n_items)
        n = self.item_users
        denom = np.outer(np.power(n[items], alpha), np.power(n, 1.0 - alpha)) + shrink
        sim = np.divide(counts, denom, out=np.zeros_like(counts), where=denom > 0)
        if 0 < neighbours < sim.shape[1] - 1:
            cut = np.partition(sim, -neighbours, axis=1)[:, -neighbours][:, None]
            sim[sim < cut] = 0.0
        return sim


class DenseCooccurrence(Cooccurrence):
    """Counts in one square matrix with spare capacity, so new items rarely reallocate."""

    def __init__(self, counts: sp.csr_matrix, item_users: NDArray[np.floating]) -> None:
        n = counts.shape[0]
        self._cap = n
        self._c = np.zeros((n, n), np.float32)
        if n:
            counts.toarray(out=self._c)
        self.item_users = np.asarray(item_users, np.float32).copy()

    def grow(self, n_items: int) -> None:
        """Extend to ``n_items``, doubling capacity when full."""
        old = self.n_items
        if n_items <= old:
            return
        if n_items > self._cap:
            cap = max(n_items, int(self._cap * 1.5) + 64)
            bigger = np.zeros((cap, cap), np.float32)
            bigger[:old, :old] = self._c[:old, :old]
            self._c, self._cap = bigger, cap
        self.item_users = np.concatenate([self.item_users, np.zeros(n_items - old, np.float32)])

    def add(self, item: int, others: NDArray[np.int64]) -> None:
        """Increment ``c(item, others)`` and ``c(others, item)``; O(len(others))."""
        self.item_users[item] += 1.0
        if len(others):
            self._c[item, others] += 1.0
            self._c[others, item] += 1.0

    def rows(self, items: NDArray[np.int64]) -> NDArray[np.float32]:
        """Copies of the requested rows."""
        return self._c[np.asarray(items, np.int64), : self.n_items]


class SparseCooccurrence(Cooccurrence):
    """The snapshot's CSR counts plus per-row dictionaries of the increments since."""

    def __init__(self, counts: sp.csr_matrix, item_users: NDArray[np.floating]) -> None:
        self._base = sp.csr_matrix(counts, dtype=np.float32)
        self._delta: defaultdict[int, defaultdict[int, float]] = defaultdict(
            lambda: defaultdict(float)
        )
        self.item_users = np.asarray(item_users, np.float32).copy()

    def grow(self, n_items: int) -> None:
        """Extend the per-item counts; the base matrix keeps its shape (new rows are deltas)."""
        if n_items > self.n_items:
            extra = np.zeros(n_items - self.n_items, np.float32)
            self.item_users = np.concatenate([self.item_users, extra])

    def add(self, item: int, others: NDArray[np.int64]) -> None:
        """Increment both directions in the delta dictionaries."""
        self.item_users[item] += 1.0
        row = self._delta[item]
        for j in others.tolist():
            row[j] += 1.0
            self._delta[j][item] += 1.0

    def rows(self, items: NDArray[np.int64]) -> NDArray[np.float32]:
        """Base rows (where the item existed at snapshot time) plus deltas."""
        items = np.asarray(items, np.int64)
        out = np.zeros((len(items), self.n_items), np.float32)
        n_base = self._base.shape[0]
        in_base = items < n_base
        if in_base.any():
            block = self._base[items[in_base]].toarray()
            out[np.flatnonzero(in_base), : block.shape[1]] = block
        for r, i in enumerate(items.tolist()):
            d = self._delta.get(i)
            if d:
                out[r, list(d)] += np.fromiter(d.values(), np.float32, len(d))
        return out


def make_cooccurrence(counts: sp.csr_matrix, item_users: NDArray[np.floating]) -> Cooccurrence:
    """Dense storage when the catalog is small enough, sparse otherwise."""
    if counts.shape[0] <= DENSE_MAX_ITEMS:
        return DenseCooccurrence(counts, item_users)
    return SparseCooccurrence(counts, item_users)
