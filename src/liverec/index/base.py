"""The VectorIndex interface every backend implements, its shared validation, and recall@k."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from liverec.core.errors import ConfigError, LiverecError

IdArray = NDArray[np.int64]


def without(
    ids: IdArray, scores: NDArray[np.float32], exclude: IdArray | None, k: int
) -> tuple[IdArray, NDArray[np.float32]]:
    """The first ``k`` of ranked (ids, scores) that are not in the sorted ``exclude``."""
    if exclude is not None and len(exclude) and len(ids):
        # the insertion point holds the id itself exactly when it is excluded
        ok = exclude.take(np.searchsorted(exclude, ids), mode="clip") != ids
        ids, scores = ids[ok], scores[ok]
    return ids[:k], scores[:k]


VectorArray = NDArray[np.float32]
Metric = Literal["ip", "cosine"]
METRICS: tuple[Metric, ...] = ("ip", "cosine")
META_FILE = "index.json"
FORMAT = 1
_NO_ID = np.iinfo(np.int64).max  # sorts after every real id


class VectorIndex(ABC):
    """Vectors stored under non-negative int64 ids, searched for the highest inner product.

    ``metric="cosine"`` L2-normalises vectors and queries on the way in, so scores are cosine
    similarities. Adding an id that is already stored replaces its vector. Subclasses declare
    ``kind`` and a frozen ``Config`` dataclass (every field with a default) and implement
    ``__len__``, ``_add``, ``_search``, ``_save`` and ``_load``; inputs reach them validated.
    """

    kind: ClassVar[str]
    Config: ClassVar[type[Any]]

    def __init__(self, dim: int, metric: str = "ip", config: Any | None = None) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 1:
            raise ConfigError(f"dim must be a positive integer, got {dim!r}")
        if metric not in METRICS:
            raise ConfigError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
        self.dim = int(dim)
        self.metric: Metric = metric
        self.config = config if config is not None else self.Config()
        if not isinstance(self.config, self.Config):
            raise ConfigError(
                f"{self.kind} expects a {self.Config.__name__}, got {type(self.config).__name__}"
            )
        self._next_id = 0

    @classmethod
    def from_params(cls, dim: int, metric: str = "ip", **params: Any) -> Self:
        """Build with config overrides, rejecting unknown parameter names.

        Raises
        ------
        ConfigError
            If a parameter name is unknown or a value is out of range.
        """
        known = {f.name for f in fields(cls.Config)}
        unknown = sorted(set(params) - known)
        if unknown:
            expected = ", ".join(sorted(known)) or "none"
            raise ConfigError(
                f"index {cls.kind!r} has no parameter {', '.join(unknown)}; expected: {expected}"
            )
        return cls(dim, metric, cls.Config(**params))

    @abstractmethod
    def __len__(self) -> int:
        """Number of ids stored."""

    def add(self, vectors: ArrayLike, ids: ArrayLike | None = None) -> None:
        """Store ``vectors`` (n, dim) under ``ids``; an id already stored gets its vector replaced.

        ``ids`` default to the n ids after the largest id stored so far (0..n-1 on a new index).

        Raises
        ------
        ValueError
            If the vectors have the wrong shape or non-finite values, or the ids are not n
            distinct non-negative integers.
        """
        v = self._prepare(vectors, "vectors")
        if ids is None:
            ids_arr = np.arange(self._next_id, self._next_id + len(v), dtype=np.int64)
        else:
            ids_arr = _check_ids(ids, len(v))
        if len(v) == 0:
            return
        self._add(v, ids_arr)
        self._next_id = max(self._next_id, int(ids_arr.max()) + 1)

    def search(
        self, queries: ArrayLike, k: int, exclude: Sequence[Collection[int]] | None = None
    ) -> tuple[IdArray, VectorArray]:
        """Ids and scores (n_q, k) of the ``k`` best vectors per query, best first.

        A single query of shape (dim,) is treated as (1, dim). ``exclude[i]`` lists ids that
        query i must not return (e.g. items already seen). Rows with fewer than ``k`` results
        are padded with id -1 and score -inf. Equal scores come lower id first.

        Raises
        ------
        ValueError
            If the queries have the wrong shape or non-finite values, ``k`` < 1, or ``exclude``
            does not have one entry per query.
        """
        q = self._prepare(queries, "queries")
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        k = int(k)
        excl = _check_exclude(exclude, len(q))
        if len(self) == 0 or len(q) == 0:
            return padded(len(q), k)
        return self._search(q, k, excl)

    def search_one(
        self, query: VectorArray, k: int, exclude: IdArray | None = None
    ) -> tuple[IdArray, VectorArray]:
        """Candidates for one query on the request path: up to ``k`` (id, score), best first
        as the backend orders them, none of the sorted ids in ``exclude``; no padding and no
        validation (the caller made the query).
        """
        ids, scores = self.search(query, k + (0 if exclude is None else len(exclude)))
        keep = ids[0] >= 0
        return without(ids[0][keep], scores[0][keep], exclude, k)

    @abstractmethod
    def _add(self, vectors: VectorArray, ids: IdArray) -> None: ...

    @abstractmethod
    def _search(
        self, queries: VectorArray, k: int, exclude: list[IdArray] | None
    ) -> tuple[IdArray, VectorArray]: ...

    def _prepare(self, x: ArrayLike, name: str) -> VectorArray:
        a = np.asarray(x, dtype=np.float32)
        if a.ndim == 1:
            a = a.reshape(1, -1)
        if a.ndim != 2 or a.shape[1] != self.dim:
            raise ValueError(
                f"{name} have shape {np.shape(x)}; this index expects (n, {self.dim}) or "
                f"({self.dim},)"
            )
        finite = np.isfinite(a).all(axis=1)
        if not finite.all():
            raise ValueError(
                f"{name} row {int(np.argmin(finite))} has a NaN or infinite value; expected "
                "finite float32 values"
            )
        if self.metric == "cosine":
            # Zero vectors stay zero (cosine 0 to everything) instead of turning into NaN.
            norms = np.linalg.norm(a, axis=1, keepdims=True)
            a = a / np.maximum(norms, np.finfo(np.float32).tiny)
        return np.ascontiguousarray(a, dtype=np.float32)

    @abstractmethod
    def _save(self, path: Path) -> None: ...

    @abstractmethod
    def _load(self, path: Path) -> None: ...

    def save(self, path: Path) -> None:
        """Write the index into the folder ``path``: backend files plus ``index.json``."""
        path.mkdir(parents=True, exist_ok=True)
        self._save(path)
        meta = {
            "format": FORMAT,
            "kind": self.kind,
            "dim": self.dim,
            "metric": self.metric,
            "next_id": self._next_id,
            "config": asdict(self.config),
        }
        # Written last: a folder with index.json in it holds a complete index.
        (path / META_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read an index written by ``save``.

        Raises
        ------
        LiverecError
            If the folder holds no index or an index of another kind.
        """
        meta = read_meta(path)
        if meta["kind"] != cls.kind:
            raise LiverecError(f"{path} holds a {meta['kind']!r} index, not {cls.kind!r}")
        index = cls(int(meta["dim"]), str(meta["metric"]), cls.Config(**meta["config"]))
        index._load(path)
        index._next_id = int(meta["next_id"])
        return index


