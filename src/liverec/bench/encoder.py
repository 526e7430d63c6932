"""``liverec bench encoder``: the text encoder's runtimes side by side on ML-100K item texts.

Every runtime (torch-fp32, onnx-fp32, onnx-int8) at 1 and 2 intra-op threads is loaded in
one process and measured in alternation, so machine noise falls on all of them alike:
single-item latency (``encode_one``, the request path), whole-catalog throughput (batches of
64 sorted by length), closeness to the torch-fp32 reference (cosine, top-10 neighbours), file
sizes, and load time and memory in a fresh process (what a starting server pays).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from liverec.core.errors import ConfigError
from liverec.core.markdown import markdown_table
from liverec.core.paths import Paths
from liverec.data.sources import load_dataset
from liverec.features.text import RUNTIMES, TextConfig, TextEncoder, export_onnx, load_encoder
from liverec.features.text import model_dir as text_model_dir

TARGET_INT8_P50_MS = 5.0
TARGET_COSINE_MEAN = 0.99
TARGET_COSINE_MIN = 0.97
BLOCK = 25  # single calls per encoder before switching to the next one

_FRESH_LOAD = """
import json, resource, sys, time
from pathlib import Path

def peak_kb():
    # ru_maxrss survives exec on Linux (it would report the parent's peak): read VmHWM first.
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

t0 = time.perf_counter()
from liverec.features.text import TextConfig, load_encoder
enc = load_encoder(TextConfig(runtime=sys.argv[1], threads=1), Path(sys.argv[2]))
t1 = time.perf_counter()
enc.encode_one("Toy Story (1995). Genres: Animation, Children's, Comedy")
t2 = time.perf_counter()
print(json.dumps({
    "load_s": t1 - t0,
    "first_call_ms": (t2 - t1) * 1e3,
    "peak_rss_mb": peak_kb() / 1024,
    "imports_torch": "torch" in sys.modules,
}))
"""


@dataclass(frozen=True)
class EncoderBench:
    """``items``: catalog items to encode (0: all); ``calls``: single calls per encoder."""

    items: int = 0
    calls: int = 300
    rounds: int = 3  # whole-catalog passes per encoder; the median is reported
    threads: tuple[int, ...] = (1, 2)
    batch_size: int = 64
    fresh_load: bool = True  # time each runtime's load in a fresh process

    def __post_init__(self) -> None:
        for name in ("calls", "rounds", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"bench encoder: {name} must be >= 1, got {getattr(self, name)}")
        if not self.threads or min(self.threads) < 1:
            raise ConfigError(f"bench encoder: threads must be >= 1 each, got {self.threads}")


def _ms(samples: list[float]) -> dict[str, float]:
    a = np.asarray(samples) * 1e3
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "mean_ms": round(float(a.mean()), 3),
    }


def _mb(path: Path) -> float:
    return round(path.stat().st_size / 2**20, 1)


def _top_overlap(a: NDArray[np.float32], b: NDArray[np.float32], k: int = 10) -> float:
    """Mean share of each item's k nearest neighbours under ``a`` that ``b`` also finds."""
    if len(a) <= k:
        return 1.0

    def nearest(v: NDArray[np.float32]) -> NDArray[np.intp]:
        sims = v @ v.T  # (n, n)
        np.fill_diagonal(sims, -np.inf)
        return np.argpartition(-sims, k, axis=1)[:, :k]

    na, nb = nearest(a), nearest(b)
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(na, nb, strict=True)]))


def _fresh_load(runtime: str, cache_dir: Path) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _FRESH_LOAD, runtime, str(cache_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=True,
    )
    r: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}


