"""``liverec bench cluster``: 1, 2 and 4 replicas behind HAProxy on a Redis log, this machine.

Each replica count runs as ``liverec cluster up`` starts it (Redis with AOF ``always``, N
``liverec serve`` processes, HAProxy) on a fresh Redis, and is measured through HAProxy: cold
recommendations at saturation, ingest in batches of 100, and freshness across replicas (the
click posted to replica 1, the reads sent to the others). The embedded default (one ``serve``
on SQLite, no Redis) is measured in the same run, and it and one Redis-backed replica are
paced at the same offered rate to compare latency below saturation. With two replicas, one is
killed -9 under load to count the failed requests. Redis memory per user and per event is
fitted from two fills of a private Redis holding the same events over few or many users.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liverec.bench import wrk
from liverec.bench.freshness import FreshnessBench, measure
from liverec.bench.serve import median_run, scenarios, trained_home
from liverec.bench.server import Server
from liverec.cluster import control
from liverec.cluster.process import free_port, http_ok
from liverec.cluster.redis_server import RedisConfig, RedisServer
from liverec.cluster.supervisor import ClusterPlan
from liverec.core.markdown import markdown_table
from liverec.core.types import EventType
from liverec.data import movielens
from liverec.data.sources import load_dataset
from liverec.events.redis_log import RedisEventLog
from liverec.events.schema import Event
from liverec.serving.training import TrainConfig

DATASET = "ml-100k"
COLD = "recommendations, cold (no cache)"
INGEST = "POST /v1/events, batch of 100"


@dataclass(frozen=True)
class ClusterBench:
    """Settings of one ``bench cluster`` run."""

    replicas: tuple[int, ...] = (1, 2, 4)
    seconds: float = 8.0
    warmup: float = 3.0
    connections: int = 32
    repeats: int = 3
    paced_share: float = 0.5  # of the embedded server's cold maximum
    freshness_events: int = 300
    memory_events: int = 200_000


@dataclass(frozen=True)
class Loads:
    """The wrk scenarios every variant runs."""

    cold: wrk.Scenario
    ingest: wrk.Scenario
    paced: wrk.Scenario


def run_cluster(
    source_home: Path,
    bench: ClusterBench,
    log: Callable[[str], None] = print,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Measure the embedded server and each replica count; return JSON-able results."""
    dataset = load_dataset(DATASET, source_home)
    users = movielens.raw_user_ids(source_home)
    named = {sc.name: sc for sc in scenarios(users, dataset.items.raw_ids, bench.connections)}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        home = trained_home(source_home, Path(tmp) / "home", dataset, TrainConfig())
        with Server(home, f"sqlite:///{Path(tmp) / 'events.db'}") as embedded:
            wrk.run(embedded.url, named[COLD], bench.warmup)
            cold = median_run(embedded.url, named[COLD], bench.seconds, bench.repeats)
            loads = Loads(
                named[COLD], named[INGEST], named[COLD].paced(cold.rps * bench.paced_share)
            )
            paced = median_run(embedded.url, loads.paced, bench.seconds, bench.repeats)
            log(f"  embedded: cold {cold.rps:,.0f} req/s; paced p99 {paced.p99_ms:.2f} ms")
        rows = [_replicas(home, n, loads, users, bench, log) for n in bench.replicas]
    return {
        "settings": {
            "seconds": bench.seconds,
            "connections": bench.connections,
            "repeats": bench.repeats,
            "paced_rps": round(loads.paced.connections * 1e3 / loads.paced.delay_ms, 1),
        },
        "embedded": {"cold": cold.to_json(), "paced": paced.to_json()},
        "clusters": rows,
        "redis_memory": redis_memory(bench.memory_events, workdir),
    }


