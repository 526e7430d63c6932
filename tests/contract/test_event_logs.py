"""Behaviour every event log backend must show, run over each URL scheme."""

from __future__ import annotations

import asyncio
import math
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from liverec.core.errors import ConfigError
from liverec.core.types import EventType
from liverec.data.dataset import Item
from liverec.events import (
    Event,
    EventLog,
    EventLogError,
    LoggedEvent,
    LoggedItem,
    open_event_log,
)

URLS = ["memory://", "sqlite:///{tmp}/log.db", "{redis}"]


@pytest.fixture(params=URLS, ids=["memory", "sqlite", "redis"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventLog]:
    # The real redis-server is started only when a Redis case runs.
    redis = request.getfixturevalue("redis_url") if "{redis}" in request.param else ""
    with open_event_log(request.param.format(tmp=tmp_path, redis=redis)) as opened:
        yield opened


def ev(n: int, user: str = "alice") -> Event:
    return Event(user_id=user, item_id=f"i{n}", type=EventType.CLICK, ts=1000.0 + n)


def seqs(entries: list[LoggedEvent | LoggedItem]) -> list[int]:
    return [e.seq for e in entries]


def test_a_new_log_is_empty(log: EventLog) -> None:
    assert log.last_seq() == 0
    assert log.read() == []


def test_append_returns_contiguous_seqs_and_last_seq_follows(log: EventLog) -> None:
    assert log.append([ev(1), ev(2), ev(3)]) == (1, 3)
    assert log.append([ev(4)]) == (4, 4)
    assert log.last_seq() == 4


def test_last_seq_async_agrees_with_last_seq_across_event_loops(log: EventLog) -> None:
    assert asyncio.run(log.last_seq_async()) == 0
    log.append([ev(1), ev(2)])
    # a second loop (as a test client or a restarted server makes) gets a working answer too
    assert asyncio.run(log.last_seq_async()) == log.last_seq() == 2


def test_events_round_trip_every_field(log: EventLog) -> None:
    events = [
        Event("u1", "i1", EventType.VIEW, 1.5),
        Event("u2", "i2", EventType.RATING, 1_700_000_000.25, value=4.5),
        Event("ü ser", "ítem/1", EventType.PURCHASE, 0.0, value=-1.0),
    ]
    log.append(events)
    got = log.read()
    assert got == [LoggedEvent(i + 1, e) for i, e in enumerate(events)]
    assert all(type(e.event.type) is EventType for e in got if isinstance(e, LoggedEvent))


def test_read_after_returns_exactly_the_later_entries_events_and_items_interleaved(
    log: EventLog,
) -> None:
    item = Item("i9", "Heat", year=1995, genres=("Crime", "Drama"), description="LA.")
    log.append([ev(1), ev(2)])
    assert log.upsert_item(item) == 3
    log.append([ev(4)])
    assert log.read() == [
        LoggedEvent(1, ev(1)),
        LoggedEvent(2, ev(2)),
        LoggedItem(3, item),
        LoggedEvent(4, ev(4)),
    ]
    assert seqs(log.read(after=2)) == [3, 4]
    assert seqs(log.read(after=4)) == []
    assert seqs(log.read(after=99)) == []


def test_read_limit_pages_through_the_whole_log_in_order(log: EventLog) -> None:
    log.append([ev(n) for n in range(25)])
    pages, after = [], 0
    while page := log.read(after=after, limit=10):
        pages.append(len(page))
        after = page[-1].seq
    assert pages == [10, 10, 5]
    assert after == log.last_seq() == 25


def test_read_refuses_a_limit_below_one(log: EventLog) -> None:
    with pytest.raises(ValueError, match="limit"):
        log.read(limit=0)


def test_an_empty_batch_stores_nothing_and_returns_the_empty_range(log: EventLog) -> None:
    assert log.append([]) == (1, 0)
    log.append([ev(1), ev(2)])
    first, last = log.append([])
    assert (first, last) == (3, 2)
    assert last - first + 1 == 0
    assert log.last_seq() == 2
    assert len(log.read()) == 2


@pytest.mark.parametrize(
    ("bad", "field"),
    # Ill-typed fields bypass the annotations on purpose: the log must catch what slips past.
    [
        (replace(ev(0), user_id=""), "user_id"),
        (replace(ev(0), item_id=""), "item_id"),
        (replace(ev(0), user_id=7), "user_id"),  # type: ignore[arg-type]
        (replace(ev(0), type=1), "type"),  # type: ignore[arg-type]
        (replace(ev(0), ts=math.nan), "ts"),
        (replace(ev(0), ts=math.inf), "ts"),
        (replace(ev(0), ts=True), "ts"),
        (replace(ev(0), ts="2024-01-01"), "ts"),  # type: ignore[arg-type]
        (replace(ev(0), value=-math.inf), "value"),
        (replace(ev(0), value="5"), "value"),  # type: ignore[arg-type]
    ],
)
def test_a_batch_with_an_invalid_event_stores_none_of_it(
    log: EventLog, bad: Event, field: str
) -> None:
    log.append([ev(1)])
    with pytest.raises(ValueError, match=rf"events\[2\]: event {field} "):
        log.append([ev(2), ev(3), bad, ev(4)])
    assert seqs(log.read()) == [1]
    assert log.last_seq() == 1
    assert log.append([ev(5)]) == (2, 2)


def test_an_item_without_an_id_is_refused(log: EventLog) -> None:
    with pytest.raises(ValueError, match="item_id"):
        log.upsert_item(Item("", "No id"))
    assert log.last_seq() == 0


def test_delete_user_removes_only_that_users_events(log: EventLog) -> None:
    log.append([ev(1, "alice"), ev(2, "bob"), ev(3, "alice")])
    log.upsert_item(Item("alice", "An item that shares the user's id"))
    assert log.delete_user("alice") == 2
    assert log.delete_user("alice") == 0
    assert log.delete_user("nobody") == 0
    entries = log.read()
    assert seqs(entries) == [2, 4]
    assert entries[0] == LoggedEvent(2, ev(2, "bob"))


def test_seqs_are_not_reused_after_deleting_the_newest_events(log: EventLog) -> None:
    log.append([ev(1, "bob"), ev(2, "alice"), ev(3, "alice")])
    log.delete_user("alice")
    assert log.last_seq() == 3
    assert log.append([ev(4)]) == (4, 4)
    assert seqs(log.read()) == [1, 4]


def test_threads_sharing_one_log_get_unique_contiguous_batches(log: EventLog) -> None:
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for k in range(50):
                results.append(log.append([ev(k, f"t{t}") for _ in range(4)]))
                log.read(after=log.last_seq() - 1)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [(s, s + 3) for s in range(1, 800, 4)]
    assert seqs(log.read(limit=10_000)) == list(range(1, 801))


def test_a_closed_log_refuses_use_and_closing_twice_is_harmless(log: EventLog) -> None:
    log.close()
    log.close()
    with pytest.raises(EventLogError, match="closed"):
        log.append([ev(1)])
    with pytest.raises(EventLogError, match="closed"):
        log.read()


@pytest.mark.parametrize(
    "url",
    [
        "postgres://localhost/db",
        "mongodb://localhost:27017",
        "sqlite://relative.db",
        "memory://somewhere",
        "",
    ],
)
def test_open_event_log_rejects_an_unknown_scheme_naming_the_accepted_ones(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        open_event_log(url)
    message = str(info.value)
    assert repr(url) in message
    assert "memory://" in message
    assert "sqlite:///" in message
    assert "redis://" in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///", "no file path"),
        ("sqlite:///{tmp}/x.db?synchronous=off", "synchronous='off' is not one of normal, full"),
        ("sqlite:///{tmp}/x.db?sync=full", "unknown option(s) sync"),
        ("sqlite:///{tmp}/x.db?busy_timeout_ms=soon", "busy_timeout_ms must be an integer"),
        ("sqlite:///{tmp}/x.db?busy_timeout_ms=-1", "busy_timeout_ms must be >= 0"),
    ],
)
def test_open_event_log_rejects_bad_sqlite_options(url: str, expected: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)):
        open_event_log(url.format(tmp=tmp_path))
