"""User histories for the live service: the snapshot's CSR, a compacted live CSR, a small buffer.

Three tiers answer ``history(u)``, oldest first:

1. the snapshot's events, sorted by user then time (memory-mapped, never copied);
2. the events applied since, compacted into a second CSR every ``compact_every`` events;
3. the events since that compaction, in an append buffer, with a list of buffer positions for
   each user who has events there (a slice of it gathers the newest ones).

A user the service never saw an event from costs nothing beyond the snapshot's arrays: no
Python object exists per user, and nothing is copied on a user's first new event.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from liverec.data.interactions import Interactions

IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class UserHistory:
    """A user's events, oldest first (``items``, ``ts``, ``types`` are parallel)."""

    items: IntArray
    ts: NDArray[np.float64]
    types: NDArray[np.int8]
    event_count: int


EMPTY_HISTORY = UserHistory(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int8), 0)


class UserHistoryView(Protocol):
    """What readers may ask of user histories (the live store implements it)."""

    def event_count(self, u: int) -> int:
        """Events of user ``u`` in the snapshot and since."""

    def history(self, u: int, limit: int) -> UserHistory:
        """The user's last ``limit`` events, oldest first."""

    def seen(self, u: int) -> IntArray:
        """Every item the user interacted with, sorted, distinct."""

    def recent_distinct(self, u: int, n: int) -> tuple[IntArray, NDArray[np.float64]]:
        """The user's ``n`` most recently used distinct items, newest first, and when."""

    def has_live_events(self, u: int) -> bool:
        """Whether the user acted since the snapshot."""


class _Grow:
    """A 1-d numpy array with amortised appends (capacity doubles)."""

    def __init__(self, dtype: type[np.generic], fill: float = 0) -> None:
        self.data = np.full(1024, fill, dtype)
        self.fill = fill
        self.n = 0

    def ensure(self, size: int) -> None:
        """Room for ``size`` entries (new ones hold ``fill``)."""
        if size > len(self.data):
            bigger = np.full(max(size, 2 * len(self.data)), self.fill, self.data.dtype)
            bigger[: len(self.data)] = self.data
            self.data = bigger

    def view(self) -> NDArray[np.generic]:
        """The entries in use."""
        return self.data[: self.n]


