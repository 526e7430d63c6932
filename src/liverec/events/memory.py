"""In-process event log (``memory://``) for tests and throwaway runs; nothing is kept."""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Sequence

from liverec.data.dataset import Item
from liverec.events.schema import Event, LogEntry, LoggedEvent, LoggedItem, check_item
from liverec.events.store import EventLog, EventLogError, check_limit, checked_rows


class MemoryEventLog(EventLog):
    """EventLog kept in a list; same contract as the SQLite log, minus durability."""

    def __init__(self) -> None:
        self._entries: list[LogEntry] = []
        self._last = 0
        self._closed = False
        # The API may call from its threadpool; the lock keeps seqs and the list in step.
        self._lock = threading.Lock()

    def append(self, events: Sequence[Event]) -> tuple[int, int]:
        """Store all events (all or none); return (first_seq, last_seq).

        Raises
        ------
        ValueError
            If any event fails ``check_event``.
        """
        checked_rows(events)
        with self._lock:
            self._check_open()
            first = self._last + 1
            self._entries.extend(LoggedEvent(first + i, e) for i, e in enumerate(events))
            self._last += len(events)
            return first, self._last

    def upsert_item(self, item: Item) -> int:
        """Store a catalog upsert; return its seq.

        Raises
        ------
        ValueError
            If the item has no usable item id.
        """
        check_item(item)
        with self._lock:
            self._check_open()
            self._last += 1
            self._entries.append(LoggedItem(self._last, item))
            return self._last

    def read(self, after: int = 0, limit: int = 10_000) -> list[LogEntry]:
        """Entries with seq > after in seq order, at most ``limit`` of them.

        Raises
        ------
        ValueError
            If ``limit`` is not positive.
        """
        check_limit(limit)
        with self._lock:
            self._check_open()
            start = bisect_right(self._entries, after, key=lambda e: e.seq)
            return self._entries[start : start + limit]

    def last_seq(self) -> int:
        """Highest seq ever stored (0 when empty)."""
        with self._lock:
            self._check_open()
            return self._last

    def delete_user(self, user_id: str) -> int:
        """Remove every event of ``user_id``; return how many."""
        with self._lock:
            self._check_open()
            kept = [
                e
                for e in self._entries
                if not (isinstance(e, LoggedEvent) and e.event.user_id == user_id)
            ]
            removed = len(self._entries) - len(kept)
            self._entries = kept
            return removed

    def close(self) -> None:
        """Drop the entries; later calls raise."""
        with self._lock:
            self._closed = True
            self._entries = []

    def _check_open(self) -> None:
        if self._closed:
            raise EventLogError("event log memory:// is closed")
