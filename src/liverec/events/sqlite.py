"""The default durable event log: one SQLite file in WAL mode, shareable by several processes."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qsl

from liverec.core.errors import ConfigError
from liverec.core.types import EventType
from liverec.data.dataset import Item
from liverec.events.schema import Event, LogEntry, LoggedEvent, LoggedItem, check_item
from liverec.events.store import EventLog, EventLogError, check_limit, checked_rows

SCHEMA_VERSION = 1
SYNCHRONOUS: tuple[str, ...] = ("normal", "full")
DEFAULT_BUSY_TIMEOUT_MS = 5_000

# No index beyond the primary key: a (user_id, ...) index cuts insert throughput about
# 20x, and the only query that would use it, delete_user, is rare enough to scan.
# AUTOINCREMENT keeps seqs of deleted rows from being handed out again.
_CREATE = """
CREATE TABLE log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind INTEGER NOT NULL,
    user_id TEXT,
    item_id TEXT NOT NULL,
    type INTEGER,
    value REAL,
    ts REAL,
    doc TEXT
)
"""
_EVENT, _ITEM = 0, 1
_INSERT_EVENT = (
    f"INSERT INTO log (kind, user_id, item_id, type, value, ts) VALUES ({_EVENT}, ?, ?, ?, ?, ?)"
)
_INSERT_ITEM = f"INSERT INTO log (kind, item_id, doc) VALUES ({_ITEM}, ?, ?)"
_READ = (
    "SELECT seq, kind, user_id, item_id, type, value, ts, doc FROM log "
    "WHERE seq > ? ORDER BY seq LIMIT ?"
)
_LAST_SEQ = "SELECT seq FROM sqlite_sequence WHERE name = 'log'"
_DELETE_USER = f"DELETE FROM log WHERE kind = {_EVENT} AND user_id = ?"
_TYPES = tuple(EventType)


def enable_wal(conn: sqlite3.Connection, timeout_s: float) -> str:
    """Switch ``conn``'s database to WAL and return the journal mode it is in.

    Processes opening one new database at once race to switch it, and SQLite answers the
    loser with "database is locked" at once, without waiting out its busy timeout (two
    replicas starting together failed so): retry until ``timeout_s`` has passed.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            return str(mode)
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SqliteEventLog(EventLog):
    """EventLog in a SQLite file (WAL journal); several processes may append and read at once.

    With ``synchronous="normal"`` (the default) a commit has written its WAL frames to the
    operating system before ``append`` returns, so an acknowledged batch survives a kill -9
    of the process, but not a power loss or kernel crash: the last commits before one may be
    rolled back (the file stays consistent). ``synchronous="full"`` fsyncs the WAL on every
    commit and survives power loss too, at a measured cost that shrinks with batch size: on
    a 2-core VM (ext4 on virtio) batches of 1 went from ~15k to ~4k events/s, batches of 100
    from ~230k to ~150k, batches of 1000 stayed at ~220k (tests/events/bench_event_log.py).
    Writers in other processes wait up to ``busy_timeout_ms`` for the write lock, then the
    call raises EventLogError.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "normal",
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    ) -> None:
        """Open or create the log at ``path`` (its parent folder is created if missing).

        Raises
        ------
        ConfigError
            If ``synchronous`` or ``busy_timeout_ms`` has a value this log cannot use.
        EventLogError
            If the file cannot be opened, is not an event log, or has another schema version.
        """
        if synchronous.lower() not in SYNCHRONOUS:
            raise ConfigError(
                f"sqlite synchronous={synchronous!r} is not one of {', '.join(SYNCHRONOUS)}"
            )
        if busy_timeout_ms < 0:
            raise ConfigError(f"sqlite busy_timeout_ms must be >= 0, got {busy_timeout_ms}")
        self.path = Path(path)
        self._lock = threading.Lock()
        self.busy_timeout_s = busy_timeout_ms / 1000
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False: FastAPI may call from its threadpool; self._lock
            # serialises use of the one connection instead.
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                self.path,
                timeout=busy_timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        except (OSError, sqlite3.Error) as e:
            raise EventLogError(f"cannot open event log {self.path}: {e}") from None
        try:
            self._setup(self._conn, synchronous.lower())
        except sqlite3.Error as e:
            self.close()
            raise EventLogError(f"cannot open event log {self.path}: {e}") from None
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_url(cls, url: str) -> SqliteEventLog:
        """Open the log a ``sqlite:///path?synchronous=full&busy_timeout_ms=N`` url names.

        Raises
        ------
        ConfigError
            If the path is empty or an option is unknown or has a bad value.
        EventLogError
            If the file cannot be opened as an event log.
        """
        path, _, query = url.removeprefix("sqlite:///").partition("?")
        if not path:
            raise ConfigError(f"event log url {url!r} has no file path after 'sqlite:///'")
        options = dict(parse_qsl(query, keep_blank_values=True))
        unknown = sorted(set(options) - {"synchronous", "busy_timeout_ms"})
        if unknown:
            raise ConfigError(
                f"event log url {url!r} has unknown option(s) {', '.join(unknown)}: "
                "accepted are synchronous=normal|full and busy_timeout_ms=<int>"
            )
        try:
            timeout = int(options.get("busy_timeout_ms", DEFAULT_BUSY_TIMEOUT_MS))
        except ValueError:
            raise ConfigError(
                f"event log url {url!r}: busy_timeout_ms must be an integer"
            ) from None
        return cls(path, synchronous=options.get("synchronous", "normal"), busy_timeout_ms=timeout)

    def append(self, events: Sequence[Event]) -> tuple[int, int]:
        """Store all events in one transaction (all or none); return (first_seq, last_seq).

        Raises
        ------
        ValueError
            If any event fails ``check_event``.
        EventLogError
            If the write lock is not had within the busy timeout, or the write fails.
        """
        rows = checked_rows(events)
        if not rows:
            last = self.last_seq()
            return last + 1, last
        with self._lock:
            conn = self._connection()
            try:
                # IMMEDIATE takes the write lock up front and holds it to COMMIT: no other
                # process inserts between our rows (one batch, contiguous seqs), and seqs
                # become visible in order, so a reader tailing by seq never skips one.
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.executemany(_INSERT_EVENT, rows)
                    (last,) = conn.execute("SELECT last_insert_rowid()").fetchone()
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                raise EventLogError(f"cannot append to event log {self.path}: {e}") from e
        return int(last) - len(rows) + 1, int(last)

    def upsert_item(self, item: Item) -> int:
        """Store a catalog upsert in its own transaction; return its seq.

        Raises
        ------
        ValueError
            If the item has no usable item id.
        EventLogError
            If the write lock is not had within the busy timeout, or the write fails.
        """
        check_item(item)
        doc = json.dumps(item.to_json(), ensure_ascii=False)
        with self._lock:
            try:
                cur = self._connection().execute(_INSERT_ITEM, (item.item_id, doc))
            except sqlite3.Error as e:
                raise EventLogError(f"cannot append to event log {self.path}: {e}") from e
        return int(cur.lastrowid or 0)

    def read(self, after: int = 0, limit: int = 10_000) -> list[LogEntry]:
        """Entries with seq > after in seq order, at most ``limit`` of them.

        Raises
        ------
        ValueError
            If ``limit`` is not positive.
        EventLogError
            If the file cannot be read.
        """
        check_limit(limit)
        with self._lock:
            try:
                rows = self._connection().execute(_READ, (after, limit)).fetchall()
            except sqlite3.Error as e:
                raise EventLogError(f"cannot read event log {self.path}: {e}") from e
        types = _TYPES
        return [
            LoggedEvent(seq, Event(user_id, item_id, types[t], ts, value))
            if kind == _EVENT
            else LoggedItem(seq, Item.from_json(json.loads(doc)))
            for seq, kind, user_id, item_id, t, value, ts, doc in rows
        ]

    def last_seq(self) -> int:
        """Highest seq ever committed by any process (0 when empty).

        Raises
        ------
        EventLogError
            If the file cannot be read.
        """
        with self._lock:
            try:
                row = self._connection().execute(_LAST_SEQ).fetchone()
            except sqlite3.Error as e:
                raise EventLogError(f"cannot read event log {self.path}: {e}") from e
        return int(row[0]) if row else 0

    def delete_user(self, user_id: str) -> int:
        """Remove every event of ``user_id``, overwriting the freed bytes; return how many.

        Raises
        ------
        EventLogError
            If the write lock is not had within the busy timeout, or the write fails.
        """
        with self._lock:
            conn = self._connection()
            try:
                n = conn.execute(_DELETE_USER, (user_id,)).rowcount
                # secure_delete zeroes the freed space in the new page images, but the old
                # images stay in the WAL until a checkpoint copies them over and it is
                # truncated. Best effort: readers in other processes can keep it from
                # completing, in which case a later checkpoint finishes the job.
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.Error as e:
                raise EventLogError(f"cannot delete from event log {self.path}: {e}") from e
        return int(n)

    def close(self) -> None:
        """Close the connection; closing twice is harmless."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise EventLogError(f"event log {self.path} is closed")
        return self._conn

    def _setup(self, conn: sqlite3.Connection, synchronous: str) -> None:
        mode = enable_wal(conn, self.busy_timeout_s)
        if mode != "wal":
            # e.g. ':memory:' or a file system without shared memory: the durability and
            # multi-process promises above would not hold.
            raise EventLogError(f"event log {self.path} cannot use WAL mode (got {mode!r})")
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        conn.execute("PRAGMA secure_delete = ON")
        if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
            self._create_schema(conn)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise EventLogError(
                f"event log {self.path} has schema version {version}; this liverec reads "
                f"version {SCHEMA_VERSION}: open it with the liverec that wrote it, or "
                "start a new log"
            )

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have created it while we waited for the write lock.
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                if conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
                    raise EventLogError(
                        f"{self.path} is a SQLite database but not a liverec event log"
                    )
                conn.execute(_CREATE)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
