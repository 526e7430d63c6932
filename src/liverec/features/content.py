"""Item text embeddings as the live service keeps them, and the cache that makes retrains cheap.

Vectors come from ``liverec.features.text`` (all-MiniLM-L6-v2, L2-normalised). A snapshot
stores the catalog's vectors (memory-mapped when served) with their SimHash fingerprints;
items added or changed later are encoded when they arrive and kept beside them. The on-disk
cache is two arrays — sorted 64-bit keys of (runtime, exact text) and the vectors — so a
retrain re-encodes only changed texts and a million cached items cost no Python objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from liverec.core.progress import ProgressFn, no_progress
from liverec.data.catalog import Catalog, Item
from liverec.data.idmap import fnv1a_array
from liverec.engine import Executor
from liverec.features.fingerprint import U64, hyperplanes, simhash

if TYPE_CHECKING:
    from liverec.features.text import TextConfig, TextEncoder

FloatMatrix = NDArray[np.float32]
IntArray = NDArray[np.int64]
ENCODE_CHUNK = 65_536  # catalog rows looked up / encoded per step
# Snapshot vectors up to this size are held as float32 in memory: numpy converts float16 at
# ~3 ns per value on this CPU (130 us for the 100 x 384 rows a ranking feature reads), more
# than the whole item-CF stage. Larger tables (~170k items at 384 dims) stay memory-mapped.
RESIDENT_FLOAT32_BYTES = 256 << 20


class ItemVectors:
    """Item ``i``'s text embedding (zeros until known) and SimHash fingerprint.

    The snapshot's vectors stay on disk (memory-mapped, any float dtype) unless they are small
    enough to hold as float32; vectors of items changed or added since live in a small table
    beside them.
    """

    def __init__(
        self,
        base: NDArray[np.floating[Any]],
        fingerprints: U64 | None = None,
        bits: int = 64,
        seed: int = 0,
    ) -> None:
        self.n_base, self.dim = base.shape
        small = self.n_base * self.dim * 4 <= RESIDENT_FLOAT32_BYTES
        self._base = np.asarray(base, np.float32) if small else base
        self.planes = hyperplanes(self.dim, bits, seed)
        self._base_fp = (
            fingerprints if fingerprints is not None else simhash(np.asarray(base), self.planes)
        )
        self._row: dict[int, int] = {}  # item -> row of the table below
        self._extra = np.zeros((16, self.dim), np.float32)
        self._extra_fp = np.zeros(16, np.uint64)
        self._n = self.n_base

    def __len__(self) -> int:
        return int(self._n)

    def rows(self, items: IntArray) -> FloatMatrix:
        """Vectors of ``items`` as float32 (len(items), dim)."""
        items = np.asarray(items, np.int64)
        if not self._row and (not len(items) or items.max() < self.n_base):
            return np.asarray(self._base.take(items, axis=0), np.float32)
        out = np.zeros((len(items), self.dim), np.float32)
        base = items < self.n_base
        if base.any():
            out[base] = self._base[items[base]]
        if self._row:
            for k, i in enumerate(items.tolist()):
                r = self._row.get(i)
                if r is not None:
                    out[k] = self._extra[r]
        return out

    def fingerprints(self, items: IntArray) -> U64:
        """Fingerprints of ``items`` (0 for items without text)."""
        items = np.asarray(items, np.int64)
        out = np.zeros(len(items), np.uint64)
        base = items < self.n_base
        out[base] = self._base_fp[items[base]]
        for k, i in enumerate(items.tolist() if self._row else ()):
            r = self._row.get(i)
            if r is not None:
                out[k] = self._extra_fp[r]
        return out

    def has_text(self, items: IntArray) -> NDArray[np.bool_]:
        """Which items have a vector (the fingerprint of a zero vector is 0 and no text)."""
        return np.asarray(np.abs(self.rows(items)).sum(axis=1) > 0)

    def set(self, item: int, vector: NDArray[np.floating[Any]]) -> None:
        """Store ``item``'s vector (a changed item, or one added since the snapshot)."""
        r = self._row.get(item)
        if r is None:
            r = len(self._row)
            if r >= len(self._extra):
                self._extra = np.concatenate([self._extra, np.zeros_like(self._extra)])
                self._extra_fp = np.concatenate([self._extra_fp, np.zeros_like(self._extra_fp)])
        self._extra[r] = vector
        self._extra_fp[r] = simhash(np.asarray(vector)[None, :], self.planes)[0]
        self._row[item] = r
        self._n = max(self._n, item + 1)

    def changed(self) -> IntArray:
        """Items whose vector was set since the snapshot."""
        return np.fromiter(self._row, np.int64, len(self._row))

    def profile(self, items: IntArray, weights: NDArray[np.float32]) -> FloatMatrix | None:
        """Weighted mean of the items' vectors, L2-normalised (None if it is zero)."""
        if not len(items):
            return None
        p = weights @ self.rows(items)
        norm = float(np.linalg.norm(p))
        return (p / norm).astype(np.float32) if norm > 0 else None


