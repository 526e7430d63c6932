"""The whole live pipeline on the leave-last-out protocol: the lists the service would answer.

A snapshot is trained on exactly what a model may learn from before the split (for the test
split the validation item is part of it), served by a ``LiveService`` with an empty log, and
every evaluated user is asked for their top 20 through ``LiveService.recommend``: seen items
excluded, fused, ranked, re-ranked by MMR, as an HTTP client would get them. Time budgets are
lifted so that accuracy does not depend on the machine's load.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from liverec.data.dataset import Dataset
from liverec.data.split import SplitName, leave_last_out
from liverec.eval.offline import LIST_LENGTH, ModelResult, list_metrics
from liverec.serving.runtime import ServiceConfig
from liverec.serving.service import LiveService
from liverec.serving.training import TrainConfig, train_snapshot

NAME = "pipeline"  # what ``liverec evaluate --models`` calls it


def unhurried(config: ServiceConfig | None = None) -> ServiceConfig:
    """``config`` (default: the defaults) with every time budget lifted."""
    config = config or ServiceConfig()
    return config.model_copy(update={"pipeline": config.pipeline.without_budgets()})


def history_dataset(dataset: Dataset, which: SplitName) -> Dataset:
    """The dataset holding only what precedes ``which`` (same users, items and catalog)."""
    return replace(dataset, interactions=leave_last_out(dataset.interactions).history(which))


def service_lists(
    service: LiveService, dataset: Dataset, users: np.ndarray, k: int = LIST_LENGTH
) -> np.ndarray:
    """(len(users), k) item indices the service answers each user, -1 past a short list."""
    raw_users, items = dataset.users.raw_ids, dataset.items
    top = np.full((len(users), k), -1, np.int64)
    for row, u in enumerate(users.tolist()):
        answer = service.recommend(raw_users[u], k, explain=False)
        got = [items.index(r.item_id) for r in answer.items]
        top[row, : len(got)] = got
    return top


def evaluate_pipeline(
    dataset: Dataset,
    which: SplitName = "test",
    train_config: TrainConfig | None = None,
    service_config: ServiceConfig | None = None,
    *,
    models_dir: Path | None = None,
    workdir: Path | None = None,
    log: Callable[[str], None] = lambda _: None,
    progress: bool = False,
) -> list[ModelResult]:
    """Train a snapshot on the history of ``which`` and score the service's top-20 lists."""
    users, targets = leave_last_out(dataset.interactions).targets(which)
    history = history_dataset(dataset, which)
    train_config = train_config or TrainConfig()
    config = unhurried(service_config)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        t0 = time.perf_counter()
        snapshot = train_snapshot(
            history,
            [],
            Path(tmp) / "snapshots",
            train_config,
            log=log,
            models_dir=models_dir,
            progress=progress,
        )
        fit_s = time.perf_counter() - t0
        services = [(NAME, LiveService.open(snapshot, config=config))]
        results = []
        for name, service in services:
            t0 = time.perf_counter()
            top = service_lists(service, dataset, users)
            results.append(
                ModelResult(
                    model=name,
                    params={
                        "components": list(train_config.components),
                        "params": train_config.params,
                        "pipeline": service.config.pipeline.model_dump(exclude={"stage_budget_ms"}),
                    },
                    metrics=list_metrics(top, targets, dataset, history.interactions.item_counts()),
                    fit_seconds=fit_s,
                    rank_seconds=time.perf_counter() - t0,
                    users=users,
                    top=top,
                )
            )
    return results
