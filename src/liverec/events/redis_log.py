"""Event log on Redis Streams (``redis://host:port/db``), shared by replicas on several hosts.

Layout, under a key prefix (``?prefix=``, default ``liverec``):

- ``{prefix}:log``: the stream, one entry per seq under the stream id ``<seq>-0``, so a
  reader tails with ``XRANGE (<after>-0 +``. An event entry names only its user; an item
  entry carries the item's JSON.
- ``{prefix}:u:<user_id>``: a hash of that user's event payloads, seq -> JSON
  ``[item_id, type, value, ts]``.
- ``{prefix}:seq``: the last seq handed out (INCRBY; never decreases).

Each batch is one Lua script, so it is atomic (Redis runs a script alone and writes its
effects to the AOF as one MULTI/EXEC) and becomes visible all at once, in seq order. The call
returns only after Redis has run the script; with ``appendonly yes`` and ``appendfsync
always`` Redis fsyncs the AOF before it replies, so an acknowledged batch survives kill -9
of Redis (``everysec`` can lose up to about a second of acknowledged batches on a crash).

Why payloads live in per-user hashes and not in the stream: XDEL only flags a stream entry
as deleted, leaving its bytes in the stream's node until the whole node is freed. Keeping the
payload (item, type, time) in the user's hash means ``delete_user`` frees it for real (DEL);
what stays flagged in the stream is the seq and the user's pseudonymous id. The AOF is then
rewritten (BGREWRITEAOF) so the disk no longer holds the erased commands either.

Single Redis (or a primary with replicas), not Redis Cluster: the scripts touch keys they
compute, which Cluster forbids.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import orjson

from liverec.core.errors import ConfigError
from liverec.core.types import EventType
from liverec.data.dataset import Item
from liverec.events.schema import Event, LogEntry, LoggedEvent, LoggedItem, check_item
from liverec.events.store import EventLog, EventLogError, check_limit, checked_rows

# KEYS: stream, counter. ARGV: user-key prefix, then (user_id, payload) pairs.
_APPEND = """
local n = (#ARGV - 1) / 2
local last = redis.call('INCRBY', KEYS[2], n)
local first = last - n + 1
for k = 0, n - 1 do
  local seq = first + k
  local user = ARGV[2 + 2 * k]
  redis.call('XADD', KEYS[1], seq .. '-0', 'u', user)
  redis.call('HSET', ARGV[1] .. user, seq, ARGV[3 + 2 * k])
end
return first
"""

# KEYS: stream, counter. ARGV: item JSON.
_UPSERT_ITEM = """
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], seq .. '-0', 'item', ARGV[1])
return seq
"""

# KEYS: stream. ARGV: exclusive start id, count, user-key prefix. Returns flat triples
# (seq, kind, body): kind 'e' with body [user_id, payload JSON], or 'i' with the item JSON.
_READ = """
local rows = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
local out = {}
for _, row in ipairs(rows) do
  local id, fields = row[1], row[2]
  local seq = string.sub(id, 1, string.find(id, '-', 1, true) - 1)
  if fields[1] == 'u' then
    local payload = redis.call('HGET', ARGV[3] .. fields[2], seq)
    table.insert(out, seq)
    table.insert(out, 'e')
    table.insert(out, {fields[2], payload})
  else
    table.insert(out, seq)
    table.insert(out, 'i')
    table.insert(out, fields[2])
  end
