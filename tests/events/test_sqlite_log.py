"""SQLite event log: persistence, schema guard, and what survives other processes and kill -9."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest

from liverec.core.types import EventType
from liverec.data.dataset import Item
from liverec.events import Event, EventLogError, LoggedEvent, LoggedItem, open_event_log
from liverec.events.sqlite import SCHEMA_VERSION, SqliteEventLog
from tests.events.log_writer import expected_event

WRITER = Path(__file__).with_name("log_writer.py")


def ev(n: int, user: str = "alice") -> Event:
    return Event(user_id=user, item_id=f"i{n}", type=EventType.VIEW, ts=float(n))


def start_writer(
    url: str, tag: str, batch: int, n: int, wait: bool = False, pace: bool = False
) -> subprocess.Popen[str]:
    args = [sys.executable, str(WRITER), url, tag, str(batch), str(n)]
    args += (["--wait"] if wait else []) + (["--pace"] if pace else [])
    proc = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n", proc.stderr.read() if proc.stderr else ""
    return proc


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """The rest of a writer's stdout and its stderr, once it exits.

    Not ``communicate``: it reads the raw pipes and would lose whatever ``readline`` has
    already buffered.
    """
    assert proc.stdout is not None
    assert proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.wait(timeout=30)
    return out, err


def acks(lines: list[str]) -> list[tuple[int, int, int]]:
    """(first, last, batch_no) of every complete acknowledgement line."""
    return [
        (int(a), int(b), int(k)) for a, b, k in (ln.split() for ln in lines if ln.endswith("\n"))
    ]


def assert_acknowledged_batches_present(
    entries: dict[int, Event], tag: str, batch: int, acked: list[tuple[int, int, int]]
) -> None:
    for first, last, k in acked:
        assert last - first + 1 == batch
        for j, seq in enumerate(range(first, last + 1)):
            assert entries.get(seq) == expected_event(tag, k, j), f"seq {seq} lost or wrong"


def events_by_seq(path: Path) -> dict[int, Event]:
    with open_event_log(f"sqlite:///{path}") as log:
        return {e.seq: e.event for e in log.read(limit=1_000_000) if isinstance(e, LoggedEvent)}


def test_a_reopened_log_sees_everything_committed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/deep/er/log.db"
    item = Item("i1", "Heat", year=1995, genres=("Crime",))
    with open_event_log(url) as log:
        log.append([ev(1), ev(2, "bob")])
        log.upsert_item(item)
        log.append([ev(4)])
        log.delete_user("bob")
        before = log.read()
    with open_event_log(url) as log:
        assert (
            log.read()
            == before
            == [
                LoggedEvent(1, ev(1)),
                LoggedItem(3, item),
                LoggedEvent(4, ev(4)),
            ]
        )
        assert log.last_seq() == 4
        assert log.append([ev(5)]) == (5, 5)


def test_the_file_is_in_wal_mode_and_synchronous_follows_the_url(tmp_path: Path) -> None:
    for url_suffix, expected in [("", 1), ("?synchronous=full", 2), ("?synchronous=FULL", 2)]:
        log = open_event_log(f"sqlite:///{tmp_path}/log.db{url_suffix}")
        assert isinstance(log, SqliteEventLog)
        conn = log._connection()
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA synchronous").fetchone() == (expected,)
        log.close()


def test_a_log_with_an_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    open_event_log(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(EventLogError, match=f"schema version {SCHEMA_VERSION + 1}"):
        open_event_log(f"sqlite:///{path}")


def test_a_sqlite_file_that_is_not_an_event_log_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id TEXT)")
    with pytest.raises(EventLogError, match="not a liverec event log"):
        open_event_log(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        tables = conn.execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("users",)]


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not sqlite at all, " * 100)
    with pytest.raises(EventLogError, match="cannot open event log"):
        open_event_log(f"sqlite:///{path}")


def test_append_gives_up_after_the_busy_timeout_and_works_again_later(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with open_event_log(f"sqlite:///{path}?busy_timeout_ms=50") as log:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(EventLogError, match="locked"):
            log.append([ev(1)])
        other.execute("ROLLBACK")
        other.close()
        assert log.append([ev(1)]) == (1, 1)


def test_append_waits_for_a_lock_released_within_the_busy_timeout(tmp_path: Path) -> None:
    # Behaviour, not elapsed time: the other writer lets go while the append waits (a
    # generous timeout, so a loaded machine cannot turn the wait into an error).
    path = tmp_path / "log.db"
    with open_event_log(f"sqlite:///{path}?busy_timeout_ms=60000") as log:
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.2, other.execute, ["ROLLBACK"])
        release.start()
        try:
            assert log.append([ev(1)]) == (1, 1)
        finally:
            release.join()
            other.close()


def test_delete_user_leaves_no_copy_of_their_events_in_the_files(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with open_event_log(f"sqlite:///{path}") as log:
        log.append(
            [Event("secret-user", f"secret-item-{n}", EventType.VIEW, 1.0) for n in range(50)]
        )
        log.append([ev(n, "bob") for n in range(50)])
        assert log.delete_user("secret-user") == 50
        data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
        assert b"secret-" not in data
        assert b"bob" in data


def test_an_append_by_another_process_is_visible_to_an_open_log_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/log.db"
    with open_event_log(url) as log:
        assert log.read() == []
        proc = start_writer(url, "w", batch=3, n=1)
        out, err = finish(proc)
        assert proc.returncode == 0, err
        ((first, last, _),) = acks(out.splitlines(keepends=True))
        assert log.last_seq() == last
        assert [e.seq for e in log.read()] == list(range(first, last + 1))


def test_two_processes_appending_at_once_lose_nothing_and_share_the_seq_space(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/log.db"
    open_event_log(url).close()
    batch, n = 5, 300
    procs = {tag: start_writer(url, tag, batch, n, wait=True, pace=True) for tag in ("a", "b")}
    for proc in procs.values():
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = {tag: finish(proc) for tag, proc in procs.items()}
    for tag, (_, err) in outputs.items():
        assert procs[tag].returncode == 0, err
        assert err == ""
    entries = events_by_seq(tmp_path / "log.db")
    assert len(entries) == 2 * batch * n
    ranges = []
    for tag, (out, _) in outputs.items():
        acked = acks(out.splitlines(keepends=True))
        assert len(acked) == n
        assert_acknowledged_batches_present(entries, tag, batch, acked)
        ranges += [(first, last) for first, last, _ in acked]
    ranges.sort()
    assert all(a[1] < b[0] for a, b in pairwise(ranges))
    # Interleaved batches show the two writers really did contend for the lock.
    owners = [entries[first].user_id[0] for first, _ in ranges]
    assert sum(x != y for x, y in pairwise(owners)) > 1


@pytest.mark.slow
def test_every_acknowledged_batch_survives_kill_9_and_no_batch_is_half_stored(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/log.db"
    batch, rng = 50, random.Random(20261122)
    acked_by_tag: dict[str, list[tuple[int, int, int]]] = {}
    for round_no in range(3):
        tag = f"k{round_no}"
        proc = start_writer(url, tag, batch, n=0)
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(rng.randint(1, 30))]
        time.sleep(rng.uniform(0, 0.005))
        proc.send_signal(signal.SIGKILL)
        out, _ = finish(proc)
        assert proc.returncode == -signal.SIGKILL
        acked_by_tag[tag] = acks(lines + out.splitlines(keepends=True))
        entries = events_by_seq(tmp_path / "log.db")
        for t, acked in acked_by_tag.items():
            assert_acknowledged_batches_present(entries, t, batch, acked)
        # A batch the kill interrupted is either wholly there or wholly absent.
        sizes = Counter(e.item_id.rsplit("-", 1)[0] for e in entries.values())
        assert set(sizes.values()) == {batch}
