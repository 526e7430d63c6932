"""``liverec bench freshness``: time from an acknowledged event to a recommendation showing it.

A client process (this one) picks a user, clicks the item at the top of their list, waits
for the 200, then asks for recommendations again until the clicked item is gone (it must be:
seen items are excluded). Freshness is the time from the acknowledgement to the response that
reflects the event. Reads and writes use separate keep-alive connections, so with several
workers a read can land on a worker that did not take the write.
"""

from __future__ import annotations

import http.client
import json
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from liverec.bench.server import Server, prepare_home
from liverec.core.paths import Paths
from liverec.data import movielens
from liverec.data.sources import load_dataset
from liverec.serving.training import train_snapshot


@dataclass
class FreshnessBench:
    """Settings of one ``bench freshness`` run."""

    events: int = 300
    workers: int = 1
    readers: int = 4  # read connections, used round-robin
    max_reads: int = 50  # reads before an event counts as never visible


class Client:
    """A keep-alive HTTP/1.1 connection speaking JSON."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Send one request, return (status, parsed JSON)."""
        data = None if body is None else json.dumps(body).encode()
        self.conn.request(method, path, body=data, headers={"content-type": "application/json"})
        r = self.conn.getresponse()
        return r.status, json.loads(r.read() or b"null")


def measure(
    port: int,
    users: list[str],
    bench: FreshnessBench,
    seed: int = 0,
    read_ports: list[int] | None = None,
) -> dict[str, Any]:
    """Run ``bench.events`` click-then-read rounds: clicks go to ``port``, reads round-robin
    over ``bench.readers`` connections to ``read_ports`` (default: ``port`` too)."""
    rng = random.Random(seed)
    writer = Client(port)
    ports = read_ports or [port]
    readers = [Client(ports[k % len(ports)]) for k in range(bench.readers)]
    fresh_ms: list[float] = []
    first_read = 0
    never = 0
    for n in range(bench.events):
        user = rng.choice(users)
        reader = readers[n % len(readers)]
        _, before = reader.request("GET", f"/v1/users/{user}/recommendations?k=10&explain=false")
        item = before["items"][0]["item_id"]
        status, _ = writer.request(
            "POST", "/v1/events", {"user_id": user, "item_id": item, "type": "click"}
        )
        acked = time.perf_counter()
        if status != 200:
            raise RuntimeError(f"POST /v1/events answered {status}")
        for attempt in range(bench.max_reads):
            reader = readers[(n + attempt + 1) % len(readers)]
            _, after = reader.request("GET", f"/v1/users/{user}/recommendations?k=10&explain=false")
            if item not in [x["item_id"] for x in after["items"]]:
                fresh_ms.append((time.perf_counter() - acked) * 1e3)
                first_read += attempt == 0
                break
        else:
            never += 1
    ms = np.asarray(fresh_ms) if fresh_ms else np.zeros(1)
    return {
        "events": bench.events,
        "workers": bench.workers,
        "visible_on_first_read": first_read / bench.events,
        "never_visible": never,
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "max_ms": round(float(ms.max()), 3),
    }


def run_freshness(
    source_home: Path,
    bench: FreshnessBench,
    log: Callable[[str], None] = print,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Start a server with ``bench.workers`` workers and measure freshness against it."""
    dataset = load_dataset("ml-100k", source_home)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        home = prepare_home(source_home, Path(tmp) / "home")
        train_snapshot(
            dataset,
            [],
            Paths(home).snapshots("ml-100k"),
            log=lambda *_: None,
            models_dir=Paths(source_home).models,
        )
        with Server(home, f"sqlite:///{Path(tmp) / 'events.db'}", bench.workers) as server:
            result = measure(server.port, movielens.raw_user_ids(source_home), bench)
    log(
        f"  {bench.workers} worker(s): p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} "
        f"ms, visible on first read {result['visible_on_first_read']:.1%}"
    )
    return result