end
return out
"""

# KEYS: stream, user hash. Returns how many events were removed.
_DELETE_USER = """
local seqs = redis.call('HKEYS', KEYS[2])
for start = 1, #seqs, 1000 do
  local ids = {}
  for k = start, math.min(start + 999, #seqs) do
    table.insert(ids, seqs[k] .. '-0')
  end
  redis.call('XDEL', KEYS[1], unpack(ids))
end
redis.call('DEL', KEYS[2])
return #seqs
"""


class RedisEventLog(EventLog):
    """EventLog on a Redis stream; same contract as the SQLite log, shared across hosts."""

    def __init__(
        self, client: Any, prefix: str = "liverec", label: str = "redis", url: str | None = None
    ) -> None:
        self._client = client
        self.label = label
        self._url = url  # for the event loop's own client (last_seq_async)
        self._async: tuple[asyncio.AbstractEventLoop, Any] | None = None
        self._stream = f"{prefix}:log"
        self._counter = f"{prefix}:seq"
        self._users = f"{prefix}:u:"
        self._append = client.register_script(_APPEND)
        self._upsert = client.register_script(_UPSERT_ITEM)
        self._read = client.register_script(_READ)
        self._delete = client.register_script(_DELETE_USER)
        self._closed = False
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> RedisEventLog:
        """Connect to ``redis://host:port/db[?prefix=NAME]`` (also ``rediss://``, ``unix://``).

        Raises
        ------
        ConfigError
            If redis-py is not installed or an option other than ``prefix`` is given.
        EventLogError
            If Redis does not answer.
        """
        try:
            import redis
        except ImportError as e:
            raise ConfigError(
                "a redis:// event log needs the redis package: pip install 'liverec[redis]'"
            ) from e
        parts = urlsplit(url)
        options = parse_qs(parts.query)
        unknown = sorted(set(options) - {"prefix"})
        if unknown:
            raise ConfigError(f"event log url {url!r}: unknown option(s) {unknown}; known: prefix")
        prefix = options.get("prefix", ["liverec"])[0]
        bare = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        client = redis.Redis.from_url(bare, socket_timeout=10, health_check_interval=30)
        log = cls(client, prefix, label=f"{bare} (prefix {prefix})", url=bare)
        log.last_seq()  # fail now, with the address, rather than at the first event
        return log

    def append(self, events: Sequence[Event]) -> tuple[int, int]:
        """Store all events atomically; return (first_seq, last_seq) once Redis accepted them.

        Raises
        ------
        ValueError
            If any event fails ``check_event``; then none of the batch is stored.
        EventLogError
            If Redis cannot be reached or refuses the write (then nothing was stored).
        """
        rows = checked_rows(events)
        if not rows:
            last = self.last_seq()
            return last + 1, last
        args: list[str | bytes] = [self._users]
        for user_id, item_id, etype, value, ts in rows:
            args.append(user_id)
            args.append(orjson.dumps([item_id, etype, value, ts]))
        first = int(self._call(self._append, [self._stream, self._counter], args))
        return first, first + len(rows) - 1

    def upsert_item(self, item: Item) -> int:
        """Store a catalog upsert in the same ordered stream; return its seq.

        Raises
        ------
        ValueError
            If the item has no usable item id.
        EventLogError
            If Redis cannot be reached or refuses the write.
        """
        check_item(item)
        doc = orjson.dumps(item.to_json())
        return int(self._call(self._upsert, [self._stream, self._counter], [doc]))

    def read(self, after: int = 0, limit: int = 10_000) -> list[LogEntry]:
        """Entries with seq > after in seq order, at most ``limit`` of them.

        Raises
        ------
        ValueError
            If ``limit`` is not positive.
        EventLogError
            If Redis cannot be reached.
        """
        check_limit(limit)
        flat = self._call(self._read, [self._stream], [f"{after}-0", limit, self._users])
        out: list[LogEntry] = []
        for k in range(0, len(flat), 3):
            seq, kind, body = int(flat[k]), flat[k + 1], flat[k + 2]
            if kind == b"e":
                user_id, payload = body
                item_id, etype, value, ts = orjson.loads(payload)
                event = Event(
                    user_id.decode(), item_id, EventType(etype), float(ts), _number(value)
                )
                out.append(LoggedEvent(seq, event))
            else:
                out.append(LoggedItem(seq, Item.from_json(orjson.loads(body))))
        return out

    def last_seq(self) -> int:
        """Highest seq ever stored (0 when empty); deletes never lower it.

        Raises
        ------
        EventLogError
            If Redis cannot be reached.
        """
        found = self._call(self._client.get, self._counter)
        return int(found) if found else 0

    async def last_seq_async(self) -> int:
        """``last_seq`` without blocking the event loop (redis.asyncio, one client per loop).

        Raises
        ------
        EventLogError
            If Redis cannot be reached.
        """
        import redis
        import redis.asyncio

        if self._url is None:  # made from a client of the caller's: no URL to open another
            return self.last_seq()
        if self._closed:
            raise EventLogError(f"event log {self.label} is closed")
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            client = redis.asyncio.Redis.from_url(self._url, socket_timeout=10)
            self._async = (loop, client)
        try:
            found = await self._async[1].get(self._counter)
        except redis.RedisError as e:
            raise EventLogError(f"event log {self.label}: {type(e).__name__}: {e}") from e
        return int(found) if found else 0

    def delete_user(self, user_id: str) -> int:
        """Remove every event of ``user_id``, then rewrite Redis's files without them.

        Returns how many events were removed.

        Raises
        ------
        EventLogError
            If Redis cannot be reached.
        """
        removed = int(self._call(self._delete, [self._stream, self._users + user_id], []))
        if removed:
            self._scrub_disk()
        return removed

    def close(self) -> None:
        """Close the connections; closing twice is harmless."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._client.close()

    def _scrub_disk(self, wait_s: float = 600.0) -> None:
        """Rewrite what Redis keeps on disk so it no longer holds erased events; wait for it.

        An AOF rewrite already running forked before the delete, so its file would still
        hold them: wait for it and start one of our own. RDB snapshots, when configured, are
        taken again for the same reason. Erasures are rare, so waiting is the right trade.
        """
        deadline = time.monotonic() + wait_s
        if self._persistence().get("aof_enabled"):
            self._run_in_background(self._client.bgrewriteaof, "aof_rewrite", deadline)
        if self._call(self._client.config_get, "save").get("save"):
            self._run_in_background(self._client.bgsave, "rdb_bgsave", deadline)

    def _run_in_background(self, start: Any, job: str, deadline: float) -> None:
        import redis

        self._wait_idle(job, deadline)
        try:
            start()
        except redis.ResponseError as e:  # another client started one meanwhile
            if "in progress" not in str(e):
                raise EventLogError(f"event log {self.label}: {job} failed: {e}") from e
            self._wait_idle(job, deadline)
            self._call(start)
        self._wait_idle(job, deadline)

    def _wait_idle(self, job: str, deadline: float) -> None:
        while True:
            info = self._persistence()
            if not info.get(f"{job}_in_progress") and not info.get(f"{job}_scheduled"):
                return
            if time.monotonic() > deadline:
                raise EventLogError(f"event log {self.label}: {job} still running")
            time.sleep(0.02)

    def _persistence(self) -> dict[str, Any]:
        found: dict[str, Any] = self._call(self._client.info, "persistence")
        return found

    def _call(self, fn: Any, *args: Any) -> Any:
        import redis

        if self._closed:
            raise EventLogError(f"event log {self.label} is closed")
        try:
            return fn(*args)
        except redis.RedisError as e:
            raise EventLogError(f"event log {self.label}: {type(e).__name__}: {e}") from e


def _number(value: float | None) -> float | None:
    # JSON keeps 4.0 as 4: give back the float the event carried.
    return None if value is None else float(value)
