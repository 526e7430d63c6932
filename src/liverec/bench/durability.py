"""``liverec bench durability``: kill -9 the server under concurrent ingest, again and again,
and check that every acknowledged event survived and no batch survived in part.

Each cycle starts ``liverec serve`` on the same home and event log, runs ``writers`` threads
that post batches of five events (each batch for its own user, so its survival is checked by
that user's profile), kills the whole process group with SIGKILL after a random moment, and
goes on. At the end a fresh server reads every user back.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from liverec.bench.server import Server, call

BATCH = 5


@dataclass(frozen=True)
class DurabilityBench:
    """How many crash cycles, with how many workers and writer threads."""

    cycles: int = 20
    workers: int = 1
    writers: int = 4
    min_s: float = 0.3
    max_s: float = 1.5
    seed: int = 7


@dataclass
class DurabilityResult:
    """What was sent, acknowledged and found after the crashes."""

    workers: int
    cycles: int
    batches_sent: int = 0
    batches_acked: int = 0
    lost_acked: list[int] = field(default_factory=list)  # acknowledged, then missing
    partial: list[int] = field(default_factory=list)  # present with fewer than BATCH events
    unacked_present: int = 0  # not acknowledged (killed mid-request), yet whole: allowed

    @property
    def events_acked(self) -> int:
        """Acknowledged events (BATCH per acknowledged batch)."""
        return self.batches_acked * BATCH

    def to_json(self) -> dict[str, Any]:
        """JSON-able, with the counts of the lists rather than the lists."""
        doc = asdict(self)
        doc["lost_acked"], doc["partial"] = len(self.lost_acked), len(self.partial)
        return {**doc, "events_acked": self.events_acked}


def batch(n: int, n_items: int = 1682) -> dict[str, object]:
    """Batch n: five views by user ``k9-n`` on five items fixed by n."""
    items = [str(1 + (n * BATCH + j) % n_items) for j in range(BATCH)]
    return {"events": [{"user_id": f"k9-{n}", "item_id": i, "type": "view"} for i in items]}


class _Writers:
    """Threads posting batches until the server dies; batch numbers are never reused."""

    def __init__(self, url: str, next_batch: Callable[[], int], acked: set[int]) -> None:
        self.url = url
        self.next_batch = next_batch
        self.acked = acked
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            n = self.next_batch()
            try:
                status, body = call(self.url + "/v1/events", "POST", batch(n), timeout=10)
            except (OSError, http.client.HTTPException):
                return  # the server died mid-request: this batch was never acknowledged
            if status == 200 and body["accepted"] == BATCH:
                self.acked.add(n)


def run_durability(
    home: Path, event_log: str, bench: DurabilityBench, log: Callable[[str], None] = print
) -> DurabilityResult:
    """Crash the server ``bench.cycles`` times under ingest; then verify every batch."""
    rng = random.Random(bench.seed)
    server = Server(home, event_log, bench.workers)
    acked: set[int] = set()
    sent = 0
    lock = threading.Lock()

    def next_batch() -> int:
        nonlocal sent
        with lock:
            sent += 1
            return sent - 1

    try:
        for cycle in range(bench.cycles):
            server.start()
            writers = _Writers(server.url, next_batch, acked)
            threads = [threading.Thread(target=writers.run) for _ in range(bench.writers)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(bench.min_s, bench.max_s))
            server.kill9()
            writers.stop.set()
            for t in threads:
                t.join(timeout=15)
            log(f"  cycle {cycle + 1}/{bench.cycles}: {len(acked):,} batches acknowledged so far")
        server.start()
        return _verify(server.url, sent, acked, bench)
    finally:
        server.stop()


def _verify(url: str, sent: int, acked: set[int], bench: DurabilityBench) -> DurabilityResult:
    result = DurabilityResult(bench.workers, bench.cycles, sent, len(acked))
    for n in range(sent):
        status, body = call(f"{url}/v1/users/k9-{n}?limit={BATCH * 2}")
        if status != 200:
            if n in acked:
                result.lost_acked.append(n)
            continue
        want = {e["item_id"] for e in batch(n)["events"]}  # type: ignore[attr-defined]
        whole = body["event_count"] == BATCH and {h["item_id"] for h in body["recent"]} == want
        if not whole:
            result.partial.append(n)
        elif n not in acked:
            result.unacked_present += 1
    return result
