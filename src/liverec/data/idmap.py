"""Frozen mapping between raw string ids and contiguous internal indices, stored as columns.

The raw ids live in one Arrow string array (position = internal index). Lookups go through a
sorted table of 64-bit FNV-1a hashes of the ids' UTF-8 bytes with the position each belongs
to, and the raw id is compared to rule out a hash collision. Every part is a flat array, so a
map of ten million users is ~200 MB, loads by memory-mapping in no time, and holds no Python
object per id (a dict of as many strings would take ~1.2 GB and ~10 s to build).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from liverec.core.errors import UnknownIdError
from liverec.data.arrowio import read_arrow, write_arrow

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
_MASK = 0xFFFFFFFFFFFFFFFF
_MEMO_SIZE = 65_536  # recently looked-up ids kept in a dict: repeat lookups skip the search


def fnv1a(raw_id: str | bytes) -> int:
    """64-bit FNV-1a of the id's UTF-8 bytes (the scalar twin of ``fnv1a_array``).

    >>> hex(fnv1a("a"))
    '0xaf63dc4c8601ec8c'
    """
    h = FNV_OFFSET
    for byte in raw_id.encode() if isinstance(raw_id, str) else raw_id:
        h = ((h ^ byte) * FNV_PRIME) & _MASK
    return h


def _string_buffers(strings: Any) -> tuple[NDArray[np.int64], NDArray[np.uint8]]:
    """Start offsets (n + 1) and the byte buffer of an Arrow (large) string array."""
    import pyarrow as pa

    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    _, offsets_buf, data_buf = strings.buffers()[:3]
    wide = pa.types.is_large_string(strings.type)
    offsets = np.frombuffer(offsets_buf, np.int64 if wide else np.int32)
    starts = offsets[strings.offset : strings.offset + len(strings) + 1].astype(np.int64)
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return starts, data


def fnv1a_array(strings: Any) -> NDArray[np.uint64]:
    """FNV-1a of every string of an Arrow string array, vectorised over byte positions.

    Strings are visited longest first, so byte position ``j`` is a prefix of that order.
    """
    offsets, data = _string_buffers(strings)
    starts, lengths = offsets[:-1], np.diff(offsets)
    order = np.argsort(-lengths, kind="stable")
    sorted_starts, sorted_lengths = starts[order], lengths[order]
    h = np.full(len(order), FNV_OFFSET, np.uint64)
    prime = np.uint64(FNV_PRIME)
    longest = int(sorted_lengths[0]) if len(order) else 0
    # number of strings longer than j, for every j: a prefix of the length-sorted order
    longer = np.searchsorted(-sorted_lengths, -np.arange(longest), side="left")
    for j in range(longest):
        count = int(longer[j])
        part = h[:count]
        part ^= data[sorted_starts[:count] + j].astype(np.uint64)
        part *= prime  # uint64 arithmetic wraps, as FNV wants
    out = np.empty(len(order), np.uint64)
    out[order] = h
    return out


class IdMap:
    """Raw ids (strings) <-> contiguous ints ``0..n-1``, in the given order; immutable."""

    __slots__ = ("_bytes", "_hashes", "_kind", "_lock", "_memo", "_offsets", "_raw", "_slots")

    def __init__(self, raw_ids: Iterable[str] | Any, kind: str = "id") -> None:
        import pyarrow as pa

        if isinstance(raw_ids, pa.ChunkedArray):
            raw_ids = raw_ids.combine_chunks()
        if not isinstance(raw_ids, pa.Array):
            raw_ids = pa.array([str(r) for r in raw_ids], pa.string())
        if raw_ids.null_count:
            raise ValueError(f"{kind} ids must not be missing")
        self._raw = raw_ids
        self._kind = kind
        hashes = fnv1a_array(raw_ids)
        order = np.argsort(hashes, kind="stable")
        self._hashes = hashes[order]
        self._slots = order.astype(np.int64)
        self._offsets, self._bytes = _string_buffers(raw_ids)
        self._memo: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()
        self._check_unique()

    def _check_unique(self) -> None:
        """Equal hashes mean a duplicate id or (rarely) a collision: compare the strings."""
        h = self._hashes
        same = np.flatnonzero(h[1:] == h[:-1])
        for start in np.unique(np.searchsorted(h, h[same])).tolist():
            stop = int(np.searchsorted(h, h[start], side="right"))
            slots = sorted(int(s) for s in self._slots[start:stop])
            seen: set[str] = set()
            for slot in slots:  # in index order: the later copy is the one reported
                raw = self.raw(slot)
                if raw in seen:
                    raise ValueError(f"{self._kind} ids must be unique, {raw!r} appears twice")
                seen.add(raw)

    @classmethod
    def from_values(cls, values: Iterable[str], kind: str = "id") -> IdMap:
        """Build a map from a stream of ids that may repeat, keeping first-seen order."""
        return cls(dict.fromkeys(str(v) for v in values), kind=kind)

    @classmethod
    def from_parts(
        cls, raw: Any, hashes: NDArray[np.uint64], slots: NDArray[np.int64], kind: str
    ) -> IdMap:
        """A map from stored parts (no hashing or sorting: loading is O(1) with mmap)."""
        self = cls.__new__(cls)
        self._raw, self._hashes, self._slots, self._kind = raw, hashes, slots, kind
        self._offsets, self._bytes = _string_buffers(raw)
        self._memo = OrderedDict()
        self._lock = threading.Lock()
        return self

    def save(self, directory: Path, stem: str) -> None:
        """Write ``stem.arrow`` (the ids) and ``stem.hash.npy`` / ``stem.slot.npy``."""
        import pyarrow as pa

        write_arrow(pa.table({"id": self._raw}), directory / f"{stem}.arrow")
        np.save(directory / f"{stem}.hash.npy", self._hashes)
        np.save(directory / f"{stem}.slot.npy", self._slots)

    @classmethod
    def load(cls, directory: Path, stem: str, kind: str) -> IdMap:
        """Memory-map a map written by ``save``."""
        raw = read_arrow(directory / f"{stem}.arrow").column("id").combine_chunks()
        hashes = np.load(directory / f"{stem}.hash.npy", mmap_mode="r")
        slots = np.load(directory / f"{stem}.slot.npy", mmap_mode="r")
        return cls.from_parts(raw, hashes, slots, kind)

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, raw_id: object) -> bool:
        return isinstance(raw_id, str) and self.get(raw_id) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw_ids)

    @property
    def kind(self) -> str:
        """What the ids are ("user", "item"), used in error messages."""
        return self._kind

    @property
    def arrow(self) -> Any:
        """The raw ids as an Arrow string array, position = internal index."""
        return self._raw

    @property
    def raw_ids(self) -> tuple[str, ...]:
        """All raw ids, position = internal index (materialised: for small maps; large ones
        are read through ``arrow``)."""
        return tuple(self._raw.to_pylist())

    def index(self, raw_id: str) -> int:
        """Internal index of one raw id.

        Raises
        ------
        UnknownIdError
            If the id is not in the map.
        """
        idx = self.get(raw_id)
        if idx is None:
            raise UnknownIdError(f"unknown {self._kind} id {raw_id!r}")
        return idx

    def get(self, raw_id: str) -> int | None:
        """Internal index of one raw id, or None when unknown."""
        memo = self._memo
        hit = memo.get(raw_id)
        if hit is not None:
            return hit
        encoded = raw_id.encode()
        h = np.uint64(fnv1a(encoded))  # a plain int above 2**63 would make numpy go object
        hashes = self._hashes
        pos = int(hashes.searchsorted(h))
        while pos < len(hashes) and hashes[pos] == h:
            slot = int(self._slots[pos])
            if self._bytes[self._offsets[slot] : self._offsets[slot + 1]].tobytes() == encoded:
                with self._lock:
                    memo[raw_id] = slot
                    if len(memo) > _MEMO_SIZE:
                        memo.popitem(last=False)
                return slot
            pos += 1
        return None

    def indices(self, raw_ids: Sequence[str] | Any) -> NDArray[np.int64]:
        """Internal indices of many raw ids (a sequence or an Arrow string array).

        Raises
        ------
        UnknownIdError
            Naming the first unknown id.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        queries = raw_ids if isinstance(raw_ids, pa.Array) else pa.array(list(raw_ids), pa.string())
        if not len(queries):
            return np.zeros(0, np.int64)
        h = fnv1a_array(queries)
        pos = np.minimum(np.searchsorted(self._hashes, h), max(len(self._hashes) - 1, 0))
        found = self._slots[pos] if len(self._slots) else np.zeros(len(h), np.int64)
        ok = (self._hashes[pos] == h) if len(self._hashes) else np.zeros(len(h), bool)
        if len(self._raw):
            ok &= pc.equal(self._raw.take(pa.array(found)), queries).to_numpy(zero_copy_only=False)
        out = np.asarray(found, np.int64).copy()
        for row in np.flatnonzero(~ok).tolist():  # collisions and unknown ids, one by one
            out[row] = self.index(queries[row].as_py())
        return out

    def raw(self, idx: int) -> str:
        """Raw id of one internal index."""
        value: str = self._raw[int(idx)].as_py()
        return value

    def raws(self, idx: Iterable[int]) -> list[str]:
        """Raw ids of many internal indices."""
        import pyarrow as pa

        positions = np.fromiter((int(i) for i in idx), np.int64)
        ids: list[str] = self._raw.take(pa.array(positions)).to_pylist()
        return ids

    def extended(self, new_ids: Iterable[str] | Any) -> IdMap:
        """A new map with ``new_ids`` appended after the existing ones (unknown ones only)."""
        import pyarrow as pa

        if isinstance(new_ids, pa.Array | pa.ChunkedArray):
            fresh_arr = pc_unique_unknown(self, new_ids)
        else:
            fresh = [r for r in dict.fromkeys(str(n) for n in new_ids) if r not in self]
            fresh_arr = pa.array(fresh, pa.string())
        if not len(fresh_arr):
            return self
        return IdMap(pa.concat_arrays([self._raw.cast(pa.string()), fresh_arr]), kind=self._kind)

    def mapped(self, fn: Callable[[list[str]], list[str]], chunk: int = 1 << 20) -> IdMap:
        """A map of ``fn`` applied to every id (same order), a chunk at a time.

        Raises
        ------
        ValueError
            If ``fn`` maps two ids to one.
        """
        import pyarrow as pa

        ids = self.arrow
        parts = [
            pa.array(fn(ids.slice(start, chunk).to_pylist()), pa.string())
            for start in range(0, len(ids), chunk)
        ]
        return IdMap(pa.concat_arrays(parts) if parts else pa.array([], pa.string()), self._kind)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and self._raw.equals(other._raw)

    def __hash__(self) -> int:
        return hash((len(self), self.raw(0) if len(self) else ""))

    def __repr__(self) -> str:
        return f"IdMap(kind={self._kind!r}, n={len(self)})"


