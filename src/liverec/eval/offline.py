"""Leave-last-out evaluation with full ranking: fit, rank every evaluated user, score the lists."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from liverec.core.markdown import markdown_table
from liverec.data.dataset import Dataset
from liverec.data.split import LeaveLastOut, SplitName, leave_last_out
from liverec.engine import Executor
from liverec.eval import metrics
from liverec.models.base import Recommender, top_k

CUTOFFS = (10, 20)
LIST_LENGTH = max(CUTOFFS)
SHARDS_PER_WORKER = 4  # evaluation shards per worker: a slow shard leaves the others busy


@dataclass
class ModelResult:
    """One model's metrics, timings and the ranked lists they were computed from."""

    model: str
    params: dict[str, Any]
    metrics: dict[str, float]
    fit_seconds: float
    rank_seconds: float
    users: NDArray[np.int64] = field(repr=False)
    top: NDArray[np.int64] = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        """JSON-able summary (without the lists)."""
        return {
            "model": self.model,
            "params": self.params,
            "metrics": self.metrics,
            "fit_seconds": round(self.fit_seconds, 4),
            "rank_seconds": round(self.rank_seconds, 4),
        }


def rank_users(
    model: Recommender,
    users: NDArray[np.int64],
    seen: Any,
    k: int = LIST_LENGTH,
    batch_size: int = 256,
    executor: Executor | None = None,
) -> NDArray[np.int64]:
    """Top-``k`` items for each user with their seen items excluded, in batches.

    A catalog with fewer than ``k`` items the user has not seen pads the list with -1: an
    excluded item must not count as recommended (a 5-item catalog scored HR@10 = 1 without).
    With an ``executor``, the batches are split into shards of whole batches, scored in
    parallel (the model and ``seen`` are shared once); without one, here.
    """
    batches = [users[start : start + batch_size] for start in range(0, len(users), batch_size)]
    job = _RankJob(model, seen, k)
    if executor is None or executor.workers <= 1 or len(batches) <= 1:
        return _rank_shard(job, batches)
    n_shards = min(len(batches), SHARDS_PER_WORKER * executor.workers)
    bounds = np.linspace(0, len(batches), n_shards + 1).astype(int)
    shards = [batches[lo:hi] for lo, hi in itertools.pairwise(bounds.tolist())]
    return np.concatenate(executor.map(_rank_shard, job, shards))


@dataclass(frozen=True)
class _RankJob:
    """What every evaluation shard reads."""

    model: Recommender
    seen: Any  # users x items CSR of the history
    k: int


def _rank_shard(job: _RankJob, batches: list[NDArray[np.int64]]) -> NDArray[np.int64]:
    """Ranked lists of the users of ``batches``, batch by batch (seen items excluded)."""
    lists = [np.zeros((0, min(job.k, job.seen.shape[1])), np.int64)]
    for batch in batches:
        items, scores = top_k(job.model.score(batch), job.k, exclude=job.seen[batch])
        items[np.isneginf(scores)] = -1
        lists.append(items)
    return np.concatenate(lists)


def list_metrics(
    top: NDArray[np.int64], targets: NDArray[np.int64], dataset: Dataset, item_users: NDArray[Any]
) -> dict[str, float]:
    """Accuracy at every cutoff plus coverage, diversity and novelty at 10."""
    ranks = metrics.target_ranks(top, targets)
    out: dict[str, float] = {}
    for k in CUTOFFS:
        out[f"hr@{k}"] = metrics.hit_rate_at_k(ranks, k)
        out[f"ndcg@{k}"] = metrics.ndcg_at_k(ranks, k)
        out[f"mrr@{k}"] = metrics.mrr_at_k(ranks, k)
    out["coverage@10"] = metrics.catalog_coverage(top, dataset.n_items, 10)
    out["diversity@10"] = metrics.intra_list_diversity(top, dataset.genre_matrix, 10)
    out["novelty@10"] = metrics.novelty(top, item_users, dataset.n_users, 10)
    return out


def evaluate_model(
    model: Recommender,
    dataset: Dataset,
    split: LeaveLastOut,
    which: SplitName,
    executor: Executor | None = None,
) -> ModelResult:
    """Fit ``model`` on what precedes ``which`` and score its top-20 lists for every target
    (in shards on ``executor``, if given; the fit stays here)."""
    history = split.history(which)
    users, targets = split.targets(which)
    t0 = time.perf_counter()
    model.fit(history)
    fit_s = time.perf_counter() - t0
    seen = history.to_csr()
    t0 = time.perf_counter()
    top = rank_users(model, users, seen, executor=executor)
    rank_s = time.perf_counter() - t0
    return ModelResult(
        model=model.name,
        params=_params(model),
        metrics=list_metrics(top, targets, dataset, history.item_counts()),
        fit_seconds=fit_s,
        rank_seconds=rank_s,
        users=users,
        top=top,
    )


def _params(model: Recommender) -> dict[str, Any]:
    return dict(asdict(model.config))


def evaluate(
    dataset: Dataset,
    models: Sequence[Recommender],
    which: SplitName = "test",
    on_result: Callable[[ModelResult], None] | None = None,
    executor: Executor | None = None,
) -> list[ModelResult]:
    """Run the leave-last-out protocol for each model on the same split (ranking users in
    shards on ``executor``, if given)."""
    split = leave_last_out(dataset.interactions)
    results = []
    for model in models:
        result = evaluate_model(model, dataset, split, which, executor)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def dump_recs(result: ModelResult, dataset: Dataset, directory: Path) -> Path:
    """Write ``<model>.tsv``: ``user_id<TAB>rank<TAB>item_id`` with raw ids, ranks 1..20
    (fewer where the catalog has fewer items the user has not seen)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{result.model}.tsv"
    user_ids = dataset.users.raw_ids
    item_ids = dataset.items.raw_ids
    with open(path, "w", encoding="utf-8") as f:
        for u, row in zip(result.users, result.top, strict=True):
            uid = user_ids[u]
            f.writelines(
                f"{uid}\t{r}\t{item_ids[i]}\n" for r, i in enumerate(row[row >= 0], start=1)
            )
    return path


def dump_targets(dataset: Dataset, which: SplitName, directory: Path) -> Path:
    """Write ``targets.tsv``: ``user_id<TAB>item_id``, the held-out item of every evaluated user."""
    users, targets = leave_last_out(dataset.interactions).targets(which)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "targets.tsv"
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(
            f"{dataset.users.raw(u)}\t{dataset.items.raw(i)}\n"
            for u, i in zip(users, targets, strict=True)
        )
    return path


COLUMNS = (
    ("hr@10", "HR@10"),
    ("ndcg@10", "NDCG@10"),
    ("mrr@10", "MRR@10"),
    ("hr@20", "HR@20"),
    ("ndcg@20", "NDCG@20"),
    ("mrr@20", "MRR@20"),
    ("coverage@10", "Cov@10"),
    ("diversity@10", "ILD@10"),
    ("novelty@10", "Nov@10"),
)


def format_table(results: Sequence[ModelResult]) -> str:
    """Markdown table: one row per model, metrics then fit and ranking seconds."""
    head = ["model", *(label for _, label in COLUMNS), "fit s", "rank s"]
    rows = [
        [
            r.model,
            *(f"{r.metrics[key]:.4f}" for key, _ in COLUMNS),
            f"{r.fit_seconds:.2f}",
            f"{r.rank_seconds:.2f}",
        ]
        for r in results
    ]
    return markdown_table(head, rows)
