"""The events file of an import: streamed, converted to columns, id-mapped, sorted, deduplicated.

Memory is a few flat arrays per event (ids as int32 dictionary codes, float64 time, int8
type, float32 value): about 21 bytes an event plus a sort permutation, never a Python object
per row. User and item ids are dictionary-encoded per batch and the dictionaries unified at
the end (Arrow's hash tables, in C++), which keeps first-seen order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from liverec.core.types import EventType
from liverec.data import convert
from liverec.data.convert import RejectedError
from liverec.data.idmap import IdMapBuilder
from liverec.data.tables import RecordBatch, Table


class EventColumns(NamedTuple):
    """Which optional columns an events file has."""

    ts: str | None
    type: str | None
    value: str | None

    @classmethod
    def of(cls, columns: Sequence[str]) -> EventColumns:
        """The first present of each column's accepted names."""

        def first(*names: str) -> str | None:
            return next((c for c in names if c in columns), None)

        return cls(first("timestamp", "ts"), first("type", "event_type"), first("rating", "value"))

    @property
    def used(self) -> set[str]:
        """Every column the import reads."""
        return {"user_id", "item_id"} | {c for c in self if c is not None}


class _Event(NamedTuple):
    user_id: str
    item_id: str
    etype: int
    ts: float
    value: float


def _scalar_event(cells: dict[str, object], cols: EventColumns) -> _Event:
    """One row through the exact (slow) path: the reasons a person reads come from here."""
    user_id = convert.required(cells.get("user_id"), "user_id")
    item_id = convert.required(cells.get("item_id"), "item_id")
    ts = np.nan
    if cols.ts is not None:
        if convert.blank(cells.get(cols.ts)):
            raise RejectedError(f"missing field {cols.ts!r}")
        ts = convert.timestamp_of(cells.get(cols.ts))
    value = None if cols.value is None else convert.value_of(cells.get(cols.value), cols.value)
    etype = EventType.RATING if value is not None else EventType.VIEW
    name = None if cols.type is None else convert.text(cells.get(cols.type), cols.type)
    if name is not None:
        try:
            etype = EventType.parse(name)
        except ValueError as e:
            raise RejectedError(str(e)) from None
    if etype is EventType.RATING and value is None:
        raise RejectedError(
            f"missing field {cols.value or 'rating'!r} (a rating event needs a value)"
        )
    return _Event(user_id, item_id, int(etype), ts, np.nan if value is None else value)


class _Column:
    """A growable numpy column (capacity doubles): no list of chunks to concatenate later."""

    def __init__(self, dtype: type[np.generic], capacity: int) -> None:
        self.data: NDArray[Any] = np.empty(max(capacity, 1024), dtype)
        self.n = 0

    def extend(self, values: NDArray[Any]) -> None:
        need = self.n + len(values)
        if need > len(self.data):
            grown = np.empty(max(need, 2 * len(self.data)), self.data.dtype)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n : need] = values
        self.n = need

    def view(self) -> NDArray[Any]:
        return self.data[: self.n]