def pc_unique_unknown(idmap: IdMap, values: Any) -> Any:
    """The distinct ``values`` (first-seen order) that ``idmap`` does not hold."""
    import pyarrow as pa
    import pyarrow.compute as pc

    distinct = pc.unique(values).cast(pa.string())
    if not len(distinct) or not len(idmap):
        return distinct
    known = pc.is_in(distinct, value_set=idmap.arrow.cast(pa.string()))
    return distinct.filter(pc.invert(known))


class GrowingIdMap:
    """Append-only id map for live data: starts from a frozen map, new ids get the next index.

    Indices are never reused or reordered, so arrays indexed by them only ever grow. Only ids
    added since the frozen map keep a Python entry each.
    """

    __slots__ = ("_base", "_index", "_kind", "_lock", "_new")

    def __init__(self, base: IdMap) -> None:
        self._base = base
        self._new: list[str] = []
        self._index: dict[str, int] = {}
        self._kind = base.kind
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._base) + len(self._new)

    def __contains__(self, raw_id: object) -> bool:
        return isinstance(raw_id, str) and self.get(raw_id) is not None

    @property
    def base(self) -> IdMap:
        """The frozen map this one started from."""
        return self._base

    def get(self, raw_id: str) -> int | None:
        """Index of ``raw_id``, or None when unknown."""
        idx = self._index.get(raw_id)
        return idx if idx is not None else self._base.get(raw_id)

    def index(self, raw_id: str) -> int:
        """Index of ``raw_id``.

        Raises
        ------
        UnknownIdError
            If the id was never added.
        """
        idx = self.get(raw_id)
        if idx is None:
            raise UnknownIdError(f"unknown {self._kind} id {raw_id!r}")
        return idx

    def add(self, raw_id: str) -> int:
        """Index of ``raw_id``, appending it first if it is new."""
        idx = self.get(raw_id)
        if idx is not None:
            return idx
        with self._lock:
            idx = self._index.get(raw_id)
            if idx is None:
                idx = len(self._base) + len(self._new)
                self._new.append(raw_id)
                self._index[raw_id] = idx
            return idx

    def raw(self, idx: int) -> str:
        """Raw id at ``idx``."""
        i = int(idx)
        n = len(self._base)
        return self._base.raw(i) if i < n else self._new[i - n]

    def raws(self, idx: Iterable[int]) -> list[str]:
        """Raw ids of many indices."""
        return [self.raw(i) for i in idx]

    def frozen(self) -> IdMap:
        """A frozen copy of the current map."""
        return self._base.extended(self._new) if self._new else self._base


