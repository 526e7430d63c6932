"""faiss backends: HNSW graphs (float32 or int8 storage) and IVF inverted lists.

faiss is imported lazily, so that ``liverec.index`` loads without it and says what is missing.
Every backend searches by inner product (``metric="cosine"`` vectors arrive normalised).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from liverec.core.errors import ConfigError, LiverecError
from liverec.index.base import IdArray, VectorArray, VectorIndex, grow, keep_best, without

INDEX_FILE = "index.faiss"
# Out-of-range values are clipped by int8 storage; beyond this share of the trained range
# retraining (a rebuild) costs less accuracy than clipping does.
SQ_RANGE_SLACK = 0.1


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as e:
        raise LiverecError(
            "the hnsw, hnsw-sq8 and ivf indexes need faiss: pip install faiss-cpu==1.15.1 "
            "(or use the 'exact' index)"
        ) from e
    return faiss


def set_threads(n: int) -> None:
    """Set the number of OpenMP threads faiss uses, process-wide.

    Raises
    ------
    ValueError
        If ``n`` < 1.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be an integer >= 1, got {n!r}")
    _faiss().omp_set_num_threads(n)


def _check_positive(config: Any, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be >= 1, got {value}")


class _FaissIndex(VectorIndex):
    """Shared construction and over-fetching search of the faiss backends.

    ``config.threads`` (default 1) is applied at construction; ``None`` leaves faiss's OpenMP
    setting alone. One thread because requests search one query at a time, where OpenMP
    start-up and contention on a 2-core machine cost more than they give (ENVIRONMENT.md);
    call ``set_threads`` before a large batch build or batch search to use more.
    """

    def __init__(self, dim: int, metric: str = "ip", config: Any | None = None) -> None:
        super().__init__(dim, metric, config)
        if self.config.threads is not None:
            set_threads(self.config.threads)
        self._index: Any = self._new_index()

    @abstractmethod
    def _new_index(self) -> Any: ...

    @abstractmethod
    def _raw_search(self, queries: VectorArray, fetch: int) -> tuple[IdArray, VectorArray]:
        """Up to ``fetch`` candidates per query: external ids (-1 for none or stale), scores."""

    def _stored(self) -> int:
        """Entries faiss holds, stale ones included."""
        return int(self._index.ntotal)

    def _search(
        self, queries: VectorArray, k: int, exclude: list[IdArray] | None
    ) -> tuple[IdArray, VectorArray]:
        stored = self._stored()
        n_ex = max((len(e) for e in exclude), default=0) if exclude is not None else 0
        # Excluded and stale entries take result slots: fetch enough to still fill k, and
        # double for the rows that come back short until the whole index has been asked.
        fetch = min(stored, -(-(k + n_ex) * stored // len(self)))
        ids, scores = self._raw_search(queries, fetch)
        out_ids, out_scores, found = keep_best(ids, scores, k, exclude)
        todo = np.flatnonzero(found < k)
        while len(todo) and fetch < stored:
            fetch = min(stored, 2 * fetch)
            ids, scores = self._raw_search(queries[todo], fetch)
            ex = None if exclude is None else [exclude[i] for i in todo]
            out_ids[todo], out_scores[todo], found = keep_best(ids, scores, k, ex)
            todo = todo[found < k]
        return out_ids, out_scores

    def search_one(
        self, query: VectorArray, k: int, exclude: IdArray | None = None
    ) -> tuple[IdArray, VectorArray]:
        """One query straight to faiss (the general ``search`` validates and pads), fetching
        past the excluded ids."""
        q = np.ascontiguousarray(query, np.float32).reshape(1, -1)
        if self.metric == "cosine":
            q = q / max(float(np.linalg.norm(q)), 1e-30)
        extra = 0 if exclude is None else len(exclude)
        ids, scores = self._raw_search(q, min(k + extra, self._stored()))
        keep = ids[0] >= 0
        return without(ids[0][keep].astype(np.int64), scores[0][keep], exclude, k)

    def _save(self, path: Path) -> None:
        _faiss().write_index(self._index, str(path / INDEX_FILE))

    def _load(self, path: Path) -> None:
        self._index = _faiss().read_index(str(path / INDEX_FILE))


@dataclass(frozen=True)
class HNSWConfig:
    """HNSW graph degree ``m``, build and search beam widths, int8 storage, faiss threads."""

    m: int = 16
    ef_construction: int = 200
    ef_search: int = 64
    quantize: bool = False
    threads: int | None = 1

    def __post_init__(self) -> None:
        _check_positive(self, "m", "ef_construction", "ef_search", "threads")


@dataclass(frozen=True)
class HNSWSQ8Config(HNSWConfig):
    """HNSW over int8 scalar-quantised vectors (a quarter of the float32 memory)."""

    quantize: bool = True


class HNSWIndex(_FaissIndex):
    """faiss IndexHNSWFlat (or IndexHNSWSQ with int8 codes) by inner product.

    HNSW cannot delete, so replacing an id marks its old graph node stale (kept for
    navigation, never returned; search over-fetches past it) and appends a new node. When
    stale nodes outnumber live ones the graph is rebuilt from the live vectors, which bounds
    the over-fetch at 2x and costs amortised O(1) re-insertions per replacement. int8 storage
    is trained on the first vectors added; a later batch far outside that range triggers a
    retrain and rebuild (re-encoding stored vectors from their int8 codes).
    """

    kind: ClassVar[str] = "hnsw"
    Config: ClassVar[type[Any]] = HNSWConfig

    def __init__(self, dim: int, metric: str = "ip", config: Any | None = None) -> None:
        super().__init__(dim, metric, config)
        self._labels = np.zeros(0, np.int64)  # faiss position -> id, -1 when stale
        self._pos: dict[int, int] = {}  # id -> faiss position of its live node
        self._sq_lo: VectorArray | None = None  # int8 trained range, per dimension
        self._sq_hi: VectorArray | None = None

    def __len__(self) -> int:
        """Number of ids stored."""
        return len(self._pos)

    def _new_index(self) -> Any:
        faiss, c = _faiss(), self.config
        if c.quantize:
            index = faiss.IndexHNSWSQ(
                self.dim, faiss.ScalarQuantizer.QT_8bit, c.m, faiss.METRIC_INNER_PRODUCT
            )
        else:
            index = faiss.IndexHNSWFlat(self.dim, c.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = c.ef_construction
        index.hnsw.efSearch = c.ef_search
        return index

    def _add(self, vectors: VectorArray, ids: IdArray) -> None:
        for i in ids.tolist():
            pos = self._pos.pop(i, None)
            if pos is not None:
                self._labels[pos] = -1
        if self.config.quantize and not self._in_sq_range(vectors):
            self._rebuild(vectors, ids, retrain=True)
            return
        start = self._stored()
        self._index.add(vectors)
        self._labels = grow(self._labels, start + len(ids))
        self._labels[start : start + len(ids)] = ids
        self._pos.update(zip(ids.tolist(), range(start, start + len(ids)), strict=True))
        if self._stored() - len(self) > len(self):
            self._rebuild(vectors[:0], ids[:0], retrain=False)

    def _in_sq_range(self, vectors: VectorArray) -> bool:
        if self._sq_lo is None or self._sq_hi is None:
            return False
        slack = SQ_RANGE_SLACK * (self._sq_hi - self._sq_lo)
        return bool(((vectors >= self._sq_lo - slack) & (vectors <= self._sq_hi + slack)).all())

    def _rebuild(self, vectors: VectorArray, ids: IdArray, retrain: bool) -> None:
        live = np.flatnonzero(self._labels[: self._stored()] >= 0)
        old = self._index.reconstruct_batch(live) if len(live) else vectors[:0]
        all_vectors = np.ascontiguousarray(np.vstack([old, vectors]), dtype=np.float32)
        all_ids = np.concatenate([self._labels[live], ids])
        if retrain:
            self._index = self._new_index()
            self._index.train(all_vectors)
            self._read_sq_range()
        else:
            # reset() keeps the int8 training, so codes re-encode to themselves.
            self._index.reset()
        self._index.add(all_vectors)
        self._labels = all_ids.copy()
        self._pos = dict(zip(all_ids.tolist(), range(len(all_ids)), strict=True))

    def _read_sq_range(self) -> None:
        storage = _faiss().downcast_index(self._index.storage)
        trained = _faiss().vector_to_array(storage.sq.trained).astype(np.float32)
        self._sq_lo = trained[: self.dim]
        self._sq_hi = trained[: self.dim] + trained[self.dim :]

    def _raw_search(self, queries: VectorArray, fetch: int) -> tuple[IdArray, VectorArray]:
        # faiss widens the beam to max(efSearch, fetch) by itself.
        scores, pos = self._index.search(queries, fetch)
        return np.where(pos >= 0, self._labels[np.maximum(pos, 0)], -1), scores

    def _save(self, path: Path) -> None:
        super()._save(path)
        np.save(path / "labels.npy", self._labels[: self._stored()])

    def _load(self, path: Path) -> None:
        super()._load(path)
        self._index.hnsw.efSearch = self.config.ef_search
        self._labels = np.load(path / "labels.npy").astype(np.int64)
        live = np.flatnonzero(self._labels >= 0)
        self._pos = dict(zip(self._labels[live].tolist(), live.tolist(), strict=True))
        if self.config.quantize and self._stored():
            self._read_sq_range()


class HNSWSQ8Index(HNSWIndex):
    """HNSW with int8 scalar-quantised storage: the int8-vs-float32 variant for ablations."""

    kind: ClassVar[str] = "hnsw-sq8"
    Config: ClassVar[type[Any]] = HNSWSQ8Config


@dataclass(frozen=True)
class IVFConfig:
    """IVF cells ``nlist`` (None: sqrt(n)), ``nprobe`` cells searched, flat below ``min_train``."""

    nlist: int | None = None
    nprobe: int = 16
    min_train: int = 10_000
    threads: int | None = 1

    def __post_init__(self) -> None:
        _check_positive(self, "nlist", "nprobe", "min_train", "threads")


class IVFIndex(_FaissIndex):
    """faiss IndexIVFFlat by inner product; an exact flat index until it holds enough vectors.

    It trains once, when the index first reaches ``max(min_train, 39 * nlist)`` vectors (39 per
    cell is faiss's k-means minimum); below that a flat scan is exact and fast anyway. Later
    vectors go into the trained cells. Replacement deletes the old vector (IVF supports removal
    through a hash-table id map). Rows that come back short because the visited cells hold too
    few vectors are searched again over every cell, so ``k`` is filled whenever it can be.
    """

    kind: ClassVar[str] = "ivf"
    Config: ClassVar[type[Any]] = IVFConfig

    def __len__(self) -> int:
        """Number of ids stored."""
        return self._stored()

    @property
    def trained(self) -> bool:
        """Whether the index has switched from a flat scan to inverted lists."""
        return isinstance(self._index, _faiss().IndexIVF)

    def _new_index(self) -> Any:
        faiss = _faiss()
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    def _add(self, vectors: VectorArray, ids: IdArray) -> None:
        faiss = _faiss()
        self._index.remove_ids(faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids)))
        c = self.config
        threshold = max(c.min_train, 39 * (c.nlist or 1))
        if self.trained or self._stored() + len(ids) < threshold:
            self._index.add_with_ids(vectors, ids)
            return
        n = self._stored()
        old = self._index.index.reconstruct_n(0, n) if n else vectors[:0]
        all_vectors = np.ascontiguousarray(np.vstack([old, vectors]), dtype=np.float32)
        all_ids = np.concatenate([faiss.vector_to_array(self._index.id_map), ids])
        nlist = c.nlist or max(1, min(math.isqrt(len(all_ids)), len(all_ids) // 39))
        ivf = faiss.IndexIVFFlat(
            faiss.IndexFlatIP(self.dim), self.dim, nlist, faiss.METRIC_INNER_PRODUCT
        )
        ivf.train(all_vectors)
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
        ivf.add_with_ids(all_vectors, all_ids)
        ivf.nprobe = min(c.nprobe, nlist)
        self._index = ivf

    def _raw_search(self, queries: VectorArray, fetch: int) -> tuple[IdArray, VectorArray]:
        scores, ids = self._index.search(queries, fetch)
        if self.trained:
            short = (ids >= 0).sum(axis=1) < min(fetch, self._stored())
            if short.any():
                every_cell = _faiss().SearchParametersIVF(nprobe=self._index.nlist)
                scores[short], ids[short] = self._index.search(
                    queries[short], fetch, params=every_cell
                )
        return ids, scores

    def _load(self, path: Path) -> None:
        super()._load(path)
        if self.trained:
            self._index.nprobe = min(self.config.nprobe, self._index.nlist)
