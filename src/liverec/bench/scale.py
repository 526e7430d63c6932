"""``liverec bench scale``: synth -> import -> train -> serve -> load, at one dataset size.

Every offline step runs as its own ``liverec`` process, measured by the kernel (wall time,
user + system CPU, peak RSS from ``wait4``). The server is started like a user would start
it; startup is the time until ``/healthz`` answers. wrk then drives it: cold recommendations
saturated and paced at half that rate (with the count of degraded answers in the paced run),
ingest in batches of 100, and the freshness probe. Accuracy is measured in-process on the
planted holdout: each held-out last event against the pipeline's top 10, and against each
channel alone, popularity included.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from liverec.bench import wrk
from liverec.bench.freshness import FreshnessBench, measure
from liverec.bench.serve import scenarios
from liverec.bench.server import Server
from liverec.core.errors import LiverecError
from liverec.core.markdown import markdown_table
from liverec.core.paths import Paths
from liverec.core.privacy import Pseudonyms

SIZES = ("S", "M", "L")
CHANNELS = ("itemcf", "als", "content", "sasrec", "trending", "pop")


@dataclass(frozen=True)
class ScaleBench:
    """Settings of one ``bench scale`` run."""

    size: str = "S"
    seconds: float = 10.0
    connections: int = 32
    holdout_users: int = 2000  # evaluated (of the planted holdout)
    load_users: int = 20_000  # users the load scripts pick from
    text: bool = True  # train the text component (its time is reported on its own line)
    sasrec_minutes: float = 0.0  # 0: no transformer; else its training time budget
    keep: bool = False  # keep the scratch folder (datasets and snapshots)
    reuse: bool = False  # serve and measure a kept run's snapshot again (no synth/import/train)
    events: int | None = None  # override the preset's counts (a "custom" run)
    users: int | None = None
    items: int | None = None

    @property
    def label(self) -> str:
        """The preset's letter, or "custom" when counts are overridden."""
        custom = (self.events, self.users, self.items) != (None, None, None)
        return "custom" if custom else self.size.upper()


@dataclass(frozen=True)
class Step:
    """What one offline step cost."""

    name: str
    wall_s: float
    cpu_s: float
    peak_rss_gb: float


def run_step(
    name: str, args: Sequence[str], env: dict[str, str], log: Callable[[str], None]
) -> Step:
    """Run ``liverec ARGS`` in a child process; the kernel's account of it."""
    cmd = [sys.executable, "-m", "liverec.cli", *args]
    log(f"  {name}: {' '.join(args)}")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        tail = [*tail[-30:], line.decode(errors="replace").rstrip()]
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed ({proc.returncode}):\n" + "\n".join(tail))
    step = Step(name, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1e6)
    log(f"    {wall:.0f} s wall, {step.cpu_s:.0f} s CPU, peak {step.peak_rss_gb:.2f} GB")
    return step


def _rss_gb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of a process, GB."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1e6, int(fields["VmHWM"].split()[0]) / 1e6


def _metric(url: str, name: str) -> float:
    """One counter from /metrics."""
    import urllib.request

    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "_total "):
                return float(line.split()[-1])
    return 0.0