class UserHistories:
    """Per-user event sequences; ``append`` (called by the state's ``apply``) is the writer."""

    def __init__(self, base: Interactions, compact_every: int = 200_000) -> None:
        data = base.sorted_by_user()
        self._base_indptr = data.user_indptr()
        self._base_items = data.iidx
        self._base_ts = data.ts
        self._base_types = data.etype
        self.n_base_users = data.n_users
        self.compact_every = compact_every
        # tier 2: compacted live events
        self._live_indptr = np.zeros(1, np.int64)
        self._live_users = np.zeros(0, np.int64)  # sorted users having compacted events
        self._live_items = np.zeros(0, np.int32)
        self._live_ts = np.zeros(0, np.float64)
        self._live_types = np.zeros(0, np.int8)
        # tier 3: the append buffer
        self._buf_user = _Grow(np.int64)
        self._buf_item = _Grow(np.int32)
        self._buf_ts = _Grow(np.float64)
        self._buf_type = _Grow(np.int8)
        self._positions: dict[int, list[int]] = {}  # user -> buffer positions, oldest first
        self._live_counts = _Grow(np.int32)
        self._live_counts.ensure(self.n_base_users)
        self._seen_cache: OrderedDict[tuple[int, int], IntArray] = OrderedDict()

    def append(self, u: int, item: int, ts: float, etype: int) -> None:
        """Record one event of user ``u`` (a new user has ``u`` = the next index)."""
        pos = self._buf_user.n
        buffers = (self._buf_user, self._buf_item, self._buf_ts, self._buf_type)
        for arr in buffers:
            arr.ensure(pos + 1)
        self._buf_user.data[pos] = u
        self._buf_item.data[pos] = item
        self._buf_ts.data[pos] = ts
        self._buf_type.data[pos] = etype
        for arr in buffers:
            arr.n = pos + 1
        self._live_counts.ensure(u + 1)
        self._live_counts.n = max(self._live_counts.n, u + 1)
        self._live_counts.data[u] += 1
        # published last: a reader sees the event complete or not at all
        self._positions.setdefault(u, []).append(pos)
        if pos + 1 >= self.compact_every:
            self.compact()

    def compact(self) -> None:
        """Move the buffer into the compacted live CSR (one stable sort of live events)."""
        n = self._buf_user.n
        if not n:
            return
        users = np.concatenate(
            [np.repeat(self._live_users, np.diff(self._live_indptr)), self._buf_user.view()]
        )
        items = np.concatenate([self._live_items, self._buf_item.view()])
        ts = np.concatenate([self._live_ts, self._buf_ts.view()])
        types = np.concatenate([self._live_types, self._buf_type.view()])
        order = np.argsort(users, kind="stable")  # keeps each user's events in time order
        users = users[order]
        uniq, starts = np.unique(users, return_index=True)
        live = (
            np.r_[starts, len(users)].astype(np.int64),
            uniq.astype(np.int64),
            items[order],
            ts[order],
            types[order],
        )
        (self._live_indptr, self._live_users, self._live_items, self._live_ts, self._live_types) = (
            live
        )
        for arr in (self._buf_user, self._buf_item, self._buf_ts, self._buf_type):
            arr.n = 0
        self._positions = {}

    @property
    def n_users(self) -> int:
        """Users with a row: the snapshot's plus any seen since."""
        return max(self.n_base_users, self._live_counts.n)

    def event_count(self, u: int) -> int:
        """Events of user ``u`` in the snapshot and since."""
        base = int(self._base_indptr[u + 1] - self._base_indptr[u]) if u < self.n_base_users else 0
        live = int(self._live_counts.data[u]) if u < self._live_counts.n else 0
        return base + live

    def has_live_events(self, u: int) -> bool:
        """Whether the user acted since the snapshot (their trained vectors are stale)."""
        return u < self._live_counts.n and bool(self._live_counts.data[u] > 0)

    def _live_row(self, u: int) -> slice | None:
        k = int(np.searchsorted(self._live_users, u))
        if k < len(self._live_users) and self._live_users[k] == u:
            return slice(int(self._live_indptr[k]), int(self._live_indptr[k + 1]))
        return None

    def _buffer_chain(self, u: int, limit: int) -> IntArray:
        """Buffer positions of the user's newest ``limit`` events there, oldest first."""
        positions = self._positions.get(u)
        if not positions:
            return np.zeros(0, np.int64)
        return np.asarray(positions[-limit:], np.int64)

    def history(self, u: int, limit: int = 50) -> UserHistory:
        """The user's last ``limit`` events, oldest first."""
        count = self.event_count(u)
        if count == 0:
            return EMPTY_HISTORY
        chain = self._buffer_chain(u, limit)
        parts_i = [self._buf_item.data[chain]]
        parts_t = [self._buf_ts.data[chain]]
        parts_y = [self._buf_type.data[chain]]
        need = limit - len(chain)
        row = self._live_row(u) if need > 0 else None
        if row is not None:
            lo = max(row.start, row.stop - need)
            parts_i.insert(0, self._live_items[lo : row.stop])
            parts_t.insert(0, self._live_ts[lo : row.stop])
            parts_y.insert(0, self._live_types[lo : row.stop])
            need -= row.stop - lo
        if need > 0 and u < self.n_base_users:
            lo, hi = int(self._base_indptr[u]), int(self._base_indptr[u + 1])
            lo = max(lo, hi - need)
            parts_i.insert(0, self._base_items[lo:hi])
            parts_t.insert(0, self._base_ts[lo:hi])
            parts_y.insert(0, self._base_types[lo:hi])
        return UserHistory(
            np.concatenate(parts_i).astype(np.int64),
            np.concatenate(parts_t).astype(np.float64),
            np.concatenate(parts_y).astype(np.int8),
            count,
        )

    def seen(self, u: int) -> IntArray:
        """Every item the user interacted with, sorted and distinct (cached per event count)."""
        count = self.event_count(u)
        key = (u, count)
        hit = self._seen_cache.get(key)
        if hit is not None:
            return hit
        items = self.history(u, count).items if count else np.zeros(0, np.int64)
        out = np.unique(items)
        self._seen_cache[key] = out
        if len(self._seen_cache) > 4096:
            self._seen_cache.popitem(last=False)
        return out

    def recent_distinct(self, u: int, n: int) -> tuple[IntArray, NDArray[np.float64]]:
        """The ``n`` most recently used distinct items, newest first, and their last use time.

        Looks at the last ``4 n`` events only: bounded work for any history length.
        """
        h = self.history(u, 4 * n)
        items, ts = h.items[::-1], h.ts[::-1]
        _, first = np.unique(items, return_index=True)
        keep = np.sort(first)[:n]
        return items[keep], ts[keep]

    def live_events(self) -> int:
        """Events applied since the snapshot."""
        return len(self._live_items) + self._buf_user.n
