"""Event log throughput: append at batch sizes 1/100/1000 per synchronous mode, and read.

Run: ``.venv/bin/python tests/events/bench_event_log.py [DIR]`` (DIR defaults to a temp dir).
Each figure is the median of RUNS runs, each on a fresh file, each appending for about
SECONDS seconds or TARGET events, whichever comes first.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from liverec.core.types import EventType
from liverec.events import Event, open_event_log
from liverec.events.store import checked_rows

RUNS = 5
SECONDS = 1.0
TARGET = 200_000


def make_events(n: int, offset: int = 0) -> list[Event]:
    """n distinct, realistic events."""
    return [
        Event(
            f"user-{(offset + i) % 5000}",
            f"item-{(offset + i) % 1700}",
            EventType((offset + i) % 4),
            1_700_000_000.0 + offset + i,
            4.0 if (offset + i) % 4 == 3 else None,
        )
        for i in range(n)
    ]


def append_rate(url: str, batch: int) -> float:
    """Events/s appending ``batch``-sized batches to a fresh log."""
    batches = [make_events(batch, k * batch) for k in range(max(1, min(TARGET // batch, 2000)))]
    with open_event_log(url) as log:
        n, t0 = 0, time.perf_counter()
        while n < TARGET and time.perf_counter() - t0 < SECONDS:
            log.append(batches[(n // batch) % len(batches)])
            n += batch
        return n / (time.perf_counter() - t0)


def read_rate(url: str, total: int = 200_000, page: int = 10_000) -> float:
    """Entries/s paging through a log of ``total`` events with read(after, page)."""
    with open_event_log(url) as log:
        for k in range(0, total, 10_000):
            log.append(make_events(10_000, k))
        n, after, t0 = 0, 0, time.perf_counter()
        while entries := log.read(after=after, limit=page):
            n += len(entries)
            after = entries[-1].seq
        return n / (time.perf_counter() - t0)


def check_rate(batch: int = 1000, repeat: int = 200) -> float:
    """Events/s through the log's own event checks alone (the Python cost before SQLite)."""
    events = make_events(batch)
    t0 = time.perf_counter()
    for _ in range(repeat):
        checked_rows(events)
    return batch * repeat / (time.perf_counter() - t0)


def main(argv: list[str]) -> None:
    """Print a markdown table of medians."""
    root = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="evlog-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"SQLite files under {root}; median of {RUNS} runs\n")
    print("| backend | synchronous | batch | events/s (median) | min | max |")
    print("|---|---|---:|---:|---:|---:|")
    run = 0
    for backend in ("sqlite", "memory"):
        for sync in ("normal", "full") if backend == "sqlite" else ("-",):
            for batch in (1, 100, 1000):
                rates = []
                for _ in range(RUNS):
                    run += 1
                    url = (
                        f"sqlite:///{root}/append-{run}.db?synchronous={sync}"
                        if backend == "sqlite"
                        else "memory://"
                    )
                    rates.append(append_rate(url, batch))
                print(
                    f"| {backend} | {sync} | {batch} | {statistics.median(rates):,.0f} "
                    f"| {min(rates):,.0f} | {max(rates):,.0f} |"
                )
    reads = [read_rate(f"sqlite:///{root}/read-{r}.db") for r in range(RUNS)]
    print(
        f"\nsqlite read(after, 10000) over 200k events: {statistics.median(reads):,.0f} entries/s"
    )
    mem_reads = [read_rate("memory://") for _ in range(RUNS)]
    print(f"memory read(after, 10000): {statistics.median(mem_reads):,.0f} entries/s")
    print(f"check_event alone: {statistics.median(check_rate() for _ in range(RUNS)):,.0f} ev/s")


if __name__ == "__main__":
    main(sys.argv[1:])
