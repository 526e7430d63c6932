"""``liverec bench serve``: the HTTP service under load from wrk, every scenario in one run.

One server process (or ``--workers`` processes), a fresh snapshot and a fresh SQLite event
log in a scratch folder; wrk runs each scenario after a short warm-up. Ratios are computed
against ``/healthz`` measured on the same server in the same run.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from liverec.bench import wrk
from liverec.bench.auth import auth_overhead_us
from liverec.bench.server import Server, call, prepare_home
from liverec.core.markdown import markdown_table
from liverec.core.paths import Paths
from liverec.data import movielens
from liverec.data.dataset import Dataset
from liverec.data.sources import load_dataset
from liverec.serving.training import TrainConfig, train_snapshot


def lua_ids(name: str, ids: Sequence[str]) -> str:
    """A Lua table literal ``name = {"a", "b", ...}``."""
    return f"{name} = {{" + ", ".join(f'"{i}"' for i in ids) + "}\n"


def scenarios(
    users: Sequence[str], items: Sequence[str], connections: int, warm_users: int = 100
) -> list[wrk.Scenario]:
    """The standard scenarios: floor, warm and cold recommendations, similar, ingest."""
    pick_user = "users[(counter * 7919) % #users + 1]"
    pick_item = "items[(counter * 104729) % #items + 1]"
    rec_path = '"/v1/users/" .. ' + pick_user + ' .. "/recommendations?k=10"'
    ids = lua_ids("users", users) + lua_ids("items", items)
    warm_ids = lua_ids("users", users[:warm_users]) + lua_ids("items", items)
    event = (
        '\'{"user_id": "bench-\' .. ((counter * 31) % 5000) .. \'", "item_id": "\' .. '
        + "items[(counter * 104729 + k) % #items + 1]"
        + ' .. \'", "type": "view"}\''
    )
    batch_body = (
        "(function() local parts = {} for k = 1, 100 do parts[k] = "
        + event
        + ' end return \'{"events": [\' .. table.concat(parts, ",") .. "]}" end)()'
    )
    one_body = "(function() local k = 0 return " + event + " end)()"

    def sc(name: str, lua: str, preamble: str = ids, events: int = 0) -> wrk.Scenario:
        return wrk.Scenario(name, lua, connections, events_per_request=events, preamble=preamble)

    # Odd requests log a click for a user, even ones ask for that user's list: every list
    # follows an event, so the transformer advances that user's state (one step) first.
    click_then_recommend = "\n".join(
        [
            "  local u = users[(math.floor((counter + 1) / 2) * 7919) % #users + 1]",
            "  if counter % 2 == 1 then",
            '    local body = \'{"user_id": "\' .. u .. \'", "item_id": "\' .. '
            'items[(counter * 104729) % #items + 1] .. \'", "type": "click"}\'',
            '    return wrk.format("POST", "/v1/events", '
            '{["Content-Type"] = "application/json"}, body)',
            "  end",
            '  return wrk.format("GET", "/v1/users/" .. u .. "/recommendations?k=10", {})',
        ]
    )
    return [
        sc("healthz", wrk.get('"/healthz"')),
        sc("recommendations, warm cache", wrk.get(rec_path), preamble=warm_ids),
        sc("recommendations, cold (no cache)", wrk.get(rec_path, {"Cache-Control": "no-cache"})),
        sc("similar items", wrk.get('"/v1/items/" .. ' + pick_item + ' .. "/similar?k=10"')),
        sc("POST /v1/events, batch of 1", wrk.post_json(one_body), events=1),
        sc("POST /v1/events, batch of 100", wrk.post_json(batch_body), events=100),
        sc("click then recommend (alternating)", click_then_recommend),
    ]


@dataclass
class ServeBench:
    """Settings of one ``bench serve`` run."""

    seconds: float = 8.0
    warmup: float = 2.0
    connections: int = 32
    # One wrk thread: on 2 cores a second one competes with the server for CPU and inflated
    # the measured p99 from 32 ms to 187 ms at the same throughput.
    threads: int = 1
    workers: int = 1
    paced_share: float = 0.5  # paced run offers this share of the cold maximum
    only: tuple[str, ...] = ()  # scenario name prefixes to run (empty: all)
    repeats: int = 3  # runs per scenario; the median run (by req/s) is reported
    train: TrainConfig = field(default_factory=TrainConfig)  # what the served snapshot holds


def trained_home(source: Path, target: Path, dataset: Dataset, train: TrainConfig) -> Path:
    """A scratch home with a copy of the dataset and a freshly trained snapshot in it."""
    home = prepare_home(source, target)
    snapshots = Paths(home).snapshots("ml-100k")
    train_snapshot(
        dataset, [], snapshots, train, log=lambda *_: None, models_dir=Paths(source).models
    )
    return home


def run_serve(
    source_home: Path,
    bench: ServeBench,
    env: dict[str, str] | None = None,
    log: Callable[[str], None] = print,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Start a server, run every scenario, return the results (JSON-able)."""
    dataset = load_dataset("ml-100k", source_home)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        home = trained_home(source_home, Path(tmp) / "home", dataset, bench.train)
        server = Server(home, f"sqlite:///{Path(tmp) / 'events.db'}", bench.workers, env)
        with server:
            users = movielens.raw_user_ids(source_home)
            return _run_all(server, users, dataset.items.raw_ids, bench, log)


