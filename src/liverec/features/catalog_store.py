"""The live catalog: the snapshot's items (memory-mapped columns) plus the upserts since.

Only items changed or added since the snapshot exist as Python objects; every other item is
read from the columns when a request shows it. Genres are small integer codes, so filters and
the diversity re-ranker work on arrays.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from liverec.core.arrays import ranges
from liverec.data.catalog import Catalog, Item
from liverec.data.idmap import GrowingIdMap, IdMap
from liverec.features.genres import jaccard_matrix

IntArray = NDArray[np.int64]
SHOWN_CACHE = 50_000  # snapshot items kept as objects (~0.5 KB each)
MASK_BITS = 64  # catalogs with at most this many genres keep one bit mask per item


def genre_masks(indptr: IntArray, codes: NDArray[np.int32]) -> NDArray[np.uint64]:
    """One 64-bit mask per row of a CSR of genre codes (all codes < 64).

    >>> genre_masks(np.array([0, 2, 2, 3]), np.array([0, 3, 1], np.int32)).tolist()
    [9, 0, 2]
    """
    out = np.zeros(len(indptr) - 1, np.uint64)
    nonempty = np.flatnonzero(np.diff(indptr) > 0)
    if len(nonempty):
        bits = np.left_shift(np.uint64(1), np.asarray(codes, np.uint64))
        # segments run from one non-empty row's start to the next one's: exactly its codes
        out[nonempty] = np.bitwise_or.reduceat(bits, indptr[nonempty])
    return out


def _years(column: Any) -> NDArray[np.float32]:
    """An Arrow year column as float32, NaN for missing years and for 0."""
    import pyarrow as pa

    years = np.array(column.cast(pa.float32()).to_numpy(zero_copy_only=False), np.float32)
    years[years == 0] = np.nan
    return years


class CatalogView(Protocol):
    """What readers may ask of the catalog."""

    ids: GrowingIdMap
    version: int

    def __len__(self) -> int: ...

    def item(self, i: int) -> Item:
        """The item at internal index ``i``."""

    def items(self, idx: Sequence[int] | IntArray) -> list[Item]:
        """The items at ``idx``, in order."""

    def genre_matrix(self, idx: IntArray) -> NDArray[np.float32]:
        """(len(idx), genres) binary membership of the items' genres."""

    def in_genres(self, idx: IntArray, names: Sequence[str]) -> NDArray[np.bool_]:
        """Which of the items have at least one of ``names`` (case-insensitive)."""

    def genre_similarity(self, idx: IntArray) -> NDArray[np.float32]:
        """(len(idx), len(idx)) Jaccard similarity of the items' genre sets."""

    def years(self, idx: IntArray) -> NDArray[np.float32]:
        """The items' years (NaN where unknown)."""

    def added(self) -> IntArray:
        """Items added since the snapshot, oldest first."""


