"""Columnar interaction log and per-user, time-ordered histories built from it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from liverec.data.arrowio import mapped

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
COLUMNS = ("uidx", "iidx", "ts", "etype", "value")


@dataclass(frozen=True)
class Interactions:
    """Events as parallel columns over internal indices, kept in arrival (file) order."""

    uidx: NDArray[np.int32]
    iidx: NDArray[np.int32]
    ts: FloatArray
    etype: NDArray[np.int8]
    value: NDArray[np.float32]
    n_users: int
    n_items: int

    def __post_init__(self) -> None:
        n = len(self.uidx)
        for name in ("iidx", "ts", "etype", "value"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"column {name} has {len(getattr(self, name))} rows, expected {n}")
        if n and (self.uidx.min() < 0 or self.iidx.min() < 0):
            raise ValueError("indices must be >= 0")
        if n and (self.uidx.max() >= self.n_users or self.iidx.max() >= self.n_items):
            raise ValueError(
                f"indices exceed the declared shape ({self.n_users} users x {self.n_items} items)"
            )

    @classmethod
    def from_arrays(
        cls,
        uidx: Sequence[int] | NDArray[np.integer],
        iidx: Sequence[int] | NDArray[np.integer],
        ts: Sequence[float] | NDArray[np.floating] | None = None,
        *,
        n_users: int | None = None,
        n_items: int | None = None,
        etype: Sequence[int] | NDArray[np.integer] | None = None,
        value: Sequence[float] | NDArray[np.floating] | None = None,
    ) -> Interactions:
        """Build from array-likes; timestamps default to row order, values to 1."""
        u = np.asarray(uidx, dtype=np.int32)
        i = np.asarray(iidx, dtype=np.int32)
        n = len(u)
        return cls(
            uidx=u,
            iidx=i,
            ts=np.arange(n, dtype=np.float64) if ts is None else np.asarray(ts, dtype=np.float64),
            etype=np.zeros(n, np.int8) if etype is None else np.asarray(etype, dtype=np.int8),
            value=np.ones(n, np.float32) if value is None else np.asarray(value, np.float32),
            n_users=int(u.max(initial=-1)) + 1 if n_users is None else n_users,
            n_items=int(i.max(initial=-1)) + 1 if n_items is None else n_items,
        )

    @classmethod
    def load(cls, directory: Path, n_users: int, n_items: int) -> Interactions:
        """Memory-map the columns ``save`` wrote (trusted: not re-validated, nothing read yet)."""
        arrays = {c: mapped(directory / f"{c}.npy") for c in COLUMNS}
        out = cls.__new__(cls)
        for name, value in {**arrays, "n_users": n_users, "n_items": n_items}.items():
            object.__setattr__(out, name, value)
        return out

    def save(self, directory: Path) -> None:
        """Write one ``.npy`` file per column into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        for c in COLUMNS:
            np.save(directory / f"{c}.npy", np.ascontiguousarray(getattr(self, c)))

    def __len__(self) -> int:
        return len(self.uidx)

    def is_sorted_by_user(self, chunk: int = 10_000_000) -> bool:
        """Whether rows are ordered by user, then time (the stored order).

        Checked in slices (overlapping by one row), so the temporaries stay small at 100M rows.
        """
        for start in range(0, max(len(self) - 1, 0), chunk):
            u = self.uidx[start : start + chunk + 1]
            du = np.diff(u)
            if (du < 0).any():
                return False
            if (np.diff(self.ts[start : start + chunk + 1])[du == 0] < 0).any():
                return False
        return True

    def sorted_by_user(self) -> Interactions:
        """The rows ordered by user, then time; ties keep their current order."""
        return self if self.is_sorted_by_user() else self.select(self.time_order())

    def user_indptr(self) -> IntArray:
        """Row range of each user, for rows sorted by user: user u is ``indptr[u]:indptr[u+1]``."""
        counts = np.bincount(self.uidx, minlength=self.n_users)
        indptr = np.zeros(self.n_users + 1, np.int64)
        np.cumsum(counts, out=indptr[1:])
        return indptr

    def select(self, rows: NDArray[np.bool_] | IntArray) -> Self:
        """The interactions at ``rows`` (boolean mask or positions), same shape."""
        return type(self)(
            uidx=self.uidx[rows],
            iidx=self.iidx[rows],
            ts=self.ts[rows],
            etype=self.etype[rows],
            value=self.value[rows],
            n_users=self.n_users,
            n_items=self.n_items,
        )

    def time_order(self) -> IntArray:
        """Row positions sorted by (user, timestamp); ties keep file order (stable)."""
        by_ts = np.argsort(self.ts, kind="stable")
        return by_ts[np.argsort(self.uidx[by_ts], kind="stable")].astype(np.int64)

    def to_csr(self, *, binary: bool = True) -> sp.csr_matrix:
        """User x item matrix (float32); repeated pairs count once when ``binary``."""
        data = np.ones(len(self), np.float32) if binary else self.value.astype(np.float32)
        m = sp.csr_matrix(
            (data, (self.uidx, self.iidx)), shape=(self.n_users, self.n_items), dtype=np.float32
        )
        m.sum_duplicates()
        if binary:
            m.data[:] = 1.0
        return m

    def histories(self) -> Histories:
        """Each user's items in time order (stable on ties); no copy when already sorted."""
        indptr = self.user_indptr()
        if self.is_sorted_by_user():
            return Histories(indptr, self.iidx, self.ts, self.n_items)
        order = self.time_order()
        return Histories(indptr, self.iidx[order], self.ts[order], self.n_items)

    def item_counts(self) -> IntArray:
        """Number of distinct users per item."""
        m = self.to_csr()
        return np.bincount(m.indices, minlength=self.n_items).astype(np.int64)

    def concat(self, other: Interactions) -> Interactions:
        """Rows of ``self`` then ``other`` (shapes must agree)."""
        if (self.n_users, self.n_items) != (other.n_users, other.n_items):
            raise ValueError("cannot concatenate interactions of different shapes")
        return Interactions(
            uidx=np.concatenate([self.uidx, other.uidx]),
            iidx=np.concatenate([self.iidx, other.iidx]),
            ts=np.concatenate([self.ts, other.ts]),
            etype=np.concatenate([self.etype, other.etype]),
            value=np.concatenate([self.value, other.value]),
            n_users=self.n_users,
            n_items=self.n_items,
        )