class IdMapBuilder:
    """Assigns contiguous indices to ids streamed in batches, first seen first, without a
    Python object per id.

    Known ids are found by hash (a large sorted table plus a small recent one that is merged
    into it once it grows past ``merge_at``); every hit is confirmed by comparing the strings,
    and the rare hash collision goes to a small overflow dict.
    """

    def __init__(self, kind: str = "id", initial: Any | None = None, merge_at: int = 1 << 20):
        import pyarrow as pa

        self.kind = kind
        self.merge_at = merge_at
        self._chunks: list[Any] = []  # the raw ids, in index order
        self._n = 0
        self._big_h = np.zeros(0, np.uint64)
        self._big_i = np.zeros(0, np.int64)
        self._new_h = np.zeros(0, np.uint64)
        self._new_i = np.zeros(0, np.int64)
        self._overflow: dict[str, int] = {}
        if initial is not None:
            self.add(
                initial if isinstance(initial, pa.Array) else pa.array(list(initial), pa.string())
            )

    def __len__(self) -> int:
        return self._n

    def _raw(self) -> Any:
        import pyarrow as pa

        return pa.chunked_array(self._chunks, type=pa.string()) if self._chunks else None

    def _find(self, hashes: NDArray[np.uint64]) -> NDArray[np.int64]:
        """Index of each hash in the tables, -1 when absent (strings not yet compared)."""
        out = np.full(len(hashes), -1, np.int64)
        for table_h, table_i in ((self._big_h, self._big_i), (self._new_h, self._new_i)):
            if not len(table_h):
                continue
            pos = np.minimum(np.searchsorted(table_h, hashes), len(table_h) - 1)
            hit = (table_h[pos] == hashes) & (out < 0)
            out[hit] = table_i[pos[hit]]
        return out

    def lookup(self, strings: Any) -> NDArray[np.int64]:
        """Indices of ``strings`` (an Arrow string array), -1 for ids not added yet."""
        import pyarrow as pa
        import pyarrow.compute as pc

        encoded = strings.dictionary_encode()
        uniq = encoded.dictionary.cast(pa.string())
        found = self._find(fnv1a_array(uniq))
        hit = np.flatnonzero(found >= 0)
        if len(hit):
            stored = self._raw().take(pa.array(found[hit]))
            same = pc.equal(stored, uniq.take(pa.array(hit))).to_numpy(zero_copy_only=False)
            found[hit[~np.asarray(same, bool)]] = -1
        if self._overflow:
            for k in np.flatnonzero(found < 0).tolist():
                found[k] = self._overflow.get(uniq[k].as_py(), -1)
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), np.int64)
        return found[codes]

    def add(self, strings: Any) -> NDArray[np.int32]:
        """Indices of ``strings``, giving unknown ids the next ones in order of appearance."""
        import pyarrow as pa

        encoded = strings.dictionary_encode()
        uniq = encoded.dictionary.cast(pa.string())
        found = self.lookup(uniq)
        fresh = np.flatnonzero(found < 0)  # in first-appearance order (dictionary order)
        if len(fresh):
            new_ids = uniq.take(pa.array(fresh))
            ids = np.arange(self._n, self._n + len(fresh), dtype=np.int64)
            found[fresh] = ids
            h = fnv1a_array(new_ids)
            clash = self._find(h) >= 0  # a different id with the same hash: overflow
            dup = np.zeros(len(h), bool)
            order = np.argsort(h, kind="stable")
            dup[order[1:][h[order][1:] == h[order][:-1]]] = True
            for k in np.flatnonzero(clash | dup).tolist():
                self._overflow[new_ids[k].as_py()] = int(ids[k])
            keep = ~(clash | dup)
            self._insert(h[keep], ids[keep])
            self._chunks.append(new_ids)
            self._n += len(fresh)
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), np.int64)
        return found[codes].astype(np.int32)

    def _insert(self, h: NDArray[np.uint64], ids: NDArray[np.int64]) -> None:
        order = np.argsort(h)
        h, ids = h[order], ids[order]
        pos = np.searchsorted(self._new_h, h)
        self._new_h = np.insert(self._new_h, pos, h)
        self._new_i = np.insert(self._new_i, pos, ids)
        if len(self._new_h) >= self.merge_at:
            pos = np.searchsorted(self._big_h, self._new_h)
            self._big_h = np.insert(self._big_h, pos, self._new_h)
            self._big_i = np.insert(self._big_i, pos, self._new_i)
            self._new_h = np.zeros(0, np.uint64)
            self._new_i = np.zeros(0, np.int64)

    def ids(self) -> Any:
        """Every id added, as one Arrow string array (position = index)."""
        import pyarrow as pa

        raw = self._raw()
        return raw.combine_chunks() if raw is not None else pa.array([], pa.string())

    def finish(self) -> IdMap:
        """The frozen map (its hash table is rebuilt only when there were collisions)."""
        raw = self.ids()
        if self._overflow:
            return IdMap(raw, kind=self.kind)
        h = np.concatenate([self._big_h, self._new_h])
        i = np.concatenate([self._big_i, self._new_i])
        order = np.argsort(h, kind="stable")
        return IdMap.from_parts(raw, h[order], i[order], self.kind)
