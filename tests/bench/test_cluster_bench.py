"""`bench cluster`'s Redis memory fit, on a real redis-server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from liverec.bench.cluster import cluster_tables, plot_cluster, redis_memory


def test_redis_memory_fit_gives_plausible_bytes_per_event_and_user() -> None:
    doc = redis_memory(events=4_000)
    # Each event is a stream entry plus one field of its user's hash: tens of bytes at
    # least (the payload alone is ~30), far below a kilobyte.
    assert 30 < doc["bytes_per_event"] < 1_000
    assert doc["used_memory_by_users"].keys() == {"40", "400"}
    assert doc["access_us"]["last_seq"] > 0 and doc["access_us"]["user_history_100"] > 0


def test_the_tables_and_the_plot_come_from_a_result(tmp_path: Path) -> None:
    def run(rps: float) -> dict[str, float]:
        return {"rps": rps, "rps_min": rps - 5, "rps_max": rps + 5, "p50_ms": 2.0, "p99_ms": 9.0}

    def cluster(n: int, rps: float) -> dict[str, Any]:
        row: dict[str, Any] = {"replicas": n, "cold": run(rps)}
        row["ingest"] = {"events_per_s": 20_000.0}
        row["freshness"] = {"p50_ms": 2.0 + n, "p99_ms": 5.0 + n, "never_visible": 0}
        row["kill"] = {"requests": 100, "errors": 1, "replica_back_s": 15.0}
        row["replica_rss_mb"] = [370.0] * n
        return row

    doc = {
        "settings": {"paced_rps": 450.0},
        "embedded": {"cold": run(900.0), "paced": run(445.0)},
        "clusters": [cluster(1, 800.0), cluster(2, 1_200.0)],
        "redis_memory": {"bytes_per_event": 80, "bytes_per_user": 126, "events": 200_000,
                         "access_us": {"last_seq": 87, "user_history_100": 265},
                         "used_memory_by_users": {"2000": 1, "20000": 2}},
    }  # fmt: skip
    text = cluster_tables(doc)
    assert "| 2 replica(s) + HAProxy + Redis | 1,200 | 1,195-1,205 | 1.50 |" in text
    png = plot_cluster(doc, tmp_path / "cluster.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
