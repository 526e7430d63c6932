"""``liverec bench ranker``: what the learned ranking stage costs per request, in process.

A snapshot with the ranker is trained on ML-100K (or one given is used); for sampled users the
pipeline proposes its candidates (the first ``ranker_candidates`` fused ones, 300 by default)
and the bench times the candidate features, the head, and the two together; then whole
``Pipeline.recommend`` calls with the ranker on and off, alternated request by request so both
see the same machine.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from liverec.bench.naive import percentiles
from liverec.core.paths import Paths
from liverec.data.sources import load_dataset
from liverec.models.ranker.heads import BoostedTreesHead
from liverec.serving.pipeline import PipelineConfig
from liverec.serving.ranker_examples import propose
from liverec.serving.runtime import ServiceConfig
from liverec.serving.service import LiveService
from liverec.serving.training import TrainConfig, train_snapshot


@dataclass(frozen=True)
class RankerBench:
    """How many requests, and which snapshot (None: train one with the ranker)."""

    requests: int = 1000
    snapshot: Path | None = None
    sasrec: bool = False  # train the transformer into the snapshot too (minutes)
    seed: int = 0


def run_ranker(home: Path, bench: RankerBench, log: Callable[[str], None]) -> dict[str, Any]:
    """Time the ranking stage's parts and whole requests with it on and off."""
    dataset = load_dataset("ml-100k", home)
    with tempfile.TemporaryDirectory() as tmp:
        snapshot = bench.snapshot
        if snapshot is None:
            config = TrainConfig().with_optional(["ranker", *(["sasrec"] if bench.sasrec else [])])
            log(f"training a snapshot with {', '.join(config.components)}")
            snapshot = train_snapshot(
                dataset, [], Path(tmp) / "snapshots", config, log=log, models_dir=Paths(home).models
            )
        unhurried = ServiceConfig(pipeline=PipelineConfig().without_budgets())
        service = LiveService.open(snapshot, config=unhurried)
        return _measure(service, dataset.users.raw_ids, bench)


def _measure(service: LiveService, users: Sequence[str], bench: RankerBench) -> dict[str, Any]:
    pipeline = service.runtime.pipeline
    ranking = pipeline.ranking
    if ranking is None:
        raise ValueError("the snapshot has no learned ranker (train it with --models ranker)")
    off = pipeline.with_config(pipeline.config.model_copy(update={"learned_ranker": False}))
    rng = np.random.default_rng(bench.seed)
    asked = rng.choice(len(users), bench.requests)
    uidx = [service.user_index(users[u]) for u in asked.tolist()]
    parts: dict[str, list[float]] = {"features": [], "head": [], "stage": []}
    whole: dict[str, list[float]] = {"ranker on": [], "ranker off": []}
    sizes = []
    for u in [*uidx[:20], *uidx]:  # the first 20 warm caches and compiled code up
        proposed = None if u is None else propose(pipeline, u, pipeline.config.ranker_candidates)
        if proposed is None:
            continue
        t0 = time.perf_counter()
        matrix = ranking.features.matrix(proposed)
        t1 = time.perf_counter()
        ranking.ranker.score(ranking.read(matrix))
        t2 = time.perf_counter()
        parts["features"].append(t1 - t0)
        parts["head"].append(t2 - t1)
        parts["stage"].append(t2 - t0)
        sizes.append(len(proposed.fused.items))
        for name, p in (("ranker on", pipeline), ("ranker off", off)):
            t0 = time.perf_counter()
            p.recommend(u, 10, with_reasons=False)
            whole[name].append(time.perf_counter() - t0)
    warm = 20
    head = ranking.ranker.head
    return {
        "head": head.kind,
        "trees": len(head.trees.roots) if isinstance(head, BoostedTreesHead) else None,
        "features": len(ranking.ranker.names),
        "requests": len(sizes) - warm,
        "candidates_median": int(np.median(sizes[warm:])),
        "parts": {k: percentiles([1e3 * t for t in v[warm:]]) for k, v in parts.items()},
        "recommend": {k: percentiles([1e3 * t for t in v[warm:]]) for k, v in whole.items()},
    }
