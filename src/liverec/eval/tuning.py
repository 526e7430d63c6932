"""Hyperparameter search on the validation split (never on test)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from liverec.data.dataset import Dataset
from liverec.data.split import leave_last_out
from liverec.eval.offline import ModelResult, evaluate_model
from liverec.models.registry import SEARCH_SPACES, model_class


@dataclass(frozen=True)
class Trial:
    """One configuration and its validation result."""

    params: dict[str, Any]
    result: ModelResult


def grid(space: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the values in ``space``.

    >>> grid({"a": [1, 2], "b": ["x"]})
    [{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'x'}]
    """
    keys = list(space)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*space.values())]


def search(
    dataset: Dataset,
    model: str,
    max_trials: int = 40,
    seed: int = 0,
    metric: str = "ndcg@10",
    on_trial: Callable[[Trial], None] | None = None,
) -> list[Trial]:
    """Evaluate up to ``max_trials`` configs (a random subset of the grid) on validation."""
    candidates = grid(SEARCH_SPACES.get(model, {}))
    if len(candidates) > max_trials:
        candidates = random.Random(seed).sample(candidates, max_trials)
    split = leave_last_out(dataset.interactions)
    cls = model_class(model)
    trials = []
    for params in candidates:
        result = evaluate_model(cls.from_params(params), dataset, split, "valid")
        trial = Trial(params, result)
        trials.append(trial)
        if on_trial is not None:
            on_trial(trial)
    return sorted(trials, key=lambda t: -t.result.metrics[metric])
