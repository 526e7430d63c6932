"""What the Redis event log adds to the contract: AOF durability, erasure on disk, errors."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from liverec.bench.server import free_port
from liverec.cluster.redis_server import RedisConfig, RedisServer
from liverec.core.errors import ConfigError
from liverec.core.types import EventType
from liverec.events import Event, EventLogError, LoggedEvent, open_event_log
from liverec.events.store import read_all


def batch(writer: int, n: int, size: int = 20) -> list[Event]:
    return [Event(f"w{writer}", f"b{n}-{k}", EventType.CLICK, float(n)) for k in range(size)]


def ingest_until_killed(url: str, acked: list[tuple[int, int, int]], stop: threading.Event) -> None:
    """Append batches until Redis goes away; record each acknowledged (batch, first, last)."""
    log = open_event_log(url)
    n = 0
    try:
        while not stop.is_set():
            try:
                first, last = log.append(batch(0, n))
            except EventLogError:
                return
            acked.append((n, first, last))
            n += 1
    finally:
        log.close()


def test_kill_9_of_redis_under_ingest_loses_no_acknowledged_event(tmp_path: Path) -> None:
    config = RedisConfig(free_port(), tmp_path / "redis", appendfsync="always")
    server = RedisServer(config).start()
    url = f"{server.url}?prefix=durable"
    acked_total = 0
    try:
        for _cycle in range(3):
            acked: list[tuple[int, int, int]] = []
            stop = threading.Event()
            writer = threading.Thread(target=ingest_until_killed, args=(url, acked, stop))
            writer.start()
            while len(acked) < 50:  # kill only once the writer is well under way
                threading.Event().wait(0.005)
            server.kill()
            writer.join(30)
            stop.set()
            server = RedisServer(config).start()  # same dir and port: replays the AOF
            with open_event_log(url) as log:
                stored = {e.seq: e for e in read_all(log)}
                for n, first, last in acked:
                    expected = batch(0, n)
                    got = [stored[s] for s in range(first, last + 1)]
                    assert got == [LoggedEvent(first + k, e) for k, e in enumerate(expected)]
                # batches are atomic: the stored seqs are exactly 1..last_seq, no holes
                assert sorted(stored) == list(range(1, log.last_seq() + 1))
            acked_total += len(acked)
    finally:
        server.stop()
    assert acked_total >= 150


def test_deleting_a_user_removes_their_events_from_the_files_on_disk(tmp_path: Path) -> None:
    config = RedisConfig(free_port(), tmp_path / "redis", appendfsync="always")
    with RedisServer(config) as server, open_event_log(f"{server.url}?prefix=p") as log:
        log.append([Event("erase-me", "secret-film-4711", EventType.PURCHASE, 1.0)])
        log.append([Event("keep-me", "public-film-1", EventType.CLICK, 2.0)])
        aof = config.directory / "appendonlydir"
        assert b"secret-film-4711" in b"".join(p.read_bytes() for p in aof.iterdir())
        assert log.delete_user("erase-me") == 1
        on_disk = b"".join(p.read_bytes() for p in aof.iterdir())
        assert b"secret-film-4711" not in on_disk
        assert b"public-film-1" in on_disk
        assert [e.seq for e in log.read()] == [2]


def test_an_unreachable_redis_is_one_error_naming_the_address() -> None:
    port = free_port()
    with pytest.raises(EventLogError, match=f"redis://127.0.0.1:{port}/0"):
        open_event_log(f"redis://127.0.0.1:{port}/0")


def test_an_unknown_option_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['fsync'\]; known: prefix"):
        open_event_log("redis://127.0.0.1:1/0?fsync=always")
