"""``liverec bench ablation``: each optimisation switched off in turn, accuracy and cost.

Accuracy and in-process latency come from the replay protocol on the test stream (so every
row answers the same 10,000 events); HTTP throughput and p99 from ``bench serve`` runs of the
recommendation scenarios. Rows:

- default: every optimisation on;
- cache off: answers are identical (the cache can never serve a stale answer), so the cost
  shows in HTTP throughput with repeat traffic (warm vs cold);
- ANN: ALS retrieval through HNSW (fp32) and HNSW with int8 vectors instead of exact search;
- workers: one vs two uvicorn processes sharing the event log;
- MMR off: no diversity re-ranking; plus the MMR lambda sweep (the trade-off curve).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from liverec.bench.serve import ServeBench, run_serve
from liverec.core.markdown import markdown_table
from liverec.data.sources import load_dataset
from liverec.eval.replay import ReplayResult, ReplaySplit, replay, replay_config, time_cut
from liverec.serving.cache import CacheConfig
from liverec.serving.service import ServiceConfig
from liverec.serving.training import TrainConfig

LAMBDAS = (1.0, 0.9, 0.75, 0.5, 0.25, 0.0)


def _row(name: str, r: ReplayResult) -> dict[str, Any]:
    s = r.summary()
    return {
        "config": name,
        "ndcg@10": s["ndcg@10"],
        "hr@10": s["hr@10"],
        "diversity@10": s["diversity@10"],
        "coverage@10": s["coverage@10"],
        "recommend_p99_ms": s["recommend_p99_ms"],
        "ingest_p99_ms": s["ingest_p99_ms"],
    }


def run_ablation(
    source_home: Path,
    seconds: float = 6.0,
    log: Callable[[str], None] = print,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Every ablation row and the lambda curve (JSON-able)."""
    dataset = load_dataset("ml-100k", source_home)
    split = time_cut(dataset, 0.9)
    rows: list[dict[str, Any]] = []

    def run(
        name: str,
        config: ServiceConfig | None = None,
        train: TrainConfig | None = None,
        split_: ReplaySplit = split,
    ) -> ReplayResult:
        r = replay(
            dataset,
            split_,
            "online",
            service_config=config or replay_config(),
            train_config=train,
            workdir=workdir,
        )
        log(f"  replay {name}: NDCG@10 {r.ndcg:.4f}, ILD@10 {r.diversity:.4f}")
        return r

    default = run("default")
    rows.append(_row("default (all on)", default))
    no_cache = ServiceConfig(pipeline=replay_config().pipeline, cache=CacheConfig(enabled=False))
    rows.append(_row("cache off", run("cache off", no_cache)))
    for kind, label in (("hnsw", "HNSW fp32"), ("hnsw-sq8", "HNSW int8 (SQ8)")):
        train = TrainConfig(params={"als": {"index": kind}, "text": {"index": kind}})
        rows.append(_row(f"ANN: {label} instead of exact", run(kind, train=train)))
    rows.append(_row("MMR off (lambda = 1)", run("mmr off", replay_config({"mmr_lambda": 1.0}))))

    curve = []
    for lam in LAMBDAS:
        r = default if lam == 0.75 else run(f"lambda {lam}", replay_config({"mmr_lambda": lam}))
        curve.append({"lambda": lam, **_row(f"lambda {lam}", r)})

    http: list[dict[str, Any]] = []
    for workers in (1, 2):
        bench = ServeBench(
            seconds=seconds,
            warmup=1.0,
            workers=workers,
            paced_share=0.0,
            only=("healthz", "recommendations"),
        )
        doc = run_serve(source_home, bench, log=log, workdir=workdir)
        for r in doc["results"]:
            http.append({"workers": workers, **r})
    return {"events": split.n_stream, "rows": rows, "lambda_curve": curve, "http": http}