def text_keys(runtime: str, texts: Any) -> NDArray[np.uint64]:
    """Cache keys of texts (an Arrow string array) under one encoder runtime."""
    import pyarrow.compute as pc

    return fnv1a_array(pc.binary_join_element_wise(runtime, texts, "\x00"))


class EmbeddingCache:
    """Vectors by (runtime, exact text), persisted as one .npz of sorted keys and vectors."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._keys = np.zeros(0, np.uint64)
        self._vectors = np.zeros((0, 0), np.float32)
        if path is not None and path.exists():
            with np.load(path) as z:
                self._keys, self._vectors = z["keys"], z["vectors"]
        self._new_keys: list[NDArray[np.uint64]] = []
        self._new_vectors: list[FloatMatrix] = []

    def __len__(self) -> int:
        return len(self._keys) + sum(len(k) for k in self._new_keys)

    def get(self, keys: NDArray[np.uint64]) -> tuple[NDArray[np.bool_], FloatMatrix | None]:
        """(found mask, vectors of the found keys in order) for ``keys``."""
        self._merge()
        if not len(self._keys):
            return np.zeros(len(keys), bool), None
        pos = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        found = self._keys[pos] == keys
        return found, self._vectors[pos[found]]

    def put(self, keys: NDArray[np.uint64], vectors: FloatMatrix) -> None:
        """Remember vectors (merged into the sorted table on the next lookup or save)."""
        if len(keys):
            self._new_keys.append(np.asarray(keys, np.uint64))
            self._new_vectors.append(np.asarray(vectors, np.float32))

    def _merge(self) -> None:
        if not self._new_keys:
            return
        parts = [self._vectors] if len(self._keys) else []
        keys = np.concatenate([self._keys, *self._new_keys])
        vectors = np.concatenate([*parts, *self._new_vectors])
        keys, first = np.unique(keys, return_index=True)
        self._keys, self._vectors = keys, vectors[first]
        self._new_keys, self._new_vectors = [], []

    def save(self) -> None:
        """Write the cache if anything changed (atomically)."""
        if self.path is None or not self._new_keys:
            return
        self._merge()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=self._keys, vectors=self._vectors)
        tmp.replace(self.path)


def embed_catalog(
    catalog: Catalog | Iterable[Item],
    encode: Callable[[list[str]], FloatMatrix],
    runtime: str,
    cache: EmbeddingCache,
    dim: int = 384,
    progress: Callable[[int, int], None] | None = None,
) -> FloatMatrix:
    """Vectors for every item's text, encoding only the texts the cache does not have."""
    import pyarrow as pa

    if not isinstance(catalog, Catalog):
        catalog = Catalog.from_items(catalog)
    n = len(catalog)
    out = np.zeros((n, dim), np.float32)
    for start in range(0, n, ENCODE_CHUNK):
        stop = min(n, start + ENCODE_CHUNK)
        texts = pa.array(catalog.texts(start, stop), pa.string())
        keys = text_keys(runtime, texts)
        found, vectors = cache.get(keys)
        if vectors is not None:
            out[start + np.flatnonzero(found)] = vectors
        missing = np.flatnonzero(~found)
        if len(missing):
            # one encoding per distinct text: the same text always gets the same vector
            distinct, first, inverse = np.unique(
                keys[missing], return_index=True, return_inverse=True
            )
            fresh = encode(texts.take(pa.array(missing[first])).to_pylist())
            out[start + missing] = fresh[inverse]
            cache.put(distinct, fresh)
        if progress is not None:
            progress(stop, n)
    return out


