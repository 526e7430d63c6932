"""Item co-occurrence counts kept current per event, and item-CF similarity rows from them.

Two storages share one interface: dense (a square float32 matrix, right for catalogs up to a
few thousand items: ML-100K is 11 MB) and sparse (the snapshot's CSR counts plus per-row
dictionaries of increments since, for catalogs where a dense matrix does not fit).

The dense storage can also keep the unpruned similarity matrix itself current: an event
changes one item's count and its co-occurrences, which changes exactly one row and one column
of the similarity, so ingest rewrites those (O(n_items)) and a request only gathers rows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

# Above this many items the two dense matrices (counts, similarity) would exceed ~800 MB.
DENSE_MAX_ITEMS = 10_000


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
        """Record a user's first interaction with ``item``; ``others`` are items they had seen.

        Derived data (a kept similarity matrix) is brought up to date by ``refresh``.
        """

    def refresh(self, items: NDArray[np.int64]) -> None:  # noqa: B027 - optional hook
        """Bring derived data up to date after ``add`` calls that touched ``items``."""

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

    def __init__(
        self,
        counts: sp.csr_matrix,
        item_users: NDArray[np.floating],
        similarity: tuple[float, float] | None = None,
    ) -> None:
        n = counts.shape[0]
        self._cap = n
        self._c = np.zeros((n, n), np.float32)
        if n:
            counts.toarray(out=self._c)
        self.item_users = np.asarray(item_users, np.float32).copy()
        # (alpha, shrink) of the similarity kept current, or None to compute rows per request
        self.kept = similarity
        self._s = np.zeros((0, 0), np.float32)
        if similarity is not None:
            self._rebuild_similarity()

    def _rebuild_similarity(self) -> None:
        assert self.kept is not None
        alpha, shrink = self.kept
        n = self.n_items
        self._left = np.power(self.item_users, alpha).astype(np.float32)
        self._right = np.power(self.item_users, 1.0 - alpha).astype(np.float32)
        denom = np.outer(self._left, self._right) + shrink
        self._s = np.zeros((self._cap, self._cap), np.float32)
        np.divide(self._c[:n, :n], denom, out=self._s[:n, :n], where=denom > 0)

    def grow(self, n_items: int) -> None:
        """Extend to ``n_items``, doubling capacity when full."""
        old = self.n_items
        if n_items <= old:
            return
        self.item_users = np.concatenate([self.item_users, np.zeros(n_items - old, np.float32)])
        if n_items > self._cap:
            cap = max(n_items, int(self._cap * 1.5) + 64)
            bigger = np.zeros((cap, cap), np.float32)
            bigger[:old, :old] = self._c[:old, :old]
            self._c, self._cap = bigger, cap
            if self.kept is not None:
                self._rebuild_similarity()
                return
        if self.kept is not None:
            extra = np.zeros(n_items - old, np.float32)
            self._left = np.concatenate([self._left, extra])
            self._right = np.concatenate([self._right, extra])

    def add(self, item: int, others: NDArray[np.int64]) -> None:
        """Increment ``c(item, others)`` and ``c(others, item)`` (O(len(others)))."""
        self.item_users[item] += 1.0
        if len(others):
            self._c[item, others] += 1.0
            self._c[others, item] += 1.0

    def refresh(self, items: NDArray[np.int64]) -> None:
        """Recompute the kept similarity's rows and columns of ``items`` (one batch, O(n))."""
        if self.kept is None or not len(items):
            return
        alpha, shrink = self.kept
        n = self.n_items
        t = np.unique(np.asarray(items, np.int64))
        # An item's count changed, and so did its co-occurrences: exactly its row and column.
        nu = self.item_users[t]
        self._left[t] = np.power(nu, alpha)
        self._right[t] = np.power(nu, 1.0 - alpha)
        row_den = np.outer(self._left[t], self._right[:n]) + shrink  # (T, n)
        self._s[t, :n] = np.divide(
            self._c[t, :n], row_den, out=np.zeros_like(row_den), where=row_den > 0
        )
        col_den = np.outer(self._left[:n], self._right[t]) + shrink  # (n, T)
        self._s[:n, t] = np.divide(
            self._c[:n, t], col_den, out=np.zeros_like(col_den), where=col_den > 0
        )

    def rows(self, items: NDArray[np.int64]) -> NDArray[np.float32]:
        """Copies of the requested rows."""
        return self._c[np.asarray(items, np.int64), : self.n_items]

    def similarity_rows(
        self, items: NDArray[np.int64], alpha: float, shrink: float, neighbours: int
    ) -> NDArray[np.float32]:
        """The kept similarity rows when they match the request, else computed from counts."""
        pruned = 0 < neighbours < self.n_items - 1
        if self.kept == (alpha, shrink) and not pruned:
            return self._s[np.asarray(items, np.int64), : self.n_items]
        return super().similarity_rows(items, alpha, shrink, neighbours)


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


def make_cooccurrence(
    counts: sp.csr_matrix,
    item_users: NDArray[np.floating],
    similarity: tuple[float, float] | None = None,
) -> Cooccurrence:
    """Dense storage (keeping ``similarity`` = (alpha, shrink) current) when the catalog is
    small enough, sparse otherwise."""
    if counts.shape[0] <= DENSE_MAX_ITEMS:
        return DenseCooccurrence(counts, item_users, similarity)
    return SparseCooccurrence(counts, item_users)
