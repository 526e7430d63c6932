"""Cold-start protocols: items nobody has interacted with, users with a handful of events.

``cold-items``: a random 10% of items lose all their interactions in training. For test
interactions that target those items, each method ranks the full catalog (the user's training
items excluded) and is scored on where the cold item lands.

``cold-users``: a random 20% of users are left out of training (more than the 10% of items:
one case per user, and 10% of ML-100K's users would be only 94 cases). Each is evaluated with only
their first 1, 3 and 5 events as history, predicting the event that came next.

Methods: random; popularity; content (the user's text profile against every item's text);
and the blended live pipeline (its cold users' events ingested through the service).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from liverec.core.markdown import markdown_table
from liverec.core.types import EventType
from liverec.data.dataset import Dataset
from liverec.eval import metrics
from liverec.eval.replay import replay_config
from liverec.events.schema import Event
from liverec.models.base import top_k
from liverec.serving.service import LiveService
from liverec.serving.training import TrainConfig, train_snapshot

METHODS = ("random", "popularity", "content", "pipeline")


@dataclass(frozen=True)
class ColdCase:
    """One prediction: a user's history (item indices, oldest first) and the item to find."""

    user: int
    history: NDArray[np.int64]
    target: int


@dataclass
class MethodScores:
    """HR@10 and NDCG@10 of one method on one set of cases."""

    method: str
    hr: float
    ndcg: float
    cases: int

    @property
    def hr_ci95(self) -> float:
        """Half-width of the normal-approximation 95% interval of the hit rate."""
        return 1.96 * float(np.sqrt(self.hr * (1 - self.hr) / max(1, self.cases)))

    def to_json(self) -> dict[str, Any]:
        """JSON-able figures."""
        return {
            "method": self.method,
            "hr@10": round(self.hr, 4),
            "hr@10_ci95": round(self.hr_ci95, 4),
            "ndcg@10": round(self.ndcg, 4),
            "cases": self.cases,
        }


def _restrict(dataset: Dataset, keep: NDArray[np.bool_]) -> Dataset:
    """The dataset with only the interaction rows in ``keep`` (ids and catalog unchanged)."""
    return Dataset(
        dataset.name,
        dataset.users,
        dataset.items,
        dataset.interactions.select(keep),
        dataset.catalog,
        dataset.user_attributes,
    )


def _scores(ranks: NDArray[np.int64], k: int) -> tuple[float, float]:
    return metrics.hit_rate_at_k(ranks, k), metrics.ndcg_at_k(ranks, k)


def _rank_lists(
    scores: NDArray[np.float32], cases: Sequence[ColdCase], k: int
) -> NDArray[np.int64]:
    """1-based rank of each case's target in its top-k (history excluded), 0 if absent."""
    n_items = scores.shape[1]
    ranks = np.zeros(len(cases), np.int64)
    for start in range(0, len(cases), 256):
        batch = cases[start : start + 256]
        s = scores[start : start + len(batch)].copy()
        for row, case in enumerate(batch):
            s[row, case.history[case.history < n_items]] = -np.inf
        top, _ = top_k(s, k)
        ranks[start : start + len(batch)] = metrics.target_ranks(top, [c.target for c in batch])
    return ranks


def baseline_scores(
    method: str,
    cases: Sequence[ColdCase],
    item_counts: NDArray[np.float32],
    vectors: NDArray[np.float32] | None,
    decay: float,
    seed: int = 0,
) -> NDArray[np.float32]:
    """Dense (cases x items) scores of the random, popularity and content methods."""
    n = len(item_counts)
    if method == "random":
        return np.random.default_rng(seed).random((len(cases), n)).astype(np.float32)
    if method == "popularity":
        return np.broadcast_to(item_counts.astype(np.float32), (len(cases), n)).copy()
    if method == "content":
        if vectors is None:
            raise ValueError("the content method needs item vectors")
        out = np.zeros((len(cases), n), np.float32)
        for row, case in enumerate(cases):
            recent = case.history[-50:]
            uniq, first = np.unique(recent[::-1], return_index=True)
            p = np.power(decay, first).astype(np.float32) @ vectors[uniq]
            norm = float(np.linalg.norm(p))
            if norm > 0:
                out[row] = vectors @ (p / norm)
        return out
    raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")


def _service(
    train: Dataset,
    workdir: Path,
    train_config: TrainConfig | None,
    models_dir: Path | None,
    explore: bool = False,
) -> LiveService:
    root = workdir / "snapshots"
    if explore:
        base = train_config or TrainConfig()
        params = {**base.params, "new": {"explore_uninteracted": True}}
        train_config = base.model_copy(update={"params": params})
    snap = train_snapshot(train, [], root, train_config, log=lambda *_: None, models_dir=models_dir)
    return LiveService.open(snap, config=replay_config())  # ids already are pseudonyms


