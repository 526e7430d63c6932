"""Brute-force numpy index: exact answers, the oracle every approximate backend is checked by."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from liverec.index.base import IdArray, VectorArray, VectorIndex, grow, keep_best


@dataclass(frozen=True)
class ExactConfig:
    """The exact index has nothing to tune."""


class ExactIndex(VectorIndex):
    """Scores every stored vector per query (one float32 matrix product); exact top-k.

    Cost grows linearly with the number of vectors: right up to ~100k items, the ML-100K
    catalogue included, and the reference for recall everywhere else.
    """

    kind: ClassVar[str] = "exact"
    Config: ClassVar[type[Any]] = ExactConfig

    def __init__(self, dim: int, metric: str = "ip", config: Any | None = None) -> None:
        super().__init__(dim, metric, config)
        self._vectors = np.zeros((0, self.dim), np.float32)  # (capacity, dim), rows [:_n] used
        self._ids = np.zeros(0, np.int64)  # row -> id
        self._row: dict[int, int] = {}  # id -> row
        self._n = 0
        self._identity: bool | None = None  # whether row r holds id r (None: not checked)

    def __len__(self) -> int:
        """Number of ids stored."""
        return self._n

    def _add(self, vectors: VectorArray, ids: IdArray) -> None:
        self._identity = None
        rows = np.fromiter((self._row.get(i, -1) for i in ids.tolist()), np.int64, len(ids))
        old = rows >= 0
        self._vectors[rows[old]] = vectors[old]
        new = ~old
        n_new = int(new.sum())
        if n_new == 0:
            return
        self._vectors = grow(self._vectors, self._n + n_new)
        self._ids = grow(self._ids, self._n + n_new)
        new_rows = np.arange(self._n, self._n + n_new)
        self._vectors[new_rows] = vectors[new]
        self._ids[new_rows] = ids[new]
        self._row.update(zip(ids[new].tolist(), new_rows.tolist(), strict=True))
        self._n += n_new

    def _search(
        self, queries: VectorArray, k: int, exclude: list[IdArray] | None
    ) -> tuple[IdArray, VectorArray]:
        ids = self._ids[: self._n]
        scores = queries @ self._vectors[: self._n].T  # (n_q, n)
        if exclude is not None:
            for q, ex in enumerate(exclude):
                seen = [r for r in map(self._row.get, ex.tolist()) if r is not None]
                scores[q, seen] = -np.inf
        n = scores.shape[1]
        rows = np.arange(len(queries))[:, None]
        if k >= n:
            cand = np.broadcast_to(np.arange(n), scores.shape)
        else:
            cand = np.argpartition(-scores, k - 1, axis=1)[:, :k].copy()
            kth = scores[rows, cand].min(axis=1)
            # argpartition picks arbitrarily among scores tied with the k-th; redo those rows
            # over every tied candidate so that the lower id wins, as documented.
            for row in np.flatnonzero((scores >= kth[:, None]).sum(axis=1) > k):
                tied = np.flatnonzero(scores[row] >= kth[row])
                cand[row] = tied[np.lexsort((ids[tied], -scores[row, tied]))[:k]]
        best_ids, best_scores, _ = keep_best(ids[cand], scores[rows, cand], k)
        return best_ids, best_scores

    def search_one(
        self, query: VectorArray, k: int, exclude: IdArray | None = None
    ) -> tuple[IdArray, VectorArray]:
        """One query: a mat-vec and a partial sort (ties in any order); excluded ids are
        scored -inf before selecting, so excluding costs no over-fetch."""
        q = np.asarray(query, np.float32).reshape(-1)
        if self.metric == "cosine":
            q = q / max(float(np.linalg.norm(q)), 1e-30)
        scores = self._vectors[: self._n] @ q
        available = self._n
        if exclude is not None and len(exclude):
            rows = self._rows_of(exclude)
            scores[rows] = -np.inf
            available -= len(rows)
        k = min(k, available)
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        top = np.argpartition(-scores, k - 1)[:k] if k < self._n else np.arange(self._n)
        top = top[np.argsort(-scores[top], kind="stable")]
        return self._ids[top], scores[top]

    def _rows_of(self, ids: IdArray) -> IdArray:
        """Rows of the stored ones among distinct ``ids``."""
        if self._identity is None:  # ids 0..n-1 in row order: the usual catalog index
            self._identity = bool(np.array_equal(self._ids[: self._n], np.arange(self._n)))
        if self._identity:
            return ids[ids < self._n]
        found = (self._row.get(i) for i in ids.tolist())
        return np.fromiter((r for r in found if r is not None), np.int64)

    def _save(self, path: Path) -> None:
        np.savez(path / "vectors.npz", vectors=self._vectors[: self._n], ids=self._ids[: self._n])

    def _load(self, path: Path) -> None:
        with np.load(path / "vectors.npz") as z:
            self._vectors = np.ascontiguousarray(z["vectors"], dtype=np.float32)
            self._ids = z["ids"].astype(np.int64)
        self._n = len(self._ids)
        self._identity = None
        self._row = dict(zip(self._ids.tolist(), range(self._n), strict=True))