@dataclass
class EventParts:
    """Converted, id-mapped events of a whole file, in file order (rejected rows left out)."""

    users: IdMapBuilder
    items: IdMapBuilder
    n_catalog: int  # items of the items file: the first indices of ``items``
    strict: bool
    capacity: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (record, reason)

    def __post_init__(self) -> None:
        self.uidx = _Column(np.int32, self.capacity)
        self.iidx = _Column(np.int32, self.capacity)
        self.ts = _Column(np.float64, self.capacity)
        self.etype = _Column(np.int8, self.capacity)
        self.value = _Column(np.float32, self.capacity)

    def add(self, batch: RecordBatch, cols: EventColumns) -> None:
        """Convert one batch: the vectorised path, then the exact path for flagged rows."""
        import pyarrow as pa

        users, items, ts, etype, value, keep = self._convert(batch, cols)
        if self.strict:
            known = self.items.lookup(items)
            unknown = np.flatnonzero(keep & ((known < 0) | (known >= self.n_catalog)))
            self.errors.extend(
                (int(batch.records[r]), f"unknown item_id {items[r].as_py()!r} (not in items file)")
                for r in unknown.tolist()
            )
            keep[unknown] = False
        rows = pa.array(keep)
        self.uidx.extend(self.users.add(users.filter(rows)))
        self.iidx.extend(self.items.add(items.filter(rows)))
        self.ts.extend(ts[keep])
        self.etype.extend(etype[keep])
        self.value.extend(value[keep].astype(np.float32))

    def _convert(self, batch: RecordBatch, cols: EventColumns) -> tuple[Any, ...]:
        import pyarrow as pa
        import pyarrow.compute as pc

        n = len(batch)
        users, bad = convert.ids(batch.columns["user_id"])
        items, bad_item = convert.ids(batch.columns["item_id"])
        bad |= bad_item
        ts = np.full(n, np.nan)
        if cols.ts is not None:
            ts, bad_ts = convert.timestamps(batch.columns[cols.ts])
            bad |= bad_ts
        value = np.full(n, np.nan)
        if cols.value is not None:
            value, bad_value = convert.values(batch.columns[cols.value])
            bad |= bad_value
        etype = np.full(n, -1, np.int8)
        if cols.type is not None:
            etype, bad_type = convert.event_types(batch.columns[cols.type])
            bad |= bad_type
        has_value = ~np.isnan(value)
        etype = np.where(etype >= 0, etype, np.where(has_value, EventType.RATING, 0)).astype(
            np.int8
        )
        bad |= (etype == EventType.RATING) & ~has_value
        keep = ~bad
        suspect = np.flatnonzero(bad)
        if len(suspect):
            done, failed = convert.scalar_rows(
                suspect,
                {c: batch.columns[c] for c in cols.used},
                lambda cells: _scalar_event(cells, cols),
            )
            self.errors.extend((int(batch.records[r]), why) for r, why in failed)
            if done:
                fixed = np.array([r for r, _ in done], np.int64)
                mask = pa.array(np.isin(np.arange(n), fixed))
                users = pc.replace_with_mask(users, mask, pa.array([e.user_id for _, e in done]))
                items = pc.replace_with_mask(items, mask, pa.array([e.item_id for _, e in done]))
                ts[fixed] = [e.ts for _, e in done]
                value[fixed] = [e.value for _, e in done]
                etype[fixed] = [e.etype for _, e in done]
                keep[fixed] = True
        return users, items, ts, etype, value, keep

    def __len__(self) -> int:
        return self.uidx.n

    def take_columns(self) -> dict[str, NDArray[Any]]:
        """The columns (trimmed), handed over: this object keeps no reference to them."""
        out = {}
        for name in ("uidx", "iidx", "ts", "etype", "value"):
            col: _Column = getattr(self, name)
            out[name] = col.data[: col.n].copy() if len(col.data) > 1.25 * col.n else col.view()
            col.data, col.n = np.empty(0, col.data.dtype), 0
        return out


def read_events(table: Table, cols: EventColumns, parts: EventParts) -> EventParts:
    """Every batch of ``table`` converted into ``parts``."""
    for batch in table.batches:
        parts.add(batch, cols)
    return parts


@dataclass(frozen=True)
class SortedEvents:
    """Events sorted by user, then time, then file order; duplicates removed and counted."""

    uidx: NDArray[np.int32]
    iidx: NDArray[np.int32]
    ts: NDArray[np.float64]
    etype: NDArray[np.int8]
    value: NDArray[np.float32]
    duplicates: int