def _replicas(
    home: Path,
    n: int,
    loads: Loads,
    users: list[str],
    bench: ClusterBench,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Start a cluster of ``n`` replicas on a fresh Redis, measure it, stop it."""
    directory = control.cluster_dir(home, DATASET)
    shutil.rmtree(directory, ignore_errors=True)
    state = control.up(home, DATASET, n, free_port())
    try:
        plan = ClusterPlan.load(directory)
        url = f"http://127.0.0.1:{state.port}"
        wrk.run(url, loads.cold, bench.warmup)
        row: dict[str, Any] = {"replicas": n}
        for key, scenario in (("cold", loads.cold), ("ingest", loads.ingest)):
            row[key] = median_run(url, scenario, bench.seconds, bench.repeats).to_json()
        if n == 1:  # the same offered rate as the embedded server, direct and through HAProxy
            direct = f"http://127.0.0.1:{plan.replica_ports[0]}"
            row["paced_direct"] = median_run(direct, loads.paced, bench.seconds, bench.repeats)
            row["paced_direct"] = row["paced_direct"].to_json()
            row["paced"] = median_run(url, loads.paced, bench.seconds, bench.repeats).to_json()
        readers = list(plan.replica_ports[1:]) or [plan.replica_ports[0]]
        fresh = FreshnessBench(events=bench.freshness_events, readers=max(4, len(readers)))
        row["freshness"] = measure(plan.replica_ports[0], users, fresh, read_ports=readers)
        row["replica_rss_mb"] = [_rss_mb(pid) for pid in state.replica_pids]
        if n >= 2:
            row["kill"] = kill_under_load(url, plan, state.replica_pids[0], loads.cold, bench)
        log(_summary(row))
        return row
    finally:
        control.down(home, DATASET)


def kill_under_load(
    url: str, plan: ClusterPlan, pid: int, scenario: wrk.Scenario, bench: ClusterBench
) -> dict[str, Any]:
    """kill -9 replica 1 a third into a load through HAProxy; count what failed."""
    box: list[wrk.LoadResult] = []
    load = threading.Thread(target=lambda: box.append(wrk.run(url, scenario, bench.seconds)))
    load.start()
    time.sleep(bench.seconds / 3)
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    replica = f"http://127.0.0.1:{plan.replica_ports[0]}/readyz"
    time.sleep(0.5)  # the supervisor polls every 0.25 s: let it see the death first
    while not http_ok(replica) and time.monotonic() - killed < 120:
        time.sleep(0.05)
    back_s = time.monotonic() - killed
    load.join()
    return {**box[0].to_json(), "replica_back_s": round(back_s, 2)}


def redis_memory(events: int, workdir: Path | None = None) -> dict[str, Any]:
    """Bytes per user and per event: the same ``events`` over 10 and over 100 per user."""
    import redis

    fills: dict[int, int] = {}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        config = RedisConfig(free_port(), Path(tmp), "everysec")
        with RedisServer(config) as server:
            client = redis.Redis.from_url(server.url)
            for each in (100, 10):  # events per user
                before = int(client.info("memory")["used_memory"])
                with RedisEventLog.from_url(f"{server.url}?prefix=fill{each}") as event_log:
                    for batch in _fill(events, each):
                        event_log.append(batch)
                    if each == 100:
                        access = access_costs(event_log, client, f"fill{each}")
                fills[events // each] = int(client.info("memory")["used_memory"]) - before
            client.close()
    (few, m_few), (many, m_many) = sorted(fills.items())
    per_user = (m_many - m_few) / (many - few)
    per_event = (m_few - few * per_user) / events
    return {
        "events": events,
        "used_memory_by_users": {str(k): v for k, v in fills.items()},
        "bytes_per_user": round(per_user, 1),
        "bytes_per_event": round(per_event, 1),
        "access_us": access,
    }


def access_costs(
    event_log: RedisEventLog, client: Any, prefix: str, calls: int = 2000
) -> dict[str, float]:
    """Median microseconds of what one request would read from Redis under each design.

    Replicated state (what liverec does): one GET of the log's last sequence number, to
    know whether to catch up. Shared state: at least the user's history (HGETALL of the
    per-user hash, 100 events, decoded), before any item statistics are read.
    """
    import orjson

    user_key = f"{prefix}:u:{_pseudonym(7)}"

    def history() -> object:
        return [orjson.loads(v) for v in client.hgetall(user_key).values()]

    out = {}
    for name, call in (("last_seq", event_log.last_seq), ("user_history_100", history)):
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        out[name] = round(statistics.median(times) * 1e6, 1)
    return out


def _fill(events: int, per_user: int, batch: int = 1_000) -> Sequence[list[Event]]:
    """Events as a service logs them: 32-hex pseudonyms, ML-100K-like item ids, clicks."""
    out: list[list[Event]] = []
    ts = 1.8e9
    for start in range(0, events, batch):
        out.append(
            [
                Event(_pseudonym(k // per_user), str(k % 1682 + 1), EventType.VIEW, ts + k, None)
                for k in range(start, min(events, start + batch))
            ]
        )
    return out


def _pseudonym(user: int) -> str:
    return f"{user * 2654435761 % 2**128:032x}"


def _rss_mb(pid: int) -> float:
    """Resident memory of a process, MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def _summary(row: dict[str, Any]) -> str:
    fresh = row["freshness"]
    return (
        f"  {row['replicas']} replica(s): cold {row['cold']['rps']:,.0f} req/s "
        f"(p99 {row['cold']['p99_ms']:.1f} ms), ingest {row['ingest']['events_per_s']:,.0f} "
        f"events/s, freshness p50 {fresh['p50_ms']:.2f} / p99 {fresh['p99_ms']:.2f} ms"
    )