def cold_items(
    dataset: Dataset,
    share: float = 0.1,
    max_cases: int = 3000,
    k: int = 10,
    seed: int = 0,
    train_config: TrainConfig | None = None,
    workdir: Path | None = None,
    log: Callable[[str], None] = lambda _: None,
    models_dir: Path | None = None,
) -> list[MethodScores]:
    """The cold-items protocol (see the module docstring)."""
    it = dataset.interactions
    rng = np.random.default_rng(seed)
    has_events = np.flatnonzero(it.item_counts() > 0)
    cold = rng.choice(has_events, round(share * len(has_events)), replace=False)
    is_cold = np.zeros(dataset.n_items, bool)
    is_cold[cold] = True
    train = _restrict(dataset, ~is_cold[it.iidx])
    histories = train.interactions.histories()
    test_rows = np.flatnonzero(is_cold[it.iidx])
    test_rows = test_rows[histories.lengths()[it.uidx[test_rows]] > 0]
    if len(test_rows) > max_cases:
        test_rows = np.sort(rng.choice(test_rows, max_cases, replace=False))
    cases = [
        ColdCase(int(it.uidx[r]), histories[int(it.uidx[r])], int(it.iidx[r])) for r in test_rows
    ]
    log(f"cold items: {len(cold)} items held out, {len(cases)} test interactions")
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        service = _service(train, Path(tmp), train_config, models_dir)
        results = _evaluate(dataset, train, cases, service, k, seed, ingest=False)
        # The same pipeline with its exploration place open to never-interacted items.
        explore = _service(train, Path(tmp) / "explore", train_config, models_dir, explore=True)
        extra = _evaluate(dataset, train, cases, explore, k, seed, ingest=False, only_pipeline=True)
        extra[0].method = "pipeline, exploring cold items"
        return results + extra


def cold_users(
    dataset: Dataset,
    history_sizes: Sequence[int] = (1, 3, 5),
    share: float = 0.2,
    k: int = 10,
    seed: int = 0,
    train_config: TrainConfig | None = None,
    workdir: Path | None = None,
    log: Callable[[str], None] = lambda _: None,
    models_dir: Path | None = None,
) -> dict[int, list[MethodScores]]:
    """The cold-users protocol (see the module docstring): results per history size."""
    it = dataset.interactions
    rng = np.random.default_rng(seed)
    counts = np.bincount(it.uidx, minlength=dataset.n_users)
    eligible = np.flatnonzero(counts > max(history_sizes))
    held = rng.choice(eligible, round(share * len(eligible)), replace=False)
    is_held = np.zeros(dataset.n_users, bool)
    is_held[held] = True
    train = _restrict(dataset, ~is_held[it.uidx])
    full = dataset.interactions.histories()
    log(f"cold users: {len(held)} users held out of training")
    out: dict[int, list[MethodScores]] = {}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        snapshot_service = _service(train, Path(tmp), train_config, models_dir)
        snapshot = snapshot_service.runtime.snapshot
        for n in history_sizes:
            cases = [ColdCase(int(u), full[int(u)][:n], int(full[int(u)][n])) for u in held]
            # a fresh service per size, so only the first n events of each user are known
            service = LiveService.open(snapshot, config=snapshot_service.config)
            out[n] = _evaluate(dataset, train, cases, service, k, seed, ingest=True)
    return out


def _evaluate(
    dataset: Dataset,
    train: Dataset,
    cases: Sequence[ColdCase],
    service: LiveService,
    k: int,
    seed: int,
    ingest: bool,
    only_pipeline: bool = False,
) -> list[MethodScores]:
    counts = train.interactions.item_counts().astype(np.float32)
    text = service.runtime.servables.get("text")
    vectors = None
    if text is not None and text.vectors is not None:
        vectors = text.vectors.rows(np.arange(train.n_items))
    decay = 0.75  # the content channel's default profile decay
    results = []
    for method in () if only_pipeline else ("random", "popularity", "content"):
        if method == "content" and vectors is None:
            continue
        scores = baseline_scores(method, cases, counts, vectors, decay, seed)
        hr, ndcg = _scores(_rank_lists(scores, cases, k), k)
        results.append(MethodScores(method, hr, ndcg, len(cases)))
    users, items = dataset.users.raw_ids, dataset.items.raw_ids
    if ingest:
        for case in cases:
            service.ingest(
                [
                    Event(users[case.user], items[i], EventType.VIEW, 1e9 + t)
                    for t, i in enumerate(case.history.tolist())
                ]
            )
    ranks = np.zeros(len(cases), np.int64)
    for row, case in enumerate(cases):
        shown = [x.item_id for x in service.recommend(users[case.user], k, explain=False).items]
        target = items[case.target]
        ranks[row] = shown.index(target) + 1 if target in shown else 0
    hr, ndcg = _scores(ranks, k)
    results.append(MethodScores("pipeline", hr, ndcg, len(cases)))
    return results


def format_cold(title: str, results: Sequence[MethodScores]) -> str:
    """Markdown table of one protocol run."""
    rows = [
        [r.method, f"{r.hr:.4f} ± {r.hr_ci95:.4f}", f"{r.ndcg:.4f}", str(r.cases)] for r in results
    ]
    return f"{title}\n\n" + markdown_table(["method", "HR@10 (95% CI)", "NDCG@10", "cases"], rows)
