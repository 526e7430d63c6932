"""What experiment traffic was shown: one exposure per answer, kept apart from the event log.

An exposure records which experiment and arm answered a request, the pseudonymised user, when,
and the items in the order shown (for an interleaved answer also the arm that placed each
item). Outcomes are not stored here: a report joins exposures with the user's later click and
purchase events from the event log, so the ``EventLog`` contract stays as it is.

Two backends behind one small interface: ``memory://`` for tests and simulations, and
``sqlite:///path`` (WAL, one transaction per append, ``synchronous=NORMAL`` as the event log:
an acknowledged exposure survives a kill -9 of the process). The service's store lives next
to the event log, ``$LIVEREC_HOME/state/DATASET/exposures.db``.
"""

from __future__ import annotations

import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from liverec.core.errors import ConfigError
from liverec.events.sqlite import enable_wal
from liverec.events.store import EventLogError

ITEM_SEP = "\x1f"  # unit separator: item ids may hold any printable character, never this


@dataclass(frozen=True, slots=True)
class Exposure:
    """One answer shown under an experiment."""

    request_id: str
    experiment: str
    arm: str
    user_id: str
    """The pseudonym, never the raw id."""
    ts: float
    """Epoch seconds when the answer was made."""
    items: tuple[str, ...]
    """Item ids, first position first."""
    teams: tuple[str, ...] = ()
    """Interleaving only: the arm that placed each item (same length as ``items``)."""


class ExposureLog(ABC):
    """Durable, append-only record of exposures, read back per experiment."""

    @abstractmethod
    def append(self, exposures: Sequence[Exposure]) -> None:
        """Store all exposures (all or none); durable when it returns."""

    @abstractmethod
    def read(self, experiment: str) -> list[Exposure]:
        """Every exposure of ``experiment``, in the order they were appended."""

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """Exposures stored per experiment name."""

    @abstractmethod
    def delete_user(self, user_id: str) -> int:
        """Remove every exposure of a user (erasure); return how many were removed."""

    @abstractmethod
    def close(self) -> None:
        """Release resources; closing twice is harmless."""


class MemoryExposureLog(ExposureLog):
    """Exposures in a list: the same contract without durability."""

    def __init__(self) -> None:
        self._rows: list[Exposure] = []
        self._lock = threading.Lock()

    def append(self, exposures: Sequence[Exposure]) -> None:
        """Store the exposures."""
        with self._lock:
            self._rows.extend(exposures)

    def read(self, experiment: str) -> list[Exposure]:
        """The exposures of ``experiment`` in append order."""
        with self._lock:
            return [e for e in self._rows if e.experiment == experiment]

    def counts(self) -> dict[str, int]:
        """Exposures per experiment."""
        out: dict[str, int] = {}
        with self._lock:
            for e in self._rows:
                out[e.experiment] = out.get(e.experiment, 0) + 1
        return out

    def delete_user(self, user_id: str) -> int:
        """Drop the user's exposures; return how many."""
        with self._lock:
            kept = [e for e in self._rows if e.user_id != user_id]
            removed = len(self._rows) - len(kept)
            self._rows = kept
        return removed

    def close(self) -> None:
        """Nothing to release."""


_CREATE = """
CREATE TABLE IF NOT EXISTS exposures (
    n INTEGER PRIMARY KEY,
    experiment TEXT NOT NULL,
    arm TEXT NOT NULL,
    request_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    ts REAL NOT NULL,
    items TEXT NOT NULL,
    teams TEXT NOT NULL
)
"""
# Reports read one experiment at a time; erasure scans (rare, as in the event log).
_INDEX = "CREATE INDEX IF NOT EXISTS by_experiment ON exposures (experiment)"
_INSERT = (
    "INSERT INTO exposures (experiment, arm, request_id, user_id, ts, items, teams) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_READ = (
    "SELECT request_id, experiment, arm, user_id, ts, items, teams FROM exposures "
    "WHERE experiment = ? ORDER BY n"
)


class SqliteExposureLog(ExposureLog):
    """Exposures in a SQLite file (WAL); several processes may append at once."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 5_000) -> None:
        """Open or create the store at ``path`` (its folder is created if missing).

        Raises
        ------
        EventLogError
            If the file cannot be opened or set up.
        """
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                self.path,
                timeout=busy_timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,  # the lock serialises use of the one connection
            )
            enable_wal(self._conn, busy_timeout_ms / 1000)
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA secure_delete = ON")
            self._conn.execute(_CREATE)
            self._conn.execute(_INDEX)
        except (OSError, sqlite3.Error) as e:
            raise EventLogError(f"cannot open exposure log {self.path}: {e}") from None

    def append(self, exposures: Sequence[Exposure]) -> None:
        """Store the exposures in one transaction.

        Raises
        ------
        EventLogError
            If the write fails.
        """
        rows = [
            (
                e.experiment,
                e.arm,
                e.request_id,
                e.user_id,
                e.ts,
                ITEM_SEP.join(e.items),
                ITEM_SEP.join(e.teams),
            )
            for e in exposures
        ]
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.executemany(_INSERT, rows)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                raise EventLogError(f"cannot append to exposure log {self.path}: {e}") from e

    def read(self, experiment: str) -> list[Exposure]:
        """The exposures of ``experiment`` in append order.

        Raises
        ------
        EventLogError
            If the file cannot be read.
        """
        with self._lock:
            try:
                rows = self._connection().execute(_READ, (experiment,)).fetchall()
            except sqlite3.Error as e:
                raise EventLogError(f"cannot read exposure log {self.path}: {e}") from e
        return [
            Exposure(rid, exp, arm, user, ts, _split(items), _split(teams))
            for rid, exp, arm, user, ts, items, teams in rows
        ]

    def counts(self) -> dict[str, int]:
        """Exposures per experiment.

        Raises
        ------
        EventLogError
            If the file cannot be read.
        """
        query = "SELECT experiment, COUNT(*) FROM exposures GROUP BY experiment"
        with self._lock:
            try:
                return dict(self._connection().execute(query).fetchall())
            except sqlite3.Error as e:
                raise EventLogError(f"cannot read exposure log {self.path}: {e}") from e

    def delete_user(self, user_id: str) -> int:
        """Remove the user's exposures, overwriting the freed bytes; return how many.

        Raises
        ------
        EventLogError
            If the write fails.
        """
        with self._lock:
            conn = self._connection()
            try:
                n = conn.execute("DELETE FROM exposures WHERE user_id = ?", (user_id,)).rowcount
                # as in the event log: old page images leave the WAL at a truncating checkpoint
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.Error as e:
                raise EventLogError(f"cannot delete from exposure log {self.path}: {e}") from e
        return int(n)

    def close(self) -> None:
        """Close the connection; closing twice is harmless."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise EventLogError(f"exposure log {self.path} is closed")
        return self._conn


def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split(ITEM_SEP)) if text else ()


def open_exposure_log(url: str) -> ExposureLog:
    """The exposure log ``url`` names: ``memory://`` or ``sqlite:///path``.

    Raises
    ------
    ConfigError
        If the scheme is not one of those.
    """
    if url == "memory://":
        return MemoryExposureLog()
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return SqliteExposureLog(url.removeprefix("sqlite:///"))
    raise ConfigError(
        f"exposure log url {url!r} is not supported: use 'memory://' or 'sqlite:///path'"
    )