class LiveCatalog:
    """Items by internal index; ``upsert`` (called by the state's ``apply``) is the writer."""

    def __init__(self, base: Catalog, ids: IdMap) -> None:
        self.ids = GrowingIdMap(ids)
        self.base = base
        self.n_base = len(base)
        self.version = 0
        self._changed: dict[int, Item] = {}
        self._added: list[Item] = []
        self._names: dict[str, int] = {}
        for name in base.genre_names:
            self._names.setdefault(name.lower(), len(self._names))
        indptr, codes = base.genre_codes
        lower = np.array([self._names[n.lower()] for n in base.genre_names], np.int32)
        self._base_indptr = indptr
        self._base_codes = lower[codes] if len(codes) else codes
        self._codes: dict[int, NDArray[np.int32]] = {}  # genre codes of changed/added items
        self._base_masks = (
            genre_masks(indptr, self._base_codes) if len(self._names) <= MASK_BITS else None
        )
        self._shown: OrderedDict[int, Item] = OrderedDict()  # recently shown snapshot items
        self._base_years = _years(base.table.column("year"))
        self._years: dict[int, float] = {}  # years of items changed or added since the snapshot
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.n_base + len(self._added)

    def upsert(self, item: Item) -> tuple[int, bool]:
        """Add or replace ``item``; returns its index and whether it is new."""
        with self._lock:
            known = self.ids.get(item.item_id)
            new = known is None
            idx = self.ids.add(item.item_id) if known is None else known
            if new:
                self._added.append(item)
            elif idx < self.n_base:
                self._changed[idx] = item
                self._shown.pop(idx, None)
            else:
                self._added[idx - self.n_base] = item
            self._years[idx] = float(item.year) if item.year else np.nan
            self._codes[idx] = np.array(
                [self._names.setdefault(g.lower(), len(self._names)) for g in item.genres], np.int32
            )
            self.version += 1
            return idx, new

    def search(self, text: str, limit: int = 1000) -> IntArray:
        """Items whose title contains ``text`` (any case), at most ``limit``, in index order.

        The snapshot's titles are matched in Arrow's compiled kernel (a million titles in
        tens of milliseconds); changed and added items, few, in Python.
        """
        import pyarrow.compute as pc

        needle = text.strip().lower()
        if not needle:
            return np.zeros(0, np.int64)
        hits = pc.match_substring(self.base.table["title"], needle, ignore_case=True)
        base = np.flatnonzero(np.asarray(hits.fill_null(False).to_numpy(zero_copy_only=False)))
        base = base[[int(i) not in self._changed for i in base]] if self._changed else base
        live = [i for i, it in self._changed.items() if needle in it.title.lower()]
        live += [self.n_base + k for k, it in enumerate(self._added) if needle in it.title.lower()]
        found = np.concatenate([base, np.asarray(live, np.int64)]).astype(np.int64)
        return np.sort(found)[:limit]

    def item(self, i: int) -> Item:
        """The item at internal index ``i``."""
        if i >= self.n_base:
            return self._added[i - self.n_base]
        changed = self._changed.get(i)
        return changed if changed is not None else self.base[i]

    def items(self, idx: Sequence[int] | IntArray) -> list[Item]:
        """The items at ``idx``, in order.

        Snapshot items are read from the columns in one gather and kept in a small LRU:
        the items a service shows repeat a lot (popular ones above all).
        """
        positions = [int(i) for i in idx]
        shown = self._shown
        missing = [
            i for i in positions if i < self.n_base and i not in self._changed and i not in shown
        ]
        if missing:
            for i, it in zip(missing, self.base.take(missing), strict=True):
                shown[i] = it
            while len(shown) > SHOWN_CACHE:
                shown.popitem(last=False)
        return [shown[i] if i in shown else self.item(i) for i in positions]

    def _genre_codes(self, i: int) -> NDArray[np.int32]:
        codes = self._codes.get(i)
        if codes is not None:
            return codes
        return self._base_codes[self._base_indptr[i] : self._base_indptr[i + 1]]

    def genre_matrix(self, idx: IntArray) -> NDArray[np.float32]:
        """(len(idx), genres) binary membership."""
        idx = np.asarray(idx, np.int64)
        out = np.zeros((len(idx), len(self._names)), np.float32)
        plain = idx < self.n_base
        if self._codes:  # items changed or added since the snapshot: their own codes
            changed = np.fromiter((i in self._codes for i in idx.tolist()), bool, len(idx))
            plain &= ~changed
            for row in np.flatnonzero(changed).tolist():
                out[row, self._codes[int(idx[row])]] = 1.0
        rows = np.flatnonzero(plain)
        lo = self._base_indptr[idx[rows]]
        lengths = self._base_indptr[idx[rows] + 1] - lo
        pos = np.repeat(lo, lengths) + ranges(lengths)
        out[np.repeat(rows, lengths), self._base_codes[pos]] = 1.0
        return out

    def in_genres(self, idx: IntArray, names: Sequence[str]) -> NDArray[np.bool_]:
        """Which of the items have at least one of ``names`` (unknown names match nothing)."""
        wanted = [self._names[n.lower()] for n in names if n.lower() in self._names]
        if not wanted:
            return np.zeros(len(idx), bool)
        m = self.genre_matrix(np.asarray(idx, np.int64))
        return np.asarray(m[:, wanted].sum(axis=1) > 0)

    def genre_similarity(self, idx: IntArray) -> NDArray[np.float32]:
        """Pairwise Jaccard similarity of genre sets; two empty sets count as identical.

        With at most 64 genres, intersections and unions are popcounts of bit masks (the
        re-ranker asks this of every request's candidate pool).
        """
        idx = np.asarray(idx, np.int64)
        if self._base_masks is None or len(self._names) > MASK_BITS:
            return jaccard_matrix(self.genre_matrix(idx))
        masks = np.zeros(len(idx), np.uint64)
        inside = idx < self.n_base
        masks[inside] = self._base_masks[idx[inside]]
        for row, i in enumerate(idx.tolist() if self._codes else ()):
            codes = self._codes.get(i)
            if codes is not None:
                masks[row] = genre_masks(np.array([0, len(codes)]), codes)[0]
        inter = np.bitwise_count(masks[:, None] & masks[None, :])
        union = np.bitwise_count(masks[:, None] | masks[None, :])
        out = np.ones(inter.shape, np.float32)
        np.divide(inter, union, out=out, where=union > 0, casting="unsafe")
        return out

    def years(self, idx: IntArray) -> NDArray[np.float32]:
        """The items' years, NaN where unknown (a year of 0 counts as unknown, as in titles)."""
        idx = np.asarray(idx, np.int64)
        out = np.full(len(idx), np.nan, np.float32)
        inside = idx < self.n_base
        out[inside] = self._base_years[idx[inside]]
        if self._years:  # items changed or added since the snapshot: their own year
            for row, i in enumerate(idx.tolist()):
                year = self._years.get(i)
                if year is not None:
                    out[row] = year
        return out

    def added(self) -> IntArray:
        """Items added since the snapshot, oldest first."""
        return np.arange(self.n_base, len(self), dtype=np.int64)