def sort_and_deduplicate(columns: dict[str, NDArray[Any]], has_time: bool) -> SortedEvents:
    """Sort (stable: ties keep file order) and drop exact duplicates, keeping the first.

    ``columns`` (uidx, iidx, ts, etype, value in file order) are consumed: each is replaced by
    its sorted copy in turn, so at most one extra column is alive at a time. Without a time
    column the file order is the time (``ts`` = 0, 1, 2, ...), and an event is a duplicate of
    an earlier one with the same user, item, type and value.
    """
    c = columns
    vkey = np.where(np.isnan(c["value"]), np.float32(-1), c["value"])  # "none" equals "none"
    if not has_time:
        rows = np.arange(len(c["uidx"]), dtype=np.int64)
        dup = _duplicates(c["uidx"], c["iidx"], c["etype"], vkey, rows)
        c["ts"] = rows.astype(np.float64)
        _take(c, np.flatnonzero(~dup))
        c["ts"] = np.arange(len(c["uidx"]), dtype=np.float64)
        _take(c, np.argsort(c["uidx"], kind="stable"))
        return _finish(c, int(dup.sum()))
    order = by_user_then_time(c["uidx"], c["ts"])
    su, st = c["uidx"][order], c["ts"][order]
    tie = np.zeros(len(order), bool)
    tie[1:] = (su[1:] == su[:-1]) & (st[1:] == st[:-1])
    del su, st
    members = np.flatnonzero(tie | np.r_[tie[1:], False])  # sorted positions in a tie group
    dup_pos = np.zeros(len(order), bool)
    if len(members):
        group = np.cumsum(~tie)[members]
        rows = order[members]
        dup_pos[members] = _duplicates(group, c["iidx"][rows], c["etype"][rows], vkey[rows], rows)
    del vkey, tie
    if dup_pos.any():
        order = order[~dup_pos]
    _take(c, order)
    return _finish(c, int(dup_pos.sum()))


def _take(columns: dict[str, NDArray[Any]], order: NDArray[np.int64]) -> None:
    """Reorder every column in place of the old one (one column copy alive at a time)."""
    for name in list(columns):
        columns[name] = columns[name][order]


def _finish(c: dict[str, NDArray[Any]], duplicates: int) -> SortedEvents:
    value = c["value"]
    value[np.isnan(value)] = 1.0
    return SortedEvents(c["uidx"], c["iidx"], c["ts"], c["etype"], value, duplicates)


def by_user_then_time(uidx: NDArray[np.int32], ts: NDArray[np.float64]) -> NDArray[np.int64]:
    """Row order by user, then time, ties in file order.

    One stable sort by user; logs usually arrive in time order, which that sort keeps inside
    each user, so only the users whose events are not already in time order are sorted again.
    """
    order = np.argsort(uidx, kind="stable")
    su = uidx[order]
    st = ts[order]
    back = np.flatnonzero((su[1:] == su[:-1]) & (st[1:] < st[:-1]))
    del st
    if len(back):
        users = np.unique(su[back])
        lo, hi = np.searchsorted(su, users), np.searchsorted(su, users, side="right")
        lengths = hi - lo
        pos = np.repeat(lo - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        sub = order[pos]
        order[pos] = sub[np.lexsort((sub, ts[sub], su[pos]))]
    return order


def _duplicates(
    group: NDArray[np.integer[Any]],
    iidx: NDArray[np.int32],
    etype: NDArray[np.int8],
    vkey: NDArray[np.float32],
    rows: NDArray[np.int64],
) -> NDArray[np.bool_]:
    """For each row, whether an earlier row (smaller ``rows``) has the same key."""
    sub = np.lexsort((rows, vkey, etype, iidx, group))
    g, i, t, v = group[sub], iidx[sub], etype[sub], vkey[sub]
    same = np.zeros(len(sub), bool)
    same[1:] = (g[1:] == g[:-1]) & (i[1:] == i[:-1]) & (t[1:] == t[:-1]) & (v[1:] == v[:-1])
    out = np.zeros(len(sub), bool)
    out[sub[same]] = True
    return out