def ablation_tables(doc: dict[str, Any]) -> str:
    """The ablation, the lambda curve and the HTTP comparison as markdown."""
    rows = [
        [
            r["config"],
            f"{r['ndcg@10']:.4f}",
            f"{r['hr@10']:.4f}",
            f"{r['diversity@10']:.4f}",
            f"{r['coverage@10']:.4f}",
            f"{r['recommend_p99_ms']:.3f}",
            "-" if r["ingest_p99_ms"] is None else f"{r['ingest_p99_ms']:.3f}",
        ]
        for r in doc["rows"]
    ]
    head = [
        "configuration",
        "NDCG@10",
        "HR@10",
        "ILD@10",
        "Cov@10",
        "recommend p99 ms",
        "ingest p99 ms",
    ]
    curve = [
        [
            f"{c['lambda']:.2f}",
            f"{c['ndcg@10']:.4f}",
            f"{c['diversity@10']:.4f}",
            f"{c['coverage@10']:.4f}",
        ]
        for c in doc["lambda_curve"]
    ]
    http = [
        [
            str(h["workers"]),
            h["scenario"],
            f"{h['rps']:,.0f}",
            f"{h['p50_ms']:.2f}",
            f"{h['p99_ms']:.2f}",
            str(h["errors"]),
        ]
        for h in doc["http"]
    ]
    return "\n\n".join(
        [
            markdown_table(head, rows),
            "MMR trade-off (replay, test stream):\n\n"
            + markdown_table(["lambda", "NDCG@10", "ILD@10", "Cov@10"], curve),
            "HTTP, 32 connections (cache on: warm; `Cache-Control: no-cache`: cold):\n\n"
            + markdown_table(["workers", "scenario", "req/s", "p50 ms", "p99 ms", "errors"], http),
        ]
    )


def plot(doc: dict[str, Any], path: Path) -> Path:
    """One PNG: accuracy and cost per ablation row, and the MMR lambda trade-off curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(17, 5), width_ratios=[1.1, 1.1, 1])
    rows = doc["rows"]
    names = [r["config"].replace(" instead of exact", "") for r in rows]
    y = np.arange(len(rows))
    full = [r for r in rows if "first" not in r["config"] and "same" not in r["config"]]
    ax1.barh(y[: len(full)], [r["ndcg@10"] for r in full], color="#3b6fd1")
    ax1.set_yticks(y, names, fontsize=8)
    ax1.invert_yaxis()
    lo = min(r["ndcg@10"] for r in full)
    hi = max(r["ndcg@10"] for r in full)
    ax1.set_xlim(lo - 3 * (hi - lo) - 1e-3, hi + (hi - lo) + 1e-3)
    ax1.set_xlabel(f"replay NDCG@10 ({doc['events']:,} events; axis zoomed)")
    ax1.set_title("Accuracy with each optimisation off")
    for i, r in enumerate(rows[len(full) :], start=len(full)):
        # the prefix rows answer fewer events: their NDCG is not on this axis's scale
        note = f"  prefix only: NDCG@10 {r['ndcg@10']:.4f}"
        if r.get("same_answers"):
            note += " (identical to incremental)"
        ax1.text(ax1.get_xlim()[0], i, note, va="center", fontsize=7)
    rec = [r["recommend_p99_ms"] for r in rows]
    ing = [r["ingest_p99_ms"] or 0 for r in rows]
    ax2.barh(y - 0.2, rec, height=0.4, color="#3b6fd1", label="recommend p99")
    ax2.barh(y + 0.2, ing, height=0.4, color="#d1603b", label="ingest p99 (per event)")
    ax2.set_xscale("log")
    ax2.set_yticks(y, ["" for _ in rows])
    ax2.invert_yaxis()
    ax2.set_xlabel("milliseconds (log scale, in process)")
    ax2.set_title("Cost with each optimisation off")
    ax2.legend(fontsize=8, loc="upper right")
    for i, (a, b) in enumerate(zip(rec, ing, strict=True)):
        ax2.text(a, i - 0.2, f" {a:.2f}", va="center", fontsize=7)
        if b:
            ax2.text(b, i + 0.2, f" {b:.2f}", va="center", fontsize=7)
    curve = doc["lambda_curve"]
    ax3.plot(
        [c["diversity@10"] for c in curve], [c["ndcg@10"] for c in curve], "o-", color="#d1603b"
    )
    for c in curve:
        ax3.annotate(
            f"λ={c['lambda']:g}",
            (c["diversity@10"], c["ndcg@10"]),
            textcoords="offset points",
            xytext=(5, 5),
            fontsize=8,
        )
    ax3.set_xlabel("intra-list diversity@10 (genre Jaccard distance)")
    ax3.set_ylabel("NDCG@10")
    ax3.set_title("MMR trade-off (replay, test stream)")
    ax3.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