def _run_all(
    server: Server,
    users: Sequence[str],
    items: Sequence[str],
    bench: ServeBench,
    log: Callable[[str], None],
) -> dict[str, Any]:
    results: list[wrk.LoadResult] = []
    for sc in scenarios(users, items, bench.connections):
        if bench.only and not sc.name.startswith(bench.only):
            continue
        if bench.warmup > 0:
            wrk.run(server.url, sc, bench.warmup, bench.threads)
        r = median_run(server.url, sc, bench.seconds, bench.repeats, bench.threads)
        log(f"  {sc.name}: {r.rps:,.0f} req/s, p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms")
        results.append(r)
        if sc.name.startswith("recommendations, cold") and bench.paced_share > 0:
            # Latency below saturation: each connection waits so that the offered rate is
            # ``paced_share`` of the maximum just measured (closed loop, wrk's delay()).
            paced = sc.paced(r.rps * bench.paced_share, "recommendations, cold")
            pr = median_run(server.url, paced, bench.seconds, bench.repeats, bench.threads)
            log(
                f"  {paced.name}: {pr.rps:,.0f} req/s, p50 {pr.p50_ms:.2f} ms, "
                f"p99 {pr.p99_ms:.2f} ms"
            )
            results.append(pr)
    health = call(server.url + "/healthz")[1]
    auth = auth_overhead_us()
    log(f"  API-key check: {auth['median_us']:.2f} us per request (median of 7 rounds)")
    return {
        "auth_check_us": auth,
        "settings": {
            "seconds": bench.seconds,
            "warmup": bench.warmup,
            "connections": bench.connections,
            "wrk_threads": bench.threads,
            "workers": bench.workers,
            "repeats": bench.repeats,
        },
        "model_version": health["model_version"],
        "results": [r.to_json() for r in results],
    }


def median_run(
    url: str, sc: wrk.Scenario, seconds: float, repeats: int, threads: int = 1
) -> wrk.LoadResult:
    """Run ``repeats`` times; the run with the median throughput, with the spread."""
    runs = sorted(
        (wrk.run(url, sc, seconds, threads) for _ in range(max(1, repeats))),
        key=lambda r: r.rps,
    )
    mid = runs[len(runs) // 2]
    return replace(mid, rps_range=(runs[0].rps, runs[-1].rps))


def run_variants(
    source_home: Path,
    bench: ServeBench,
    variants: dict[str, dict[str, str]],
    log: Callable[[str], None] = print,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Servers that differ only in ``variants`` (env overrides), measured in turns, same run.

    Every server is started first; then each scenario runs on each variant in turn,
    ``bench.repeats`` times, so machine noise falls on all of them alike. With
    ``bench.paced_share`` > 0, the cold scenario is also run paced at that share of the
    slowest variant's throughput, the same offered rate for every variant.
    """
    dataset = load_dataset("ml-100k", source_home)
    runs: dict[tuple[str, str], list[wrk.LoadResult]] = {}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        home = trained_home(source_home, Path(tmp) / "home", dataset, bench.train)
        servers = {
            name: Server(home, f"sqlite:///{Path(tmp) / f'events-{i}.db'}", bench.workers, env)
            for i, (name, env) in enumerate(variants.items())
        }
        chosen = [
            sc
            for sc in scenarios(
                movielens.raw_user_ids(source_home), dataset.items.raw_ids, bench.connections
            )
            if not bench.only or sc.name.startswith(bench.only)
        ]
        try:
            for s in servers.values():
                s.start()
            for sc in chosen:
                for s in servers.values():
                    wrk.run(s.url, sc, bench.warmup, bench.threads)
                for _ in range(bench.repeats):
                    for name, s in servers.items():
                        r = wrk.run(s.url, sc, bench.seconds, bench.threads)
                        runs.setdefault((sc.name, name), []).append(r)
                if sc.name.startswith("recommendations, cold") and bench.paced_share > 0:
                    slowest = min(
                        sorted(x.rps for x in runs[(sc.name, n)])[bench.repeats // 2]
                        for n in servers
                    )
                    paced = sc.paced(slowest * bench.paced_share)
                    for _ in range(bench.repeats):
                        for name, s in servers.items():
                            r = wrk.run(s.url, paced, bench.seconds, bench.threads)
                            runs.setdefault((paced.name, name), []).append(r)
        finally:
            for s in servers.values():
                s.stop()
    results = []
    for (scenario, name), rs in runs.items():
        rs.sort(key=lambda r: r.rps)
        mid = replace(rs[len(rs) // 2], rps_range=(rs[0].rps, rs[-1].rps))
        log(f"  {scenario} [{name}]: {mid.rps:,.0f} req/s, p99 {mid.p99_ms:.2f} ms")
        results.append({"variant": name, **mid.to_json()})
    return {"variants": variants, "results": results}


def serve_table(doc: dict[str, Any]) -> str:
    """Markdown table of a ``run_serve`` result, with the ratio to /healthz."""
    res = doc["results"]
    floor = next((r["rps"] for r in res if r["scenario"] == "healthz"), None)
    rows = []
    for r in res:
        events = f"{r['events_per_s']:,.0f}" if "events_per_s" in r else ""
        ratio = f"{r['rps'] / floor:.2f}" if floor else ""
        spread = f"{r['rps_min']:,.0f}-{r['rps_max']:,.0f}" if "rps_min" in r else ""
        rows.append(
            [
                r["scenario"],
                f"{r['rps']:,.0f}",
                spread,
                events,
                f"{r['p50_ms']:.2f}",
                f"{r['p95_ms']:.2f}",
                f"{r['p99_ms']:.2f}",
                str(r["errors"]),
                ratio,
            ]
        )
    if "auth_check_us" in doc:
        a = doc["auth_check_us"]
        rows.append(
            [
                f"API-key check (in process), µs: median {a['median_us']:.2f}, range "
                f"{a['min_us']:.2f}-{a['max_us']:.2f}",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
            ]
        )
    header = [
        "scenario",
        "req/s",
        "req/s range",
        "events/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "x /healthz",
    ]
    return markdown_table(header, rows)
