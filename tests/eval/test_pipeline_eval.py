"""The live pipeline on the leave-last-out protocol: what the service answers, scored."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from liverec.data.dataset import Dataset
from liverec.data.split import leave_last_out
from liverec.eval.offline import dump_recs, dump_targets
from liverec.eval.pipeline import NAME, evaluate_pipeline
from liverec.serving.training import TrainConfig

QUICK = TrainConfig(components=("pop", "trending", "itemcf", "new"))
# measured: the module's snapshot and 943 answers take ~20 s on 2 cores
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def valid_results(ml100k: Dataset, models_dir: Path) -> list:  # type: ignore[type-arg]
    return evaluate_pipeline(ml100k, "valid", QUICK, models_dir=models_dir)


def test_the_pipeline_never_lists_what_the_user_has_seen(
    ml100k: Dataset,
    valid_results: list,  # type: ignore[type-arg]
) -> None:
    (result,) = valid_results  # no learned ranker: one result
    assert result.model == NAME
    split = leave_last_out(ml100k.interactions)
    seen = split.history("valid").to_csr()
    assert (result.top >= 0).all()  # ML-100K users have far more than 20 unseen items
    assert all(seen[u, result.top[row]].nnz == 0 for row, u in enumerate(result.users))
    assert all(len(set(row.tolist())) == 20 for row in result.top)


def test_the_pipelines_dumped_lists_recompute_to_its_metrics(
    ml100k: Dataset,
    valid_results: list,  # type: ignore[type-arg]
    tmp_path: Path,
) -> None:
    (result,) = valid_results
    dump_recs(result, ml100k, tmp_path)
    dump_targets(ml100k, "valid", tmp_path)
    lists: dict[str, dict[int, str]] = {}
    for line in (tmp_path / f"{NAME}.tsv").read_text().splitlines():
        user, rank, item = line.split("\t")
        lists.setdefault(user, {})[int(rank)] = item
    targets = dict(line.split("\t") for line in (tmp_path / "targets.tsv").read_text().splitlines())
    ndcg = hits = 0.0
    for user, target in targets.items():
        rank = next((r for r, i in lists[user].items() if i == target and r <= 10), None)
        if rank is not None:
            hits += 1
            ndcg += 1 / math.log2(rank + 1)
    assert hits / len(targets) == pytest.approx(result.metrics["hr@10"])
    assert ndcg / len(targets) == pytest.approx(result.metrics["ndcg@10"])
    assert result.metrics["ndcg@10"] > 0.08  # item-CF alone scores ~0.12 on validation