def run_encoder(
    home: Path,
    bench: EncoderBench,
    cache_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Measure every runtime x thread count; ``cache_dir`` defaults to ``home/models``."""
    cache = cache_dir or Paths(home).models
    dataset = load_dataset("ml-100k", home)
    texts = [it.text() for it in dataset.catalog]
    if bench.items:
        texts = texts[: bench.items]
    t = time.perf_counter()
    paths = {"onnx-fp32": export_onnx(cache, False), "onnx-int8": export_onnx(cache, True)}
    export_s = time.perf_counter() - t
    log(f"  ONNX files ready in {export_s:.1f} s under {paths['onnx-int8'].parent}")

    configs = [(r, n) for r in RUNTIMES for n in bench.threads]
    encoders: dict[tuple[str, int], TextEncoder] = {}
    load_s: dict[tuple[str, int], float] = {}
    for r, n in configs:
        t = time.perf_counter()
        encoders[r, n] = load_encoder(
            TextConfig(runtime=r, threads=n, batch_size=bench.batch_size), cache
        )
        load_s[r, n] = time.perf_counter() - t
        encoders[r, n].encode(texts[:8])  # warm-up: first calls allocate
    log(f"  loaded {len(configs)} encoders; {bench.calls} single calls each, alternating")

    sample = np.random.default_rng(0).choice(len(texts), bench.calls, replace=True)
    single: dict[tuple[str, int], list[float]] = {c: [] for c in configs}
    for start in range(0, bench.calls, BLOCK):
        block = [texts[i] for i in sample[start : start + BLOCK]]
        for c in configs:
            enc = encoders[c]
            enc.encode_one(block[0])  # the first call after a switch finds cold caches
            for text in block:
                t = time.perf_counter()
                enc.encode_one(text)
                single[c].append(time.perf_counter() - t)

    log(f"  {bench.rounds} round(s) of encoding {len(texts):,} items per encoder")
    batch_s: dict[tuple[str, int], list[float]] = {c: [] for c in configs}
    vectors: dict[str, NDArray[np.float32]] = {}
    for _ in range(bench.rounds):
        for c in configs:
            t = time.perf_counter()
            v = encoders[c].encode(texts, batch_size=bench.batch_size)
            batch_s[c].append(time.perf_counter() - t)
            vectors.setdefault(c[0], v)

    ref = vectors["torch-fp32"]
    quality = {}
    for r in ("onnx-fp32", "onnx-int8"):
        cos = (vectors[r] * ref).sum(axis=1)
        quality[r] = {
            "cosine_mean": round(float(cos.mean()), 5),
            "cosine_min": round(float(cos.min()), 5),
            "top10_overlap": round(_top_overlap(ref, vectors[r]), 4),
        }
    del encoders

    sizes = {
        "torch-fp32": _mb(text_model_dir() / "model.safetensors"),
        "onnx-fp32": _mb(paths["onnx-fp32"]),
        "onnx-int8": _mb(paths["onnx-int8"]),
    }
    fresh: dict[str, dict[str, Any]] = {}
    if bench.fresh_load:
        for r in RUNTIMES:
            log(f"  loading {r} in a fresh process")
            fresh[r] = _fresh_load(r, cache)

    results = [
        {
            "runtime": r,
            "threads": n,
            "load_s": round(load_s[r, n], 3),
            "single": _ms(single[r, n]),
            "batch_items_per_s": round(len(texts) / float(np.median(batch_s[r, n])), 1),
            "batch_s": [round(s, 3) for s in batch_s[r, n]],
        }
        for r, n in configs
    ]
    doc: dict[str, Any] = {
        "items": len(texts),
        "calls": bench.calls,
        "rounds": bench.rounds,
        "batch_size": bench.batch_size,
        "export_s": round(export_s, 2),
        "results": results,
        "quality_vs_torch_fp32": quality,
        "size_mb": sizes,
        "fresh_load": fresh,
    }
    doc["targets"] = targets(doc)
    return doc


def targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The encoder's targets, each with the measured value and whether it is met."""
    int8 = next(r for r in doc["results"] if (r["runtime"], r["threads"]) == ("onnx-int8", 1))
    q = doc["quality_vs_torch_fp32"]["onnx-int8"]
    checks = [
        (
            "onnx-int8 single-item p50 ms, 1 thread",
            "<=",
            TARGET_INT8_P50_MS,
            int8["single"]["p50_ms"],
        ),
        ("onnx-int8 cosine vs torch-fp32, mean", ">=", TARGET_COSINE_MEAN, q["cosine_mean"]),
        ("onnx-int8 cosine vs torch-fp32, min", ">=", TARGET_COSINE_MIN, q["cosine_min"]),
    ]
    return [
        {
            "name": name,
            "target": f"{op} {bound:g}",
            "value": value,
            "met": bool(value <= bound if op == "<=" else value >= bound),
        }
        for name, op, bound, value in checks
    ]


def encoder_tables(doc: dict[str, Any]) -> str:
    """Markdown: speed per runtime x threads, then size/quality/load per runtime, then targets."""
    speed = markdown_table(
        ["runtime", "threads", "single p50 ms", "single p99 ms", "batch items/s"],
        [
            [
                r["runtime"],
                str(r["threads"]),
                f"{r['single']['p50_ms']:.2f}",
                f"{r['single']['p99_ms']:.2f}",
                f"{r['batch_items_per_s']:.0f}",
            ]
            for r in doc["results"]
        ],
    )
    q, fresh = doc["quality_vs_torch_fp32"], doc["fresh_load"]
    rows = []
    for r in RUNTIMES:
        f = fresh.get(r, {})
        qr = q.get(r, {"cosine_mean": 1.0, "cosine_min": 1.0, "top10_overlap": 1.0})
        rows.append(
            [
                r,
                f"{doc['size_mb'][r]:.1f}",
                f"{f['load_s']:.2f}" if f else "-",
                f"{f['peak_rss_mb']:.0f}" if f else "-",
                f"{qr['cosine_mean']:.4f}",
                f"{qr['cosine_min']:.4f}",
                f"{qr['top10_overlap']:.3f}",
            ]
        )
    model = markdown_table(
        [
            "runtime",
            "file MB",
            "load s (fresh process)",
            "peak RSS MB",
            "cosine vs torch, mean",
            "min",
            "top-10 overlap",
        ],
        rows,
    )
    goals = "; ".join(
        f"{t['name']} {t['target']}: {t['value']:g} {'met' if t['met'] else 'MISSED'}"
        for t in doc["targets"]
    )
    return (
        f"{doc['items']:,} ML-100K item texts, {doc['calls']} single calls per row "
        f"(alternating in blocks of {BLOCK}), batch {doc['batch_size']} sorted by length, "
        f"median of {doc['rounds']} pass(es).\n\n{speed}\n\n{model}\n\nTargets: {goals}.\n"
    )
