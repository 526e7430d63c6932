"""The event log interface, shared by every backend, and ``open_event_log`` to pick one by URL."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from liverec.core.errors import ConfigError, LiverecError
from liverec.data.dataset import Item
from liverec.events.schema import Event, LogEntry, check_event

SCHEMES: tuple[str, ...] = ("memory://", "sqlite:///", "redis://", "rediss://", "unix://")


class EventLogError(LiverecError):
    """The log cannot be used: closed, locked past its busy timeout, unreadable, or not a log."""


class EventLog(ABC):
    """Durable, append-only log of behaviour events and catalog upserts under one seq space.

    Sequence numbers start at 1, increase with every stored entry across every process
    that shares the log, and are never reused, not even after ``delete_user``. Entries become
    visible in seq order, so a reader that tails with ``read(after=last_seq_it_applied)``
    never skips one; every backend must keep that promise. A model snapshot records the seq
    it was trained up to; on restart the service replays ``read(after=that_seq)``. Every
    method may be called from any thread; once the log is closed, every method but
    ``close`` raises EventLogError.
    """

    @abstractmethod
    def append(self, events: Sequence[Event]) -> tuple[int, int]:
        """Durably store all events atomically (all or none); return (first_seq, last_seq).

        The seqs of one batch are contiguous: ``last - first + 1 == len(events)``. An empty
        batch stores nothing and returns ``(last_seq() + 1, last_seq())``, the empty range.

        Raises
        ------
        ValueError
            If any event fails ``check_event``; then none of the batch is stored.
        """

    @abstractmethod
    def upsert_item(self, item: Item) -> int:
        """Durably store a catalog upsert; return its seq.

        Raises
        ------
        ValueError
            If the item has no usable item id.
        """

    @abstractmethod
    def read(self, after: int = 0, limit: int = 10_000) -> list[LogEntry]:
        """Entries with seq > after in seq order (events and items interleaved, one seq space).

        Returns at most ``limit`` entries; an empty list means the reader is caught up.

        Raises
        ------
        ValueError
            If ``limit`` is not positive.
        """

    @abstractmethod
    def last_seq(self) -> int:
        """Highest seq ever committed (0 when empty); it never decreases, even after deletes."""

    async def last_seq_async(self) -> int:
        """``last_seq`` for an event loop. Logs behind a network round trip override it so
        the loop serves other requests while it waits; local ones answer at once."""
        return self.last_seq()

    @abstractmethod
    def delete_user(self, user_id: str) -> int:
        """Remove every event of a user (privacy); return how many were removed."""

    @abstractmethod
    def close(self) -> None:
        """Release the log's resources; closing twice is harmless."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def checked_rows(
    events: Sequence[Event],
) -> list[tuple[str, str, int, float | None, float]]:
    """Check every event and return its (user_id, item_id, type, value, ts) row, before any write.

    Raises
    ------
    ValueError
        Naming the index and field of the first bad event.
    """
    rows = []
    for i, e in enumerate(events):
        try:
            check_event(e)
        except ValueError as err:
            raise ValueError(f"events[{i}]: {err}") from None
        rows.append((e.user_id, e.item_id, int(e.type), e.value, e.ts))
    return rows


def check_limit(limit: int) -> None:
    """Refuse a read limit that could never return anything.

    Raises
    ------
    ValueError
        If ``limit`` is below 1.
    """
    if limit < 1:
        raise ValueError(f"read limit must be at least 1, got {limit}")


def open_event_log(url: str) -> EventLog:
    """Open the event log that ``url`` names: ``memory://``, ``sqlite:///path[?options]`` or
    ``redis://host:port/db[?prefix=NAME]``.

    SQLite options: ``synchronous=normal|full`` and ``busy_timeout_ms=N``; see SqliteEventLog.
    Redis: see RedisEventLog (needs the ``redis`` extra).

    Raises
    ------
    ConfigError
        If the scheme is unknown, the path is empty or an option is not recognised.
    EventLogError
        If the SQLite file cannot be opened or is not an event log this version can read.
    """
    # Backends import this module for EventLog, so they are imported here, when chosen.
    if url == "memory://":
        from liverec.events.memory import MemoryEventLog

        return MemoryEventLog()
    if url.startswith("sqlite:///"):
        from liverec.events.sqlite import SqliteEventLog

        return SqliteEventLog.from_url(url)
    if url.startswith(SCHEMES[2:]):
        from liverec.events.redis_log import RedisEventLog

        return RedisEventLog.from_url(url)
    raise ConfigError(
        f"event log url {url!r} is not supported: accepted schemes are {', '.join(SCHEMES)} "
        "as in 'memory://', 'sqlite:///relative/log.db', 'sqlite:////absolute/log.db' or "
        "'sqlite:///log.db?synchronous=full' or 'redis://127.0.0.1:6379/0'"
    )


def read_all(log: EventLog, batch: int = 10_000) -> list[LogEntry]:
    """Every entry of ``log`` in sequence order (what a training run folds into its data)."""
    out: list[LogEntry] = []
    after = 0
    while entries := log.read(after, batch):
        out.extend(entries)
        after = entries[-1].seq
    return out
