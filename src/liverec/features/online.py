"""The live service's online state: user histories, item statistics and the catalog.

The state starts from a snapshot's training data and applies logged entries in log order;
``apply`` is its only writer, and readers get the stores through narrow views
(``UserHistoryView``, ``ItemStatsView``, ``CatalogView``). Several API workers each keep one
and tail the shared event log, so it is derived data: the durable truth is snapshot + log.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from liverec.data.catalog import Item
from liverec.data.dataset import Dataset
from liverec.data.idmap import GrowingIdMap
from liverec.events.schema import LogEntry, LoggedEvent, LoggedItem
from liverec.features.catalog_store import LiveCatalog
from liverec.features.histories import UserHistories
from liverec.features.itemstats import ItemStats, ItemStatsConfig, PairWeighting, Partners

ItemHook = Callable[[Sequence[tuple[int, Item]]], None]
BULK = 5_000_000  # snapshot events counted into trending at a time


class OnlineConfig(BaseModel):
    """How the online state follows the events."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stats: ItemStatsConfig = Field(default_factory=ItemStatsConfig)
    compact_every: int = Field(
        200_000, ge=1, description="live events buffered before they are compacted per user"
    )


class RecentItems:
    """Each active user's most recent distinct items (newest first), kept as the events come.

    Built from the user's history on their first event, then updated in O(window) per event;
    an LRU bounds how many users are kept (a user who drops out is rebuilt from history).
    """

    def __init__(self, histories: UserHistories, window: int, size: int = 200_000) -> None:
        self.histories = histories
        self.window = window
        self.size = size
        self._users: OrderedDict[int, tuple[list[int], list[float]]] = OrderedDict()

    def get(self, u: int) -> tuple[list[int], list[float]]:
        """The user's recent distinct items and their last use times, newest first."""
        found = self._users.get(u)
        if found is None:
            items, ts = self.histories.recent_distinct(u, self.window)
            found = self._users[u] = (items.tolist(), ts.tolist())
            if len(self._users) > self.size:
                self._users.popitem(last=False)
        else:
            self._users.move_to_end(u)
        return found

    def record(self, u: int, item: int, ts: float) -> Partners | None:
        """Note an event; returns the items it pairs with (None when ``item`` was already
        among the recent ones: no new pairs)."""
        items, times = self.get(u)
        if item in items:
            k = items.index(item)
            del items[k], times[k]
            partners = None
        else:
            partners = Partners(np.array(items, np.int64), np.array(times, np.float64))
        items.insert(0, item)
        times.insert(0, ts)
        del items[self.window :], times[self.window :]
        return partners


class LiveState:
    """Stores for everything that changes per event, and the one method that changes them."""

    def __init__(
        self,
        data: Dataset,
        last_seq: int,
        config: OnlineConfig | None = None,
        weighting: PairWeighting | None = None,
        base_item_weight: NDArray[np.float64] | None = None,
        item_hooks: Sequence[ItemHook] = (),
    ) -> None:
        self.config = config or OnlineConfig()
        self.users = GrowingIdMap(data.users)
        self.histories = UserHistories(data.interactions, self.config.compact_every)
        self.catalog = LiveCatalog(data.catalog, data.items)
        self.stats = ItemStats(
            data.n_items, self.config.stats, item_weight=base_item_weight, weighting=weighting
        )
        it = data.interactions
        for start in range(0, len(it), BULK):  # slices: bounded temporaries at 100M events
            stop = start + BULK
            self.stats.trending.add(
                np.asarray(it.iidx[start:stop], np.int64), np.asarray(it.ts[start:stop])
            )
        self.item_hooks = list(item_hooks)
        self.recent = RecentItems(self.histories, self.config.stats.pair_window)
        self.applied_seq = last_seq
        self._lock = threading.Lock()

    @property
    def n_items(self) -> int:
        """Items in the live catalog (snapshot items plus items added since)."""
        return len(self.catalog)

    @property
    def latest_ts(self) -> float:
        """The latest event time applied (snapshot data and log), -inf before any event;
        trending keeps it as events arrive, so reading it costs nothing."""
        return self.stats.trending.latest

    def apply(self, entries: Sequence[LogEntry]) -> set[int]:
        """Apply log entries newer than ``applied_seq`` in order; returns the users touched."""
        touched: set[int] = set()
        with self._lock:
            items: list[int] = []
            ts: list[float] = []
            partners: list[Partners | None] = []
            upserted: dict[int, Item] = {}
            for entry in entries:
                if entry.seq <= self.applied_seq:
                    continue
                if isinstance(entry, LoggedItem):
                    idx = self._upsert(entry.item)
                    upserted[idx] = entry.item
                elif isinstance(entry, LoggedEvent):
                    e = entry.event
                    i = self.catalog.ids.get(e.item_id)
                    if i is None:  # the API refuses unknown items; a hand-written log may not
                        i = self._upsert(Item(item_id=e.item_id, title=e.item_id))
                        upserted[i] = self.catalog.item(i)
                    u = self.users.add(e.user_id)
                    partners.append(self.recent.record(u, i, e.ts))
                    self.histories.append(u, i, e.ts, int(e.type))
                    items.append(i)
                    ts.append(e.ts)
                    touched.add(u)
                self.applied_seq = entry.seq
            # Per-batch work (trending's top list, pair runs) is done once for the whole batch.
            self.stats.apply(np.asarray(items, np.int64), np.asarray(ts, np.float64), partners)
            if upserted:
                for hook in self.item_hooks:
                    hook(sorted(upserted.items()))
        return touched

    def _upsert(self, item: Item) -> int:
        idx, new = self.catalog.upsert(item)
        if new:
            self.stats.grow(len(self.catalog))
        return idx
