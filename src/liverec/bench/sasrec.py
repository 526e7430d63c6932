"""The transformer's serving costs: fp32 vs int8 graphs, incremental steps, batching.

``compression`` scores the test split through torch, ONNX fp32 and ONNX int8 from one fitted
model (the one ``liverec evaluate --models sasrec --save-models DIR`` wrote), with file sizes
and per-call latencies measured interleaved in the same run. ``serve`` starts servers that
differ in one setting (transformer off, int8, fp32, micro-batching, ranker stage) and loads
them in turns.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from liverec.bench import serve
from liverec.core.markdown import markdown_table
from liverec.data.dataset import Dataset
from liverec.data.split import leave_last_out
from liverec.eval.offline import LIST_LENGTH, list_metrics
from liverec.models.base import top_k
from liverec.models.sasrec import SASRec, SASRecConfig
from liverec.models.sasrec.encoder import SequenceEncoder
from liverec.serving.training import TrainConfig


def _ranked(scores: np.ndarray, seen: Any) -> np.ndarray:
    items, _ = top_k(scores, LIST_LENGTH, exclude=seen)
    return items


def _timings(fn: Callable[[], object], calls: int) -> tuple[float, float]:
    samples = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    ms = np.array(samples) * 1e3
    return float(np.median(ms)), float(np.percentile(ms, 99))


def run_compression(
    dataset: Dataset, model_dir: Path, calls: int = 300, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Test-split accuracy, size and latency of torch fp32, ONNX fp32 and ONNX int8."""
    model = SASRec.load(model_dir)
    split = leave_last_out(dataset.interactions)
    history = split.history("test")
    users, targets = split.targets("test")
    hist = history.histories().take(users)
    seen = history.to_csr()[users]
    item_counts = history.item_counts()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        files = model.export_onnx(Path(tmp), quantize=True)
        t0 = time.perf_counter()
        torch_scores = model.encode(hist) @ model.item_vectors().T
        torch_s = time.perf_counter() - t0
        rows.append(
            {
                "variant": "torch fp32",
                "metrics": list_metrics(_ranked(torch_scores, seen), targets, dataset, item_counts),
                "rank_seconds": torch_s,
                "bytes": sum(v.nbytes for v in model.net.state_dict().values()),
            }
        )
        encoders = {}
        for int8 in (False, True):
            name = "onnx int8" if int8 else "onnx fp32"
            enc = SequenceEncoder(Path(tmp), model.config, int8=int8)
            encoders[name] = enc
            t0 = time.perf_counter()
            scores = enc.scores(enc.encode_histories(hist))
            took = time.perf_counter() - t0
            suffix = "-int8" if int8 else ""
            rows.append(
                {
                    "variant": name,
                    "metrics": list_metrics(_ranked(scores, seen), targets, dataset, item_counts),
                    "rank_seconds": took,
                    "bytes": sum(files[f"{g}{suffix}"].stat().st_size for g in ("prefill", "step")),
                    "tables_bytes": files["tables"].stat().st_size,
                }
            )
            log(f"  {name}: NDCG@10 {rows[-1]['metrics']['ndcg@10']:.4f}")
        latency = _latencies(encoders, hist, calls)
    ref = rows[0]["metrics"]["ndcg@10"]
    for r in rows:
        r["ndcg_change"] = r["metrics"]["ndcg@10"] / ref - 1 if ref else 0.0
    return {
        "model": str(model_dir),
        "config": model.config.__dict__,
        "best_epoch": model.best_epoch,
        "rows": rows,
        "latency": latency,
    }


def _latencies(encoders: dict[str, SequenceEncoder], hist: Any, calls: int) -> list[dict[str, Any]]:
    """Prefill (one user's last ``context`` events) and step latencies at batch 1, 8 and 32,
    measured in turns for every encoder so that machine noise falls on all alike."""
    users = [u for u in range(len(hist)) if len(hist[u]) > 60][:32]
    out: list[dict[str, Any]] = []
    for name, enc in encoders.items():
        seqs = [(hist[u][:-1], hist.ts[hist.indptr[u] : hist.indptr[u + 1] - 1]) for u in users]
        states = [enc.prefill(*s) for s in seqs]
        last = [int(hist[u][-1]) for u in users]
        ts = [float(hist.ts[hist.indptr[u + 1] - 1]) for u in users]
        ready = [s for s in states if s is not None]
        cases: dict[str, Callable[[], object]] = {
            "prefill, 1 user": partial(enc.prefill, *seqs[0]),
        }
        for b in (1, 8, 32):
            cases[f"step, batch of {b}"] = partial(enc.step, ready[:b], last[:b], ts[:b])
        for case, fn in cases.items():
            fn()  # warm-up
            p50, p99 = _timings(fn, calls)
            batch = int(case.rsplit(" ", 1)[-1]) if case.startswith("step") else 1
            out.append(
                {
                    "variant": name,
                    "case": case,
                    "p50_ms": p50,
                    "p99_ms": p99,
                    "per_user_us": p50 * 1e3 / batch,
                }
            )
    return out


def compression_tables(doc: dict[str, Any]) -> str:
    """Markdown: accuracy and size per variant, then latency per call."""
    accuracy = [
        [
            r["variant"],
            f"{r['metrics']['ndcg@10']:.4f}",
            f"{r['metrics']['hr@10']:.4f}",
            f"{100 * r['ndcg_change']:+.2f}%",
            f"{r['bytes'] / 1e6:.2f} MB",
            f"{r['rank_seconds']:.2f} s",
        ]
        for r in doc["rows"]
    ]
    head = ["variant", "NDCG@10", "HR@10", "change in NDCG@10", "graph size", "rank 943 users"]
    latency = [
        [
            r["variant"],
            r["case"],
            f"{r['p50_ms']:.3f}",
            f"{r['p99_ms']:.3f}",
            f"{r['per_user_us']:.0f}",
        ]
        for r in doc["latency"]
    ]
    calls = ["variant", "call", "p50 ms", "p99 ms", "per user µs"]
    return f"{markdown_table(head, accuracy)}\n\n{markdown_table(calls, latency, left=2)}\n"


VARIANTS: dict[str, dict[str, str]] = {
    "transformer off": {
        "LIVEREC_SERVICE__PIPELINE__DISABLED": '["sasrec"]',
        "LIVEREC_SERVICE__PIPELINE__RANKER_WEIGHT": "0",
    },
    "transformer int8": {},
    "transformer fp32": {"LIVEREC_SERVICE__SEQUENCE_INT8": "false"},
    "int8 + micro-batching": {"LIVEREC_SERVICE__MICRO_BATCH": "true"},
    "int8 + ranker stage (0.05)": {
        "LIVEREC_SERVICE__PIPELINE__FEATURE_WEIGHTS": '{"text": 0.02, "sasrec": 0.05}'
    },
}


def run_serve_variants(
    source_home: Path, seconds: float, config: SASRecConfig, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Servers with the transformer off, int8, fp32, int8 with micro-batching, and int8 with
    the ranker stage on."""
    bench = serve.ServeBench(
        seconds=seconds,
        warmup=1.0,
        paced_share=0.5,
        only=("recommendations, cold", "click then recommend"),
        train=TrainConfig()
        .with_optional(["sasrec"])
        .model_copy(update={"params": {"sasrec": asdict(config)}}),
    )
    return serve.run_variants(source_home, bench, VARIANTS, log=log)
