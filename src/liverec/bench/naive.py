"""``liverec bench naive``: the live pipeline against the textbook per-request user-CF.

The textbook path (the way recommender tutorials write it) recomputes the whole user x user
cosine similarity matrix from the dense rating matrix on every request, then takes the
user's neighbours and a similarity-weighted average. Between the two sits the same user-CF
computed for one user only (``liverec.models.usercf``), so the table shows how much comes
from not recomputing what does not change and how much from the pipeline's design.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from liverec.core.paths import Paths
from liverec.data.dataset import Dataset
from liverec.data.interactions import Histories
from liverec.data.sources import load_dataset
from liverec.models.base import top_k
from liverec.models.usercf import UserCF
from liverec.serving.cache import CacheConfig
from liverec.serving.service import LiveService, ServiceConfig
from liverec.serving.training import train_snapshot


def textbook_user_cf(
    ratings: NDArray[np.float64], user: int, k: int = 10, neighbours: int = 20
) -> NDArray[np.int64]:
    """Top-k for ``user``, recomputing every user-user cosine similarity first (the naive way)."""
    norms = np.linalg.norm(ratings, axis=1)
    sims = (ratings @ ratings.T) / np.maximum(np.outer(norms, norms), 1e-12)  # (users, users)
    s = sims[user].copy()
    s[user] = 0.0
    nearest = np.argsort(-s)[:neighbours]
    predicted = s[nearest] @ ratings[nearest] / max(float(np.abs(s[nearest]).sum()), 1e-12)
    predicted[ratings[user] > 0] = -np.inf
    return np.argsort(-predicted, kind="stable")[:k].astype(np.int64)


def percentiles(ms: list[float]) -> dict[str, float]:
    """p50, p99 and mean of millisecond samples."""
    a = np.asarray(ms)
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 4),
        "p99_ms": round(float(np.percentile(a, 99)), 4),
        "mean_ms": round(float(a.mean()), 4),
    }


def run_naive(
    source_home: Path,
    requests: int = 200,
    log: Callable[[str], None] = print,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Time the three paths on the same users, alternating, in one process."""
    dataset: Dataset = load_dataset("ml-100k", source_home)
    it = dataset.interactions
    ratings = it.to_csr().toarray().astype(np.float64)
    usercf = UserCF().fit(it)
    config = ServiceConfig(cache=CacheConfig(enabled=False))
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        snap = train_snapshot(
            dataset, [], Path(tmp) / "s", log=lambda *_: None, models_dir=Paths(source_home).models
        )
        service = LiveService.open(snap, config=config)  # the ids already are pseudonyms
        users = np.random.default_rng(0).choice(dataset.n_users, requests, replace=True)
        seen = it.to_csr()
        for u in users[:50].tolist():  # warm-up: first calls build lazy indexes
            textbook_user_cf(ratings, u)
            service.recommend(dataset.users.raw(u), 10)
        times: dict[str, list[float]] = {"textbook": [], "usercf": [], "pipeline": []}
        # One BLAS thread for all three, as on the request path; alternate to share noise.
        with threadpool_limits(1, "blas"):
            for u in users.tolist():
                t = time.perf_counter()
                textbook_user_cf(ratings, u)
                times["textbook"].append((time.perf_counter() - t) * 1e3)
                t = time.perf_counter()
                h = usercf.histories.take(np.array([u]))
                top_k(
                    usercf.score_histories(Histories(h.indptr, h.items, h.ts, h.n_items)),
                    10,
                    exclude=seen[[u]],
                )
                times["usercf"].append((time.perf_counter() - t) * 1e3)
                t = time.perf_counter()
                service.recommend(dataset.users.raw(u), 10)
                times["pipeline"].append((time.perf_counter() - t) * 1e3)
    out = {name: percentiles(ms) for name, ms in times.items()}
    base = out["pipeline"]
    for name in ("textbook", "usercf"):
        out[name]["p99_x_pipeline"] = round(out[name]["p99_ms"] / base["p99_ms"], 1)
        out[name]["p50_x_pipeline"] = round(out[name]["p50_ms"] / base["p50_ms"], 1)
    log(
        f"  textbook p99 {out['textbook']['p99_ms']:.2f} ms, pipeline p99 "
        f"{base['p99_ms']:.3f} ms: {out['textbook']['p99_x_pipeline']:.0f}x"
    )
    return {"requests": requests, "results": out}
