"""Frozen mapping between raw string ids and contiguous internal indices."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from liverec.core.errors import UnknownIdError


class IdMap:
    """Raw ids (strings) <-> contiguous ints ``0..n-1``, in first-seen order; immutable."""

    __slots__ = ("_index", "_kind", "_raw")

    def __init__(self, raw_ids: Iterable[str], kind: str = "id") -> None:
        raw = [str(r) for r in raw_ids]
        index = {r: i for i, r in enumerate(raw)}
        if len(index) != len(raw):
            dup = next(r for i, r in enumerate(raw) if index[r] != i)
            raise ValueError(f"{kind} ids must be unique, {dup!r} appears twice")
        self._raw = tuple(raw)
        self._index = index
        self._kind = kind

    @classmethod
    def from_values(cls, values: Iterable[str], kind: str = "id") -> IdMap:
        """Build a map from a stream of ids that may repeat, keeping first-seen order."""
        return cls(dict.fromkeys(str(v) for v in values), kind=kind)

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, raw_id: object) -> bool:
        return raw_id in self._index

    @property
    def kind(self) -> str:
        """What the ids are ("user", "item"), used in error messages."""
        return self._kind

    @property
    def raw_ids(self) -> tuple[str, ...]:
        """All raw ids, position = internal index."""
        return self._raw

    def index(self, raw_id: str) -> int:
        """Internal index of one raw id.

        Raises
        ------
        UnknownIdError
            If the id is not in the map.
        """
        try:
            return self._index[raw_id]
        except KeyError:
            raise UnknownIdError(f"unknown {self._kind} id {raw_id!r}") from None

    def get(self, raw_id: str) -> int | None:
        """Internal index of one raw id, or None when unknown."""
        return self._index.get(raw_id)

    def indices(self, raw_ids: Sequence[str]) -> NDArray[np.int64]:
        """Internal indices of many raw ids; raises UnknownIdError on the first unknown one."""
        return np.fromiter((self.index(r) for r in raw_ids), dtype=np.int64, count=len(raw_ids))

    def raw(self, idx: int) -> str:
        """Raw id of one internal index."""
        return self._raw[int(idx)]

    def raws(self, idx: Iterable[int]) -> list[str]:
        """Raw ids of many internal indices."""
        return [self._raw[int(i)] for i in idx]

    def extended(self, new_ids: Iterable[str]) -> IdMap:
        """A new map with ``new_ids`` appended after the existing ones (unknown ones only)."""
        fresh = [r for r in dict.fromkeys(str(n) for n in new_ids) if r not in self._index]
        return IdMap([*self._raw, *fresh], kind=self._kind)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and self._raw == other._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"IdMap(kind={self._kind!r}, n={len(self)})"


class GrowingIdMap:
    """Append-only id map for live data: starts from a frozen map, new ids get the next index.

    Indices are never reused or reordered, so arrays indexed by them only ever grow.
    """

    __slots__ = ("_index", "_kind", "_lock", "_raw")

    def __init__(self, base: IdMap) -> None:
        self._raw = list(base.raw_ids)
        self._index = {r: i for i, r in enumerate(self._raw)}
        self._kind = base.kind
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, raw_id: object) -> bool:
        return raw_id in self._index

    def get(self, raw_id: str) -> int | None:
        """Index of ``raw_id``, or None when unknown."""
        return self._index.get(raw_id)

    def index(self, raw_id: str) -> int:
        """Index of ``raw_id``.

        Raises
        ------
        UnknownIdError
            If the id was never added.
        """
        try:
            return self._index[raw_id]
        except KeyError:
            raise UnknownIdError(f"unknown {self._kind} id {raw_id!r}") from None

    def add(self, raw_id: str) -> int:
        """Index of ``raw_id``, appending it first if it is new."""
        idx = self._index.get(raw_id)
        if idx is not None:
            return idx
        with self._lock:
            idx = self._index.get(raw_id)
            if idx is None:
                idx = len(self._raw)
                self._raw.append(raw_id)
                self._index[raw_id] = idx
            return idx

    def raw(self, idx: int) -> str:
        """Raw id at ``idx``."""
        return self._raw[int(idx)]

    def raws(self, idx: Iterable[int]) -> list[str]:
        """Raw ids of many indices."""
        return [self._raw[int(i)] for i in idx]

    def frozen(self) -> IdMap:
        """A frozen copy of the current map."""
        return IdMap(self._raw, kind=self._kind)