def read_meta(path: Path) -> dict[str, Any]:
    """The ``index.json`` written by ``VectorIndex.save`` into ``path``.

    Raises
    ------
    LiverecError
        If there is none, or it was written by an incompatible version.
    """
    file = path / META_FILE
    if not file.exists():
        raise LiverecError(f"no saved index in {path} (missing {META_FILE})")
    meta: dict[str, Any] = json.loads(file.read_text())
    if meta.get("format") != FORMAT:
        raise LiverecError(f"{file} has format {meta.get('format')!r}; expected {FORMAT}")
    return meta


def _check_ids(ids: ArrayLike, n: int) -> IdArray:
    a = np.asarray(ids)
    if a.size == 0 and n == 0:
        return np.zeros(0, np.int64)
    if a.shape != (n,) or a.dtype.kind not in "iu":
        raise ValueError(f"ids have shape {a.shape} and dtype {a.dtype}; expected ({n},) integers")
    out = a.astype(np.int64)
    if (out < 0).any():
        raise ValueError(f"ids must be >= 0 (-1 marks padding), got {int(out.min())}")
    if len(np.unique(out)) != n:
        raise ValueError("ids must be distinct within one add() call")
    return out


def _check_exclude(exclude: Sequence[Collection[int]] | None, n_q: int) -> list[IdArray] | None:
    if exclude is None:
        return None
    if len(exclude) != n_q:
        raise ValueError(f"exclude has {len(exclude)} entries; expected one per query ({n_q})")
    return [np.sort(np.fromiter(e, dtype=np.int64, count=len(e))) for e in exclude]


