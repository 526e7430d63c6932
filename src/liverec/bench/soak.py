"""``liverec bench soak``: a long mixed load over many distinct users, watching the server's
memory, plus catalog writes with maximal-size text fields watched from ``/healthz``.

The load (wrk, paced): per request, 75% a recommendation for one of ``users`` distinct users
with one of eight ``exclude=`` variants, 25% an event by that user (so any non-2xx counts as
an error). The
server's resident memory (its whole process group) is sampled every few seconds; the claim
checked is that it levels off: the last sample within ``tolerance`` of the one taken after
the warm-up. Meanwhile a thread PUTs items whose title, description and genres are as long as
the API allows, and another polls ``/healthz``: its latency while a PUT is in flight shows
whether text encoding holds up the event loop.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liverec.bench import wrk
from liverec.bench.server import Server, call
from liverec.data.catalog import MAX_DESCRIPTION, MAX_GENRE, MAX_GENRES, MAX_TITLE


@dataclass(frozen=True)
class SoakBench:
    """How long, how many distinct users, at what offered rate."""

    minutes: float = 10.0
    users: int = 100_000
    rate: float = 150.0
    warmup_minutes: float = 2.0
    sample_s: float = 5.0
    tolerance: float = 0.10


def mixed_load(users: int, n_items: int) -> wrk.Scenario:
    """75% recommendations (8 exclude variants), 25% events, over ``users``."""
    lua = f"""
  local n = math.random(0, {users - 1})
  local u = "soak-" .. n
  local r = math.random()
  if r < 0.75 then
    local ex = tostring(1 + math.random(0, 7))
    return wrk.format("GET", "/v1/users/" .. u .. "/recommendations?k=20&exclude=" .. ex)
  end
  local body = '{{"user_id": "' .. u .. '", "item_id": "' .. math.random(1, {n_items})
    .. '", "type": "click"}}'
  return wrk.format("POST", "/v1/events", {{["Content-Type"] = "application/json"}}, body)"""
    return wrk.Scenario("soak", lua, connections=16)


def group_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its direct children (uvicorn workers)."""
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                pids.append(int(entry.name))
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def max_item(n: int) -> dict[str, Any]:
    """An item with every text field at the API's limit."""
    return {
        "title": f"Maximal title {n} ".ljust(MAX_TITLE, "t"),
        "description": ("words of a long description " * 400)[:MAX_DESCRIPTION],
        "genres": [f"g{n}-{k}".ljust(MAX_GENRE, "x") for k in range(MAX_GENRES)],
    }


class _Probe:
    """PUTs maximal items in a loop; polls /healthz and keeps latencies taken mid-PUT."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stop = threading.Event()
        self.putting = threading.Event()
        self.during_put_ms: list[float] = []
        self.between_puts_ms: list[float] = []  # the same load without a PUT in flight
        self.puts = 0

    def put_loop(self) -> None:
        while not self.stop.wait(1.0):
            self.putting.set()
            try:
                call(f"{self.url}/v1/items/soak-max-{self.puts}", "PUT", max_item(self.puts))
                self.puts += 1
            finally:
                self.putting.clear()

    def health_loop(self) -> None:
        while not self.stop.wait(0.005):
            during = self.putting.is_set()
            t0 = time.perf_counter()
            call(self.url + "/healthz", timeout=5)
            ms = (time.perf_counter() - t0) * 1e3
            if during and self.putting.is_set():  # in flight for the whole probe
                self.during_put_ms.append(ms)
            elif not during and not self.putting.is_set():
                self.between_puts_ms.append(ms)


def _summary(ms: list[float]) -> dict[str, float | int | None]:
    """Count, median, 99th percentile and maximum of sorted latencies."""
    if not ms:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return {
        "n": len(ms),
        "p50": round(statistics.median(ms), 2),
        "p99": round(p99, 2),
        "max": round(ms[-1], 2),
    }


def run_soak(
    server: Server, bench: SoakBench, n_items: int, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the soak against a started server; samples, load result and the PUT probe."""
    samples: list[tuple[float, int]] = []
    probe = _Probe(server.url)
    threads = [threading.Thread(target=f) for f in (probe.put_loop, probe.health_loop)]
    done = threading.Event()

    def sample() -> None:
        t0 = time.monotonic()
        while not done.wait(bench.sample_s):
            samples.append((time.monotonic() - t0, group_rss_bytes(server.pid())))

    sampler = threading.Thread(target=sample)
    for t in (*threads, sampler):
        t.start()
    try:
        scenario = mixed_load(bench.users, n_items).paced(bench.rate)
        result = wrk.run(server.url, scenario, bench.minutes * 60)
    finally:
        probe.stop.set()
        done.set()
        for t in (*threads, sampler):
            t.join(timeout=30)
    after_warmup = next((rss for t, rss in samples if t >= bench.warmup_minutes * 60), 0)
    last = samples[-1][1] if samples else 0
    growth = (last - after_warmup) / after_warmup if after_warmup else 0.0
    put_ms = sorted(probe.during_put_ms)
    calm_ms = sorted(probe.between_puts_ms)
    log(
        f"  RSS {after_warmup / 2**30:.2f} GB after warm-up, {last / 2**30:.2f} GB at the end "
        f"({growth:+.1%}); /healthz during {probe.puts} maximal PUTs: max "
        f"{put_ms[-1] if put_ms else 0:.1f} ms"
    )
    return {
        "minutes": bench.minutes,
        "users": bench.users,
        "offered_rps": bench.rate,
        "load": result.to_json(),
        "rss_samples": [(round(t, 1), rss) for t, rss in samples],
        "rss_after_warmup_bytes": after_warmup,
        "rss_end_bytes": last,
        "rss_growth": round(growth, 4),
        "flat": abs(growth) <= bench.tolerance,
        "max_puts": probe.puts,
        "healthz_during_put_ms": _summary(put_ms),
        "healthz_between_puts_ms": _summary(calm_ms),
    }
