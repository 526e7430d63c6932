from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from liverec.data.dataset import Dataset
from liverec.data.interactions import Histories
from liverec.data.split import leave_last_out
from liverec.eval.offline import dump_recs, dump_targets, evaluate, evaluate_model
from liverec.models.itemcf import ItemCF
from liverec.models.popular import Popularity


class Oracle(Popularity):
    """Knows the answer: scores each user's held-out item highest (tests the harness)."""

    name: ClassVar[str] = "oracle"
    answers: ClassVar[dict[int, int]] = {}

    def score(self, users: np.ndarray) -> np.ndarray:  # type: ignore[override]
        s = np.zeros((len(users), self.n_items), np.float32)
        for row, u in enumerate(users):
            s[row, self.answers[int(u)]] = 1.0
        return s

    def score_histories(self, histories: Histories) -> np.ndarray:  # type: ignore[override]
        raise NotImplementedError


def test_a_perfect_model_scores_one_on_every_accuracy_metric(ml100k: Dataset) -> None:
    split = leave_last_out(ml100k.interactions)
    users, targets = split.targets("test")
    Oracle.answers = dict(zip(users.tolist(), targets.tolist(), strict=True))
    r = evaluate_model(Oracle(), ml100k, split, "test")
    assert r.metrics["hr@10"] == r.metrics["ndcg@10"] == r.metrics["mrr@20"] == 1.0


def test_seen_items_never_appear_in_the_ranked_lists(ml100k: Dataset) -> None:
    split = leave_last_out(ml100k.interactions)
    r = evaluate_model(Popularity(), ml100k, split, "test")
    seen = split.history("test").to_csr()
    assert all(seen[u, r.top[row]].nnz == 0 for row, u in enumerate(r.users))
    # the validation item is history for the test split
    vu, vi = split.targets("valid")
    valid_item = dict(zip(vu.tolist(), vi.tolist(), strict=True))
    assert all(valid_item[int(u)] not in r.top[row] for row, u in enumerate(r.users))


def test_dumped_lists_recompute_to_the_printed_metrics(ml100k: Dataset, tmp_path: Path) -> None:
    (result,) = evaluate(ml100k, [ItemCF()], "valid")
    dump_recs(result, ml100k, tmp_path)
    dump_targets(ml100k, "valid", tmp_path)
    # An independent recomputation from the text files only.
    lists: dict[str, dict[int, str]] = defaultdict(dict)
    for line in (tmp_path / "itemcf.tsv").read_text().splitlines():
        user, rank, item = line.split("\t")
        lists[user][int(rank)] = item
    targets = dict(line.split("\t") for line in (tmp_path / "targets.tsv").read_text().splitlines())
    assert set(lists) == set(targets) and all(
        sorted(v) == list(range(1, 21)) for v in lists.values()
    )
    hits10 = ndcg10 = 0.0
    for user, target in targets.items():
        rank = next((r for r, i in lists[user].items() if i == target), None)
        if rank is not None and rank <= 10:
            hits10 += 1
            ndcg10 += 1 / math.log2(rank + 1)
    assert hits10 / len(targets) == pytest.approx(result.metrics["hr@10"])
    assert ndcg10 / len(targets) == pytest.approx(result.metrics["ndcg@10"])


def test_item_cf_clears_the_accuracy_bar_on_ml100k_test(ml100k: Dataset) -> None:
    (pop, itemcf) = evaluate(ml100k, [Popularity(), ItemCF()], "test")
    assert itemcf.metrics["ndcg@10"] >= 0.070 and itemcf.metrics["hr@10"] >= 0.125
    assert itemcf.metrics["ndcg@10"] > 1.5 * pop.metrics["ndcg@10"]