@dataclass(frozen=True)
class Histories:
    """Ragged per-user item sequences, oldest first: row u is ``items[indptr[u]:indptr[u+1]]``."""

    indptr: IntArray
    items: NDArray[np.integer[Any]]  # int32 when read from a dataset, int64 when built
    ts: FloatArray
    n_items: int

    @classmethod
    def from_lists(
        cls,
        sequences: Sequence[Sequence[int] | IntArray],
        n_items: int,
        timestamps: Sequence[Sequence[float] | FloatArray] | None = None,
    ) -> Histories:
        """Build from one item sequence per user (oldest first)."""
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        indptr = np.zeros(len(sequences) + 1, np.int64)
        np.cumsum(lengths, out=indptr[1:])
        items = (
            np.concatenate([np.asarray(s, np.int64) for s in sequences])
            if len(sequences) and indptr[-1]
            else np.zeros(0, np.int64)
        )
        if timestamps is None:
            ts = np.zeros(len(items), np.float64)
        else:
            ts = (
                np.concatenate([np.asarray(t, np.float64) for t in timestamps])
                if len(items)
                else np.zeros(0, np.float64)
            )
        if len(items) and (items.min() < 0 or items.max() >= n_items):
            raise ValueError(f"history items must lie in [0, {n_items}), got {items.max()}")
        return cls(indptr, items, ts, n_items)

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def __getitem__(self, u: int) -> IntArray:
        return np.asarray(self.items[self.indptr[u] : self.indptr[u + 1]], np.int64)

    def lengths(self) -> IntArray:
        """Number of events per user."""
        return np.diff(self.indptr)

    def take(self, users: IntArray) -> Histories:
        """The histories of ``users``, in that order."""
        starts, ends = self.indptr[users], self.indptr[users + 1]
        lengths = ends - starts
        indptr = np.zeros(len(users) + 1, np.int64)
        np.cumsum(lengths, out=indptr[1:])
        pos = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
        return Histories(indptr, self.items[pos], self.ts[pos], self.n_items)

    @cached_property
    def seen(self) -> sp.csr_matrix:
        """Binary users x items "has interacted" matrix (built once)."""
        return self.to_csr()

    def to_csr(self, *, recency_decay: float = 1.0) -> sp.csr_matrix:
        """Users x items matrix; entries are ``recency_decay ** steps_from_newest`` (max per item).

        With the default decay of 1 this is the binary "has interacted" matrix.
        """
        lengths = self.lengths()
        rows = np.repeat(np.arange(len(self), dtype=np.int64), lengths)
        if recency_decay == 1.0:
            data = np.ones(len(self.items), np.float32)
        else:
            # steps from the newest event of the same user: 0 for the last one
            steps = np.repeat(self.indptr[1:], lengths) - 1 - np.arange(len(self.items))
            data = np.power(recency_decay, steps).astype(np.float32)
        m = sp.coo_matrix(
            (data, (rows, self.items)), shape=(len(self), self.n_items), dtype=np.float32
        ).tocsr()
        # coo->csr sums duplicates; a repeated item should count once, at its most recent weight
        if m.nnz != len(self.items):
            m = _max_duplicates(
                rows, np.asarray(self.items, np.int64), data, (len(self), self.n_items)
            )
        return m


def _max_duplicates(
    rows: IntArray, cols: IntArray, data: NDArray[np.float32], shape: tuple[int, int]
) -> sp.csr_matrix:
    """CSR matrix keeping the largest value for each repeated (row, col)."""
    key = rows * shape[1] + cols
    order = np.lexsort((-data, key))
    first = np.ones(len(order), bool)
    first[1:] = key[order][1:] != key[order][:-1]
    keep = order[first]
    return sp.csr_matrix((data[keep], (rows[keep], cols[keep])), shape=shape, dtype=np.float32)
