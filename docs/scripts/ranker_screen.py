"""Screen ranker heads offline, on candidate features the live pipeline proposed.

    git apply docs/scripts/ranker_screen_dump.patch      # a local patch, not kept
    LIVEREC_DUMP_EXAMPLES=/tmp/ex.npz LIVEREC_DUMP_REQUESTS=/tmp/req.pkl \\
      liverec evaluate --dataset ml-100k --models pipeline --pipeline-models ranker \\
        --split valid --param ranker.hard_negatives=300 --param ranker.negatives=0
    git apply -R docs/scripts/ranker_screen_dump.patch
    python docs/scripts/ranker_screen.py /tmp/ex.npz /tmp/req.pkl

The patch saves what the snapshot's ranker was trained on (every one of the 300 candidates of
each walked request: ``hard_negatives=300``) and, during the evaluation, the 300 candidates'
features for each validation user. Each head variant below is fitted as the component fits
it (earlier groups cut to the chosen item and 100 sampled candidates; boosting stopped on the
later groups cut alike) at three seeds, then scored two ways, before MMR:
- "later": NDCG@10 / HR@10 over the later 25% of walked requests, all candidates kept (the
  streaming next-event task, as in the replay), only requests whose chosen item was proposed;
- "valid": NDCG@10 / HR@10 over the 943 validation users' leave-one-out items (0 where the
  item was not among the 300).
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from liverec.data.sources import load_dataset
from liverec.data.split import leave_last_out
from liverec.models.ranker.examples import ExampleSpec, RankingExamples
from liverec.models.ranker.trees import TreeEnsemble

ADDED = ("popularity_gap", "year", "year_gap")  # the features added in this screening
VARIANTS: dict[str, dict[str, Any]] = {
    "lambdarank, lr 0.03 (before)": {"objective": "lambdarank", "drop": ADDED},
    "lambdarank, lr 0.03, added features": {"objective": "lambdarank"},
    "binary, lr 0.03, before's features": {"objective": "binary", "drop": ADDED},
    "binary, lr 0.03, added features": {"objective": "binary"},
    "binary, lr 0.1, added features (kept)": {"objective": "binary", "learning_rate": 0.1},
    "binary, lr 0.1, depth 4, added features": {
        "objective": "binary",
        "learning_rate": 0.1,
        "max_depth": 4,
    },
}
STOP = {"lambdarank": ("ndcg", 30), "binary": ("binary_logloss", 50)}


def load(examples_path: str, requests_path: str) -> tuple[RankingExamples, RankingExamples]:
    z = np.load(examples_path)
    names = tuple(z["names"].tolist())
    examples = RankingExamples(
        z["features"], z["labels"], z["groups"], names, int(z["requests"]), int(z["whole_from"])
    )
    dumped = pickle.load(open(requests_path, "rb"))  # noqa: SIM115 - a scratch script
    columns = [list(dumped[0]).index(n) for n in names]
    data = load_dataset("ml-100k", Path.home() / ".cache/liverec")
    users, targets = leave_last_out(data.interactions).targets("valid")
    target = dict(zip(users.tolist(), targets.tolist(), strict=True))
    blocks, labels, groups = [], [], []
    for uidx, items, matrix in dumped[1:]:
        blocks.append(matrix[:, columns])
        labels.append((items == target[uidx]).astype(np.int8))
        groups.append(len(items))
    valid = RankingExamples(
        np.concatenate(blocks), np.concatenate(labels), np.array(groups), names, len(groups)
    )
    return examples, valid


def ndcg_hr(scores: np.ndarray, ex: RankingExamples, k: int = 10) -> tuple[float, float]:
    """Over every group; ties keep row (fused) order, as served."""
    ndcg = hits = 0.0
    start = 0
    for size in ex.groups.tolist():
        s, at = scores[start : start + size], np.flatnonzero(ex.labels[start : start + size])
        if len(at):
            p = s[at[0]]
            rank = 1 + int((s > p).sum()) + int((s[: at[0]] == p).sum())
            ndcg += 1 / np.log2(rank + 1) if rank <= k else 0.0
            hits += rank <= k
        start += size
    return ndcg / len(ex.groups), hits / len(ex.groups)


def fit(train: RankingExamples, later: RankingExamples, seed: int, variant: dict[str, Any]):
    variant = dict(variant)
    drop = variant.pop("drop", ())
    keep = [j for j, n in enumerate(train.names) if n not in drop]
    objective = variant.pop("objective")
    metric, patience = STOP[objective]
    spec = ExampleSpec(0.2, 0, 20_000, 0, 100, 300, seed, whole_share=0.25)
    cut, stop = train.sampled(spec), later.sampled(spec)
    params = {"objective": objective, "metric": metric, "eval_at": [10], "verbosity": -1}
    params |= {"num_leaves": 15, "min_data_in_leaf": 200, "learning_rate": 0.03, "seed": seed}
    params |= {"deterministic": True, "num_threads": 2, **variant}
    train_set = lgb.Dataset(cut.features[:, keep], cut.labels, group=cut.groups)
    stop_set = lgb.Dataset(stop.features[:, keep], stop.labels, group=stop.groups)
    booster = lgb.train(
        params, train_set, 1000, valid_sets=[stop_set],
        callbacks=[lgb.early_stopping(patience, verbose=False)],
    )  # fmt: skip
    return booster, keep


def main(examples_path: str, requests_path: str) -> None:
    examples, valid = load(examples_path, requests_path)
    train, later = examples.split(0.25)
    fused = examples.names.index("fused_score")
    found = int(valid.labels.sum())
    print(f"later groups: {len(later.groups)}; validation users: {len(valid.groups)}, "
          f"{found} with their item among the candidates")  # fmt: skip
    print("| variant | seed | trees | levels | later NDCG@10 / HR@10 | valid NDCG@10 / HR@10 |")
    print("|---|---:|---:|---:|---:|---:|")
    a, b = ndcg_hr(later.features[:, fused], later), ndcg_hr(valid.features[:, fused], valid)
    print(f"| fusion | - | - | - | {a[0]:.4f} / {a[1]:.4f} | {b[0]:.4f} / {b[1]:.4f} |")
    for name, variant in VARIANTS.items():
        for seed in range(3):
            booster, keep = fit(train, later, seed, variant)
            best = booster.best_iteration
            levels = int(TreeEnsemble.from_dump(booster.dump_model(num_iteration=best)).depth.sum())
            a = ndcg_hr(booster.predict(later.features[:, keep], num_iteration=best), later)
            b = ndcg_hr(booster.predict(valid.features[:, keep], num_iteration=best), valid)
            print(
                f"| {name} | {seed} | {best} | {levels} | {a[0]:.4f} / {a[1]:.4f} "
                f"| {b[0]:.4f} / {b[1]:.4f} |",
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
