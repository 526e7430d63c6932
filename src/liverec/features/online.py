"""Per-event online state: user histories, co-occurrence counts, trending, the live catalog.

The state starts from a snapshot's training data and applies logged entries in log order.
Several API workers each keep one and tail the shared event log, so it is derived data:
the durable truth is the snapshot plus the log.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from liverec.data.dataset import Dataset, Item
from liverec.data.idmap import GrowingIdMap
from liverec.events.schema import LogEntry, LoggedEvent, LoggedItem
from liverec.features.content import ItemVectors
from liverec.features.cooccurrence import Cooccurrence, cooccurrence_counts, make_cooccurrence
from liverec.features.trending import Trending

IntArray = NDArray[np.int64]
DAY = 86_400.0


class OnlineConfig(BaseModel):
    """``trending_half_life_days``: how fast an event's weight in "trending" halves.

    ``incremental`` False rebuilds the co-occurrence counts, item-CF similarity and trending
    from every interaction after each batch instead of updating them in place: the same
    answers at a far higher ingest cost (the ablation benchmark's "recompute" row).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    trending_half_life_days: float = Field(7.0, gt=0)
    incremental: bool = True


@dataclass
class _LiveUser:
    """Events of one user since the snapshot, plus everything they have ever interacted with."""

    items: list[int] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    types: list[int] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    seen_order: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class UserHistory:
    """A user's events, oldest first (``items``, ``ts``, ``types`` are parallel)."""

    items: IntArray
    ts: NDArray[np.float64]
    types: NDArray[np.int8]
    event_count: int


class OnlineState:
    """Everything the pipeline reads that changes per event; ``apply`` is the only writer."""

    def __init__(
        self,
        data: Dataset,
        cooccurrence: sp.csr_matrix,
        last_seq: int,
        config: OnlineConfig | None = None,
        similarity: tuple[float, float] | None = None,
        vectors: ItemVectors | None = None,
        embed: Callable[[Item], NDArray[np.float32]] | None = None,
    ) -> None:
        """Start from a snapshot; ``similarity`` is the item-CF (alpha, shrink) to keep current."""
        self.config = config or OnlineConfig()
        self._data = data
        self._similarity = similarity
        # Item text embeddings; ``embed`` encodes items that arrive after the snapshot.
        self.vectors = vectors
        self._embed = embed
        self.users = GrowingIdMap(data.users)
        self.items = GrowingIdMap(data.items)
        self.catalog: list[Item] = list(data.catalog)
        it = data.interactions
        order = it.time_order()
        self._base = it.histories()
        self._base_types = it.etype[order]
        self._base_counts = self._base.lengths()
        self._live: dict[int, _LiveUser] = {}
        self.cooccurrence: Cooccurrence = make_cooccurrence(
            cooccurrence, it.item_counts().astype(np.float32), similarity
        )
        self.trending = Trending(data.n_items, self.config.trending_half_life_days * DAY)
        self.trending.add(it.iidx.astype(np.int64), it.ts)
        # Items added since the snapshot: the collaborative channels cannot see them yet.
        # (Catalog items that never had an interaction are left to the content channel:
        # giving them exploration places too cost 3% NDCG@10 on the validation replay.)
        self.new_items: list[int] = []
        self.uninteracted: list[int] = np.flatnonzero(it.item_counts() == 0).tolist()
        self.catalog_version = 0
        self.applied_seq = last_seq
        self._lock = threading.Lock()

    @property
    def n_items(self) -> int:
        """Items in the live catalog (snapshot items plus items added since)."""
        return len(self.items)

    # --- writes -----------------------------------------------------------------------------
    def apply(self, entries: Sequence[LogEntry]) -> set[int]:
        """Apply log entries newer than ``applied_seq`` in order; returns the users touched."""
        touched: set[int] = set()
        with self._lock:
            self._changed_items: list[int] = []
            self._trend_items: list[int] = []
            self._trend_ts: list[float] = []
            for entry in entries:
                if entry.seq <= self.applied_seq:
                    continue
                if isinstance(entry, LoggedEvent):
                    touched.add(self._apply_event(entry))
                elif isinstance(entry, LoggedItem):
                    self._apply_item(entry.item)
                self.applied_seq = entry.seq
            if not self.config.incremental:
                self._rebuild_derived()
                return touched
            # Work that is per item, not per event, is done once for the whole batch.
            self.cooccurrence.refresh(np.asarray(self._changed_items, np.int64))
            self.trending.add(
                np.asarray(self._trend_items, np.int64), np.asarray(self._trend_ts, np.float64)
            )
        return touched

    def _rebuild_derived(self) -> None:
        """Recompute co-occurrence, similarity and trending from every interaction so far."""
        base = self._data.interactions
        users, items, ts = [base.uidx.astype(np.int64)], [base.iidx.astype(np.int64)], [base.ts]
        for u, live in self._live.items():
            users.append(np.full(len(live.items), u, np.int64))
            items.append(np.asarray(live.items, np.int64))
            ts.append(np.asarray(live.ts, np.float64))
        u_all, i_all, t_all = np.concatenate(users), np.concatenate(items), np.concatenate(ts)
        n_users, n_items = len(self.users), self.n_items
        matrix = sp.csr_matrix(
            (np.ones(len(u_all), np.float32), (u_all, i_all)), shape=(n_users, n_items)
        )
        matrix.data[:] = 1.0
        counts = np.bincount(matrix.indices, minlength=n_items).astype(np.float32)
        self.cooccurrence = make_cooccurrence(cooccurrence_counts(matrix), counts, self._similarity)
        self.trending = Trending(n_items, self.config.trending_half_life_days * DAY)
        self.trending.add(i_all, t_all)

    def _apply_item(self, item: Item) -> int:
        self.catalog_version += 1
        idx = self.items.add(item.item_id)
        if self.vectors is not None and self._embed is not None:
            self.vectors.set(idx, self._embed(item))
        if idx < len(self.catalog):
            self.catalog[idx] = item
            return idx
        self.catalog.append(item)
        self.new_items.append(idx)
        self.cooccurrence.grow(len(self.catalog))
        self.trending.grow(len(self.catalog))
        return idx

    def _apply_event(self, logged: LoggedEvent) -> int:
        e = logged.event
        i = self.items.get(e.item_id)
        if i is None:  # the API refuses unknown items; a log written by hand may not
            i = self._apply_item(Item(item_id=e.item_id, title=e.item_id))
        u = self.users.add(e.user_id)
        live = self._live.get(u)
        if live is None:
            live = self._live[u] = _LiveUser()
            base = self._base_row(u)
            live.seen_order = list(dict.fromkeys(base.tolist()))
            live.seen = set(live.seen_order)
        live.items.append(i)
        live.ts.append(e.ts)
        live.types.append(int(e.type))
        if i not in live.seen:
            # Co-occurrence counts distinct users per pair, as in the offline item-CF.
            others = np.fromiter(live.seen_order, np.int64, len(live.seen_order))
            self.cooccurrence.add(i, others)
            # c(i, others) and n(i) changed: that is similarity row i and column i, no more.
            self._changed_items.append(i)
            live.seen.add(i)
            live.seen_order.append(i)
        self._trend_items.append(i)
        self._trend_ts.append(e.ts)
        return u

    # --- reads ------------------------------------------------------------------------------
    def _base_row(self, u: int) -> IntArray:
        if u >= len(self._base):
            return np.zeros(0, np.int64)
        return self._base[u]

    def event_count(self, u: int) -> int:
        """Events of user ``u`` in the snapshot and since."""
        base = int(self._base_counts[u]) if u < len(self._base_counts) else 0
        live = self._live.get(u)
        return base + (len(live.items) if live else 0)

    def has_live_events(self, u: int) -> bool:
        """Whether the user acted since the snapshot (their trained vectors are stale)."""
        return u in self._live

    def history(self, u: int, limit: int = 50) -> UserHistory:
        """The user's last ``limit`` events, oldest first."""
        lo, hi = (self._base.indptr[u], self._base.indptr[u + 1]) if u < len(self._base) else (0, 0)
        live = self._live.get(u)
        n_live = len(live.items) if live else 0
        take_base = max(0, min(hi - lo, limit - n_live))
        items = self._base.items[hi - take_base : hi]
        ts = self._base.ts[hi - take_base : hi]
        types = self._base_types[hi - take_base : hi]
        if live:
            keep = min(n_live, limit)
            items = np.concatenate([items, np.asarray(live.items[-keep:], np.int64)])
            ts = np.concatenate([ts, np.asarray(live.ts[-keep:], np.float64)])
            types = np.concatenate([types, np.asarray(live.types[-keep:], np.int8)])
        return UserHistory(items, ts, types, self.event_count(u))

    def seen(self, u: int) -> IntArray:
        """Every item the user has interacted with (snapshot and live)."""
        live = self._live.get(u)
        if live is not None:
            return np.fromiter(live.seen_order, np.int64, len(live.seen_order))
        if u >= len(self._base):
            return np.zeros(0, np.int64)
        # Duplicates in a history are harmless where this is used (masks and counts).
        return self._base[u]

    def full_history(self, u: int) -> IntArray:
        """All of the user's items in order (for fold-in)."""
        live = self._live.get(u)
        base = self._base_row(u)
        if live is None:
            return base
        return np.concatenate([base, np.asarray(live.items, np.int64)])