def catalog_vectors(
    catalog: Catalog,
    text: TextConfig,
    cache_dir: Path,
    progress: ProgressFn | None = None,
    executor: Executor | None = None,
) -> tuple[FloatMatrix, TextEncoder]:
    """Text embeddings of a whole catalog (cached by text under ``cache_dir``) and the encoder.

    ``progress(done, total)`` counts catalog items, cached ones included, every batch. With a
    remote ``executor`` (Ray) the texts not in the cache are encoded by its workers
    (``encode_on``); otherwise here, on every core.
    """
    import os

    from liverec.features.text import load_encoder

    # Encoding a catalog is batch work: it gets every core (serving keeps one thread).
    cores = text.batch_threads or len(os.sched_getaffinity(0))
    encoder = load_encoder(text.model_copy(update={"threads": cores}), cache_dir)
    cache = EmbeddingCache(cache_dir / f"text-cache-{text.runtime}.npz")
    report = progress or no_progress
    n = len(catalog)
    chunk_start = 0  # catalog items of the chunks already through ``embed_catalog``

    def encode(texts: list[str]) -> FloatMatrix:
        def done(k: int, _: int) -> None:
            report(chunk_start + k, n)

        # one batch (a retrain's few changed items) is not worth a model load per worker
        if executor is not None and executor.remote and len(texts) > text.batch_size:
            return encode_on(executor, encoder, texts, _EncoderSpec(text, cache_dir), done)
        return encoder.encode(texts, progress=done)

    def chunk_done(stop: int, total: int) -> None:
        nonlocal chunk_start
        chunk_start = stop
        report(stop, total)

    vectors = embed_catalog(catalog, encode, text.runtime, cache, progress=chunk_done)
    cache.save()
    return vectors, encoder


SHARDS_PER_WORKER = 4  # tasks per worker: progress steps (each worker loads the model once)


@dataclass(frozen=True)
class _EncoderSpec:
    """How a worker opens the encoder: the config, and where the exported model is."""

    config: TextConfig
    cache_dir: Path


_WORKER_ENCODER: dict[_EncoderSpec, TextEncoder] = {}  # a worker process's loaded model


def _encode_shard(spec: _EncoderSpec, batches: list[list[str]]) -> list[FloatMatrix]:
    """Encode each batch as given, in a worker (one intra-op thread: one task per CPU)."""
    encoder = _WORKER_ENCODER.get(spec)
    if encoder is None:
        from liverec.features.text import load_encoder

        _WORKER_ENCODER.clear()
        encoder = load_encoder(spec.config.model_copy(update={"threads": 1}), spec.cache_dir)
        _WORKER_ENCODER[spec] = encoder
    return [encoder.encode_batch(b) for b in batches]


def encode_on(
    executor: Executor,
    encoder: TextEncoder,
    texts: list[str],
    spec: _EncoderSpec,
    progress: ProgressFn | None = None,
) -> FloatMatrix:
    """``encoder.encode(texts)``, its batches run by the executor's workers.

    The batches are ``encoder``'s own (int8 vectors depend on a batch's composition), dealt
    round-robin into a few shards per worker so each shard mixes long and short texts; a
    worker loads the model on its first shard and keeps it for the next.
    """
    plan = encoder.batch_plan(texts)
    out = np.empty((len(texts), encoder.dim), np.float32)
    if not plan:
        return out
    n_shards = min(len(plan), SHARDS_PER_WORKER * executor.workers)
    shards = [plan[s::n_shards] for s in range(n_shards)]
    work = [[[texts[i] for i in idx] for idx in shard] for shard in shards]
    sizes = np.cumsum([sum(len(idx) for idx in shard) for shard in shards])

    def shard_done(done: int, _: int) -> None:
        if progress is not None:
            progress(int(sizes[done - 1]), len(texts))

    for shard, vectors in zip(
        shards, executor.map(_encode_shard, spec, work, shard_done), strict=True
    ):
        for idx, v in zip(shard, vectors, strict=True):
            out[idx] = v
    return out