def load_tests(
    server: Server,
    users: list[str],
    items: list[str],
    bench: ScaleBench,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Saturated and paced cold recommendations, ingest, freshness."""
    picked = {s.name: s for s in scenarios(users, items, bench.connections)}
    out: dict[str, Any] = {}
    for key, name in (
        ("healthz", "healthz"),
        ("cold", "recommendations, cold (no cache)"),
        ("ingest", "POST /v1/events, batch of 100"),
    ):
        sc = picked[name]
        wrk.run(server.url, sc, 2.0, 1)  # warm-up
        r = wrk.run(server.url, sc, bench.seconds, 1)
        out[key] = r.to_json()
        log(f"    {name}: {r.rps:,.0f} req/s, p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms")
        if key == "cold":
            paced = sc.paced(r.rps / 2)
            before = (
                _metric(server.url, "liverec_answers"),
                _metric(server.url, "liverec_degraded_answers"),
            )
            pr = wrk.run(server.url, paced, bench.seconds, 1)
            answers = _metric(server.url, "liverec_answers") - before[0]
            degraded = _metric(server.url, "liverec_degraded_answers") - before[1]
            out["paced"] = {
                **pr.to_json(),
                "offered_rps": round(r.rps / 2, 1),
                "answers": answers,
                "degraded": degraded,
            }
            log(
                f"    {paced.name}: p50 {pr.p50_ms:.2f} ms, p99 {pr.p99_ms:.2f} ms, "
                f"{degraded:.0f} degraded of {answers:.0f}"
            )
    fresh = measure(server.port, users, FreshnessBench(events=300))
    out["freshness"] = fresh
    log(f"    freshness p99 {fresh.get('p99_ms', float('nan')):.2f} ms")
    return out


def holdout_accuracy(
    home: Path, dataset: str, holdout: Path, users: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """HR@10 and NDCG@10 on the planted holdout: the pipeline, and each channel alone."""
    import pyarrow.parquet as pq

    from liverec.eval import metrics
    from liverec.serving.pipeline import PipelineConfig
    from liverec.serving.runtime import ServiceConfig
    from liverec.serving.service import LiveService
    from liverec.serving.snapshot import latest_snapshot, load_snapshot

    path = latest_snapshot(Paths(home).snapshots(dataset))
    assert path is not None
    snapshot = load_snapshot(path)
    cases = pq.read_table(holdout, columns=["user_id", "item_id"]).to_pylist()
    rng = np.random.default_rng(0)
    cases = [cases[i] for i in np.sort(rng.choice(len(cases), min(users, len(cases)), False))]
    free = {"stage_budget_ms": {}, "request_budget_ms": 1e9}  # accuracy must not depend on load
    alone = {"mmr_lambda": 1.0, "dedupe_max_bits": -1, "fresh_slots": 0, "feature_weights": {}}
    present = [c for c in CHANNELS if c in _channels(snapshot)]
    configs = {"pipeline": PipelineConfig(**free)}
    for c in present:
        others = tuple(x for x in _channels(snapshot) if x not in (c, "pop"))
        configs[f"{c} alone"] = PipelineConfig(**free, **alone, weights={c: 1.0}, disabled=others)
    out: dict[str, Any] = {}
    for name, pipeline in configs.items():
        config = ServiceConfig(pipeline=pipeline)
        # the holdout file has raw ids, like a client
        service = LiveService.open(snapshot, config=config, pseudonyms=Pseudonyms.for_home(home))
        state = service.runtime.state
        ranks = []
        for case in cases:
            u = service.user_index(case["user_id"])
            target = state.catalog.ids.get(case["item_id"])
            if u is None or target is None or target in set(state.histories.seen(u).tolist()):
                continue  # a repeat of a seen item cannot be recommended by any method
            shown = [x.item_id for x in service.recommend(case["user_id"], 10, explain=False).items]
            ranks.append(shown.index(case["item_id"]) + 1 if case["item_id"] in shown else 0)
        r = np.asarray(ranks)
        out[name] = {
            "users": len(r),
            "hr@10": round(metrics.hit_rate_at_k(r, 10), 4),
            "ndcg@10": round(metrics.ndcg_at_k(r, 10), 4),
        }
        log(f"    {name}: HR@10 {out[name]['hr@10']:.4f}, NDCG@10 {out[name]['ndcg@10']:.4f}")
    return out


def _channels(snapshot: Any) -> list[str]:
    return [p.component.channel for p in snapshot.components.values() if p.component.channel]


def offline_steps(
    bench: ScaleBench, files: Path, name: str, env: dict[str, str], log: Callable[[str], None]
) -> list[Step]:
    """Synth, import and train, each a measured ``liverec`` process."""
    size = bench.size.upper()
    synth = ["data", "synth", "--preset", size, "--out", str(files), "--no-import"]
    for flag, value in (
        ("--events", bench.events),
        ("--users", bench.users),
        ("--items", bench.items),
    ):
        if value is not None:
            synth += [flag, str(value)]
    events, items = str(files / "events.parquet"), str(files / "items.parquet")
    imported = ["data", "import", "--events", events, "--items", items, "--name", name]
    train = ["train", "--dataset", name, "--keep", "1"]
    train += ["--models", "sasrec" if bench.sasrec_minutes > 0 else "none"]
    if bench.sasrec_minutes > 0:
        train += ["--param", f"sasrec.time_budget_s={bench.sasrec_minutes * 60:g}"]
        train += ["--param", "sasrec.train_window=200", "--param", "sasrec.eval_every=1"]
    if not bench.text:
        train += ["--skip", "text"]
    return [run_step(step, args, env, log) for step, args in
            (("synth", synth), ("import", imported), ("train", train))]  # fmt: skip


def _kept_run(work: Path, name: str, log: Callable[[str], None]) -> list[Step]:
    """The offline steps of a kept run (from its ``steps.json``), with the state its load
    tests left behind (event log, live state) removed so the server starts as fresh.

    Raises
    ------
    LiverecError
        If ``work`` holds no kept run of this size.
    """
    kept = work / "steps.json"
    if not kept.exists() or not any(Paths(work / "home").snapshots(name).glob("2*")):
        raise LiverecError(f"no kept run in {work}; run with --keep first")
    for stale in (work / "events.db", work / "events.db-wal", work / "events.db-shm"):
        stale.unlink(missing_ok=True)
    shutil.rmtree(Paths(work / "home").state(name), ignore_errors=True)
    log(f"  reusing the data and snapshot of {work} (offline steps as measured then)")
    return [Step(**s) for s in json.loads(kept.read_text())]


def serve_and_load(
    bench: ScaleBench, home: Path, name: str, work: Path, log: Callable[[str], None]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start the service as a user would, measure its start and memory, then load it."""
    users = _raw_users(work / "synth" / "events.parquet", bench.load_users)
    items = _sample_ids(Paths(home).dataset(name) / "items.arrow", bench.load_users)
    server = Server(
        home, f"sqlite:///{work / 'events.db'}", dataset=name, env={"OPENBLAS_NUM_THREADS": "1"}
    )
    t0 = time.perf_counter()
    with server:
        startup = time.perf_counter() - t0
        rss_start = _rss_gb(server.pid())
        log(f"  serve: started in {startup:.1f} s, RSS {rss_start[0]:.2f} GB")
        load = load_tests(server, users, items, bench, log)
        rss_end = _rss_gb(server.pid())
    serve = {
        "startup_s": round(startup, 2),
        "rss_gb_after_start": round(rss_start[0], 2),
        "rss_gb_after_load": round(rss_end[0], 2),
        "peak_rss_gb": round(rss_end[1], 2),
    }
    return serve, load


def run_scale(
    bench: ScaleBench, workdir: Path, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Every step at ``bench.size``; returns the JSON-able results."""
    size = bench.label
    name = f"synth-{size.lower()}"
    work = workdir / f"scale-{size}"
    home, files = work / "home", work / "synth"
    env = {**os.environ, "LIVEREC_HOME": str(home), "OPENBLAS_NUM_THREADS": "1"}
    log(f"bench scale {size} in {work}")
    if bench.reuse:
        steps = _kept_run(work, name, log)
    else:
        shutil.rmtree(work, ignore_errors=True)
        steps = offline_steps(bench, files, name, env, log)
    (work / "steps.json").write_text(json.dumps([asdict(s) for s in steps]))
    manifest = json.loads(next(Paths(home).snapshots(name).glob("2*/manifest.json")).read_text())
    synth = json.loads((files / "synth.json").read_text())
    serve, load = serve_and_load(bench, home, name, work, log)
    log("  accuracy on the planted holdout")
    accuracy = holdout_accuracy(home, name, files / "holdout.parquet", bench.holdout_users, log)
    if not (bench.keep or bench.reuse):
        shutil.rmtree(work, ignore_errors=True)
    return {
        "size": size,
        "settings": asdict(bench),
        "data": {k: synth[k] for k in ("events", "holdout", "users", "items", "max_user_events")},
        "steps": [asdict(s) for s in steps],
        "train_timings": manifest["timings"],
        "components": {n: c["meta"] for n, c in manifest["components"].items()},
        "serve": serve,
        "load": load,
        "accuracy": accuracy,
        "bench_peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
    }


def _raw_users(events: Path, n: int) -> list[str]:
    """Up to ``n`` raw user ids from row groups spread over the synthetic events file (users
    are written in order, so the sample spans light and heavy ones); the dataset under the
    home holds only their pseudonyms."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    f = pq.ParquetFile(events)
    groups = np.unique(np.linspace(0, f.num_row_groups - 1, 64).astype(int)).tolist()
    per_group = -(-n // len(groups))
    seen: dict[str, None] = {}
    for g in groups:
        distinct = pc.unique(f.read_row_group(g, columns=["user_id"]).column(0))
        step = max(1, len(distinct) // per_group)
        seen.update(dict.fromkeys(distinct.take(list(range(0, len(distinct), step))).to_pylist()))
    return list(seen)[:n]


def _sample_ids(path: Path, n: int) -> list[str]:
    """Up to ``n`` ids of an id map file, spread evenly."""
    from liverec.data.arrowio import read_arrow

    ids = read_arrow(path).column("id")
    step = max(1, len(ids) // n)
    picked: list[str] = ids.take(list(range(0, len(ids), step))[:n]).to_pylist()
    return picked


def scale_tables(doc: dict[str, Any]) -> str:
    """The markdown section of one size: steps, serving, load, accuracy."""
    d = doc["data"]
    lines = [
        f"**Size {doc['size']}**: {d['events']:,} events (+{d['holdout']:,} held out), "
        f"{d['users']:,} users, {d['items']:,} items; heaviest user {d['max_user_events']:,} "
        f"events. Measured {doc['machine']['when']}.",
        "",
    ]
    if doc["settings"].get("reuse"):
        lines += [
            "Synth, import and train below were measured by the run that made this "
            "data and snapshot; serving and accuracy were measured again by this run.",
            "",
        ]
    rows = [
        [s["name"], f"{s['wall_s']:,.0f}", f"{s['cpu_s']:,.0f}", f"{s['peak_rss_gb']:.2f}"]
        for s in doc["steps"]
    ]
    lines += [markdown_table(["step", "wall s", "CPU s", "peak RSS GB"], rows), ""]
    timings = ", ".join(f"{k} {v:,.0f} s" for k, v in doc["train_timings"].items())
    lines += [f"Train, per component: {timings}.", ""]
    s, load = doc["serve"], doc["load"]
    paced = load["paced"]
    offered = paced.get("offered_rps", load["cold"]["rps"] / 2)
    rows = [
        ["startup (start to /healthz)", f"{s['startup_s']:.1f} s"],
        [
            "RSS after start / after the load tests",
            f"{s['rss_gb_after_start']:.2f} / {s['rss_gb_after_load']:.2f} GB",
        ],
        ["/healthz saturated", f"{load['healthz']['rps']:,.0f} req/s"],
        [
            "cold /recommendations saturated",
            f"{load['cold']['rps']:,.0f} req/s, p99 {load['cold']['p99_ms']:.1f} ms",
        ],
        [
            "cold /recommendations paced to half of that "
            f"({offered:,.0f} req/s offered, {paced['rps']:,.0f} served)",
            f"p50 {paced['p50_ms']:.2f} ms, p99 {paced['p99_ms']:.2f} ms; "
            f"{paced['degraded']:.0f} degraded of {paced['answers']:.0f}",
        ],
        ["ingest, batches of 100", f"{load['ingest'].get('events_per_s', 0):,.0f} events/s"],
        [
            "freshness (ack to visible)",
            f"p50 {load['freshness']['p50_ms']:.2f} ms, p99 {load['freshness']['p99_ms']:.2f} ms",
        ],
    ]
    lines += [markdown_table(["serving", "measured"], rows), ""]
    acc = doc["accuracy"]
    pop = acc.get("pop alone", {}).get("hr@10", 0.0)
    rows = [
        [
            name,
            str(a["users"]),
            f"{a['hr@10']:.4f}",
            f"{a['ndcg@10']:.4f}",
            f"{a['hr@10'] / pop:.1f}x" if pop else "-",
        ]
        for name, a in acc.items()
    ]
    lines += [markdown_table(["planted holdout", "users", "HR@10", "NDCG@10", "HR vs pop"], rows)]
    return "\n".join(lines)


def plot_scale(docs: Sequence[dict[str, Any]], path: Path) -> Path:
    """Each cost against the event count, one line per cost (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    docs = sorted(docs, key=lambda d: d["data"]["events"])
    x = [d["data"]["events"] for d in docs]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for step in ("synth", "import", "train"):
        ax1.plot(
            x,
            [next(s["wall_s"] for s in d["steps"] if s["name"] == step) for d in docs],
            "o-",
            label=f"{step} wall s",
        )
    ax1.plot(x, [d["serve"]["startup_s"] for d in docs], "o--", label="service start s")
    ax1.plot(x, [d["load"]["paced"]["p99_ms"] for d in docs], "s-", label="paced p99 ms")
    ax2.plot(
        x,
        [max(s["peak_rss_gb"] for s in d["steps"]) for d in docs],
        "o-",
        label="offline peak RSS GB",
    )
    ax2.plot(x, [d["serve"]["rss_gb_after_load"] for d in docs], "o--", label="server RSS GB")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("events")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    ax1.set_title("time")
    ax2.set_title("memory")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