def padded(n_q: int, k: int) -> tuple[IdArray, VectorArray]:
    """Result arrays (n_q, k) holding only padding: id -1, score -inf."""
    return np.full((n_q, k), -1, np.int64), np.full((n_q, k), -np.inf, np.float32)


def keep_best(
    ids: IdArray, scores: VectorArray, k: int, exclude: list[IdArray] | None = None
) -> tuple[IdArray, VectorArray, IdArray]:
    """Best ``k`` candidates per row, highest score then lowest id first, padded; and counts.

    Candidates with id -1, score -inf or an id in ``exclude[row]`` (sorted) are dropped. The third
    array is the number of usable candidates per row (may exceed ``k``).
    """
    keep = (ids >= 0) & (scores > -np.inf)
    if exclude is not None:
        for row, ex in enumerate(exclude):
            if len(ex):
                # ex is sorted: a binary search beats np.isin's fixed ~50 us on short rows.
                at = np.minimum(np.searchsorted(ex, ids[row]), len(ex) - 1)
                keep[row] &= ex[at] != ids[row]
    s = np.where(keep, scores, np.float32(-np.inf))
    order = np.lexsort((np.where(keep, ids, _NO_ID), -s), axis=1)[:, :k]
    # Plain fancy indexing: np.take_along_axis costs more than the search on 1-query calls.
    rows = np.arange(len(ids))[:, None]
    best_ids = np.where(keep[rows, order], ids[rows, order], -1)
    best_scores = s[rows, order]
    if best_ids.shape[1] < k:
        pad_ids, pad_scores = padded(len(ids), k - best_ids.shape[1])
        best_ids = np.hstack([best_ids, pad_ids])
        best_scores = np.hstack([best_scores, pad_scores])
    return best_ids.astype(np.int64, copy=False), best_scores, keep.sum(axis=1)


def grow(a: NDArray[Any], n: int) -> NDArray[Any]:
    """``a`` with room for at least ``n`` rows, doubling so that appends stay amortised O(1)."""
    if len(a) >= n:
        return a
    out = np.empty((max(n, 2 * len(a), 16), *a.shape[1:]), dtype=a.dtype)
    out[: len(a)] = a
    return out


def recall_at_k(approx_ids: ArrayLike, exact_ids: ArrayLike) -> float:
    """Share of the exact top-k ids (padding -1 ignored) that the approximate search found.

    >>> recall_at_k([[1, 2, 3], [4, 5, -1]], [[1, 2, 4], [4, 5, -1]])
    0.8
    >>> recall_at_k([[7, 8]], [[-1, -1]])
    1.0

    Raises
    ------
    ValueError
        If the two arrays do not have the same number of rows.
    """
    approx = np.atleast_2d(np.asarray(approx_ids))
    exact = np.atleast_2d(np.asarray(exact_ids))
    if len(approx) != len(exact):
        raise ValueError(f"approx_ids has {len(approx)} rows, exact_ids {len(exact)}")
    found = total = 0
    for a, e in zip(approx, exact, strict=True):
        e = e[e >= 0]
        total += len(e)
        found += len(np.intersect1d(a[a >= 0], e))
    return found / total if total else 1.0