def cluster_tables(doc: dict[str, Any]) -> str:
    """Markdown tables of a ``run_cluster`` result (scaling, latency at equal load, memory)."""
    one = doc["clusters"][0]["cold"]["rps"]
    rows = [["embedded (SQLite, no Redis)", f"{doc['embedded']['cold']['rps']:,.0f}", "", ""]]
    rows[0] += [f"{doc['embedded']['cold']['p99_ms']:.1f}", "", "", "", ""]
    for r in doc["clusters"]:
        f = r["freshness"]
        rows.append(
            [
                f"{r['replicas']} replica(s) + HAProxy + Redis",
                f"{r['cold']['rps']:,.0f}",
                f"{r['cold']['rps_min']:,.0f}-{r['cold']['rps_max']:,.0f}",
                f"{r['cold']['rps'] / one:.2f}",
                f"{r['cold']['p99_ms']:.1f}",
                f"{r['ingest']['events_per_s']:,.0f}",
                f"{f['p50_ms']:.2f}",
                f"{f['p99_ms']:.2f}",
                f"{f['never_visible']}",
            ]
        )
    head = ["setup", "cold req/s", "range", "x 1 replica", "cold p99 ms", "ingest events/s"]
    head += ["fresh p50 ms", "fresh p99 ms", "never visible"]
    text = markdown_table(head, rows)
    return text + "\n\n" + _latency_table(doc) + "\n\n" + _kill_and_memory(doc)


def _latency_table(doc: dict[str, Any]) -> str:
    one = doc["clusters"][0]
    pairs = [("embedded, direct", doc["embedded"]["paced"])]
    pairs += [(k, one[k]) for k in ("paced_direct", "paced") if k in one]
    names = {"paced_direct": "1 Redis-backed replica, direct", "paced": "1 replica via HAProxy"}
    rows = [
        [names.get(name, name), f"{r['rps']:,.0f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}"]
        for name, r in pairs
    ]
    rate = doc["settings"]["paced_rps"]
    title = f"Cold recommendations paced to {rate:,.0f} req/s (same offered load):\n\n"
    return title + markdown_table(["setup", "req/s", "p50 ms", "p99 ms"], rows)


def _kill_and_memory(doc: dict[str, Any]) -> str:
    rows = [
        [
            str(r["replicas"]),
            f"{r['kill']['requests']:,}",
            str(r["kill"]["errors"]),
            f"{r['kill']['replica_back_s']:.1f}",
            ", ".join(f"{x:.0f}" for x in r["replica_rss_mb"]),
        ]
        for r in doc["clusters"]
        if "kill" in r
    ]
    head = ["replicas", "requests", "failed", "replica back after s", "replica RSS MB"]
    mem = doc["redis_memory"]
    note = (
        f"Redis memory (fitted from {mem['events']:,} events over "
        f"{' and '.join(mem['used_memory_by_users'])} users): "
        f"{mem['bytes_per_event']:.0f} bytes per event, {mem['bytes_per_user']:.0f} per user. "
        f"Redis round trip per request: replicated state (liverec) reads the log's last "
        f"sequence number, median {mem['access_us']['last_seq']:.0f} µs; shared state would "
        f"read at least the user's history, median {mem['access_us']['user_history_100']:.0f} "
        f"µs for 100 events."
    )
    return (
        "Replica 1 killed -9 a third into a cold load:\n\n"
        + markdown_table(head, rows)
        + ("\n\n" + note)
    )


def plot_cluster(doc: dict[str, Any], path: Path) -> Path:
    """Cold throughput and cross-replica freshness against the replica count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = doc["clusters"]
    n = [r["replicas"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax1.plot(n, [r["cold"]["rps"] for r in rows], "o-", label="replicas + HAProxy + Redis")
    ax1.fill_between(
        n, [r["cold"]["rps_min"] for r in rows], [r["cold"]["rps_max"] for r in rows], alpha=0.2
    )
    ax1.axhline(doc["embedded"]["cold"]["rps"], ls="--", c="grey", label="embedded (one process)")
    ax1.plot(n, [rows[0]["cold"]["rps"] * k for k in n], ":", c="black", label="linear in replicas")
    ax1.set_ylim(0, 1.1 * max(rows[0]["cold"]["rps"] * max(n), doc["embedded"]["cold"]["rps"]))
    ax1.set_title("cold /recommendations, 2 CPU cores")
    ax1.set_ylabel("req/s")
    for key, style in (("p50_ms", "o-"), ("p99_ms", "s-")):
        ax2.plot(n, [r["freshness"][key] for r in rows], style, label=key.replace("_ms", ""))
    ax2.axhline(10, ls="--", c="grey", label="target p99")
    ax2.set_ylim(0, None)
    ax2.set_title("event through one replica, visible from another")
    ax2.set_ylabel("ms")
    for ax in (ax1, ax2):
        ax.set_xlabel("replicas")
        ax.set_xticks(n)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
