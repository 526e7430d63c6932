"""The ranker heads learn known ranking rules from candidate groups, and keep them on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liverec.models.ranker.component import FUSED_SCORE, RankerConfig, fit_heads
from liverec.models.ranker.examples import RankingExamples, group_ndcg
from liverec.models.ranker.heads import (
    BoostedTreesHead,
    LogisticHead,
    load_head,
    save_head,
    validation_ndcg,
)

NAMES = ("signal", "noise", FUSED_SCORE)


def planted(groups: int, size: int, seed: int, band: bool = False) -> RankingExamples:
    """Groups whose chosen item is the one with the largest ``signal`` (or, with ``band``, the
    one whose signal is nearest 0.5, a rule no linear score can express); ``fused_score`` is
    noise, ``noise`` too, and a tenth of the noise column is missing."""
    rng = np.random.default_rng(seed)
    x = rng.random((groups * size, 3)).astype(np.float32)
    x[rng.random(len(x)) < 0.1, 1] = np.nan
    labels = np.zeros(len(x), np.int8)
    for g in range(groups):
        rows = slice(g * size, (g + 1) * size)
        target = -np.abs(x[rows, 0] - 0.5) if band else x[rows, 0]
        labels[g * size + int(np.argmax(target))] = 1
    return RankingExamples(x, labels, np.full(groups, size, np.int64), NAMES, groups)


def test_group_ndcg_is_one_for_the_oracle_order_and_low_for_the_reverse() -> None:
    ex = planted(200, 20, seed=1)
    assert group_ndcg(ex.features[:, 0], ex) == pytest.approx(1.0)
    assert group_ndcg(-ex.features[:, 0], ex) == 0.0  # the chosen item is always last of 20


@pytest.mark.parametrize("objective", ["lambdarank", "binary"])
def test_both_heads_learn_a_monotone_rule_and_not_the_noise(objective: str) -> None:
    train, valid = planted(400, 20, seed=2), planted(200, 20, seed=3)
    params = {"min_data_in_leaf": 20, "seed": 0}
    lgbm = BoostedTreesHead.fit(train, valid, params, rounds=100, objective=objective)
    logistic = LogisticHead.fit(train, l2=1e-4, seed=0)
    assert validation_ndcg(lgbm, valid) > 0.9  # ties (one leaf, many rows) keep fused order
    assert validation_ndcg(logistic, valid) > 0.95
    shuffled = planted(400, 20, seed=2)
    np.random.default_rng(0).shuffle(shuffled.labels)  # labels that no longer follow the signal
    assert validation_ndcg(LogisticHead.fit(shuffled, 1e-4, 0), valid) < 0.6


def test_auto_keeps_the_trees_when_the_rule_is_not_linear() -> None:
    examples = planted(600, 20, seed=4, band=True)
    head, facts = fit_heads(examples, RankerConfig(min_data_in_leaf=20, rounds=200))
    assert facts["head"] == "lightgbm" == head.kind
    heads = facts["heads"]
    assert heads["lightgbm"]["valid_ndcg@10"] > 0.9 > heads["logistic"]["valid_ndcg@10"]
    assert facts["valid_ndcg@10"] == heads["lightgbm"]["valid_ndcg@10"]
    assert facts["valid_ndcg@10_fusion"] < 0.5  # the fused score is noise here
    assert next(iter(facts["importance"])) == "signal"
    assert facts["train_groups"] + facts["valid_groups"] == 600


@pytest.mark.parametrize("kind", ["lightgbm", "logistic"])
def test_a_saved_head_scores_exactly_as_before(kind: str, tmp_path: Path) -> None:
    train, valid = planted(200, 10, seed=5), planted(50, 10, seed=6)
    head = (
        BoostedTreesHead.fit(train, valid, {"min_data_in_leaf": 10}, rounds=30)
        if kind == "lightgbm"
        else LogisticHead.fit(train, 1e-4, 0)
    )
    save_head(head, tmp_path / "ranker")
    loaded = load_head(tmp_path / "ranker")
    assert loaded.kind == kind
    np.testing.assert_allclose(loaded.score(valid.features), head.score(valid.features), rtol=1e-6)


def test_examples_split_by_time_and_refuse_inconsistent_shapes() -> None:
    ex = planted(10, 4, seed=7)
    early, late = ex.split(0.3)
    assert (len(early.groups), len(late.groups)) == (7, 3)
    np.testing.assert_array_equal(late.features, ex.features[28:])
    with pytest.raises(ValueError, match="do not add up"):
        RankingExamples(ex.features, ex.labels, ex.groups[:-1], NAMES, 10)
    with pytest.raises(ValueError, match="do not match"):
        RankingExamples(ex.features[:, :2], ex.labels, ex.groups, NAMES, 10)


@pytest.mark.parametrize("objective", ["lambdarank", "binary"])
def test_the_compiled_trees_score_exactly_as_lightgbm_with_missing_values_and_zeros(
    objective: str,
) -> None:
    rng = np.random.default_rng(8)
    train = planted(300, 20, seed=8)
    x = train.features.copy()
    x[rng.random(x.shape) < 0.2] = 0.0  # zeros take LightGBM's "Zero" missing branch
    train = RankingExamples(x, train.labels, train.groups, NAMES, 300)
    head = BoostedTreesHead.fit(
        train, planted(50, 20, seed=9), {"min_data_in_leaf": 5}, 80, objective, patience=80
    )
    probe = rng.normal(0.5, 0.5, (2000, 3)).astype(np.float32)
    probe[rng.random(probe.shape) < 0.15] = np.nan
    probe[rng.random(probe.shape) < 0.15] = 0.0
    best = head.booster.best_iteration or None
    expected = head.booster.predict(probe, num_iteration=best, raw_score=True)
    np.testing.assert_allclose(head.score(probe), expected, rtol=1e-5, atol=1e-6)


def test_examples_without_some_features_keep_the_rest_in_order() -> None:
    features = np.arange(12, dtype=np.float32).reshape(4, 3)
    examples = RankingExamples(
        features, np.array([1, 0, 0, 1], np.int8), np.array([2, 2]), ("a", "b", "c"), 2
    )
    kept = examples.without(("b", "nowhere"))
    assert kept.names == ("a", "c")
    np.testing.assert_array_equal(kept.features, features[:, [0, 2]])
    np.testing.assert_array_equal(kept.labels, examples.labels)


def test_sampled_groups_keep_the_chosen_row_and_the_asked_negatives() -> None:
    from liverec.models.ranker.examples import ExampleSpec

    whole = planted(30, 20, seed=5)
    cut = whole.sampled(
        ExampleSpec(0.2, 0, 10, hard_negatives=2, negatives=3, candidates=20, seed=0)
    )
    chosen_at = np.flatnonzero(whole.labels) % 20
    assert cut.groups.tolist() == (5 + (chosen_at >= 2)).tolist()  # 2 best, 3 sampled, chosen
    assert cut.labels.sum() == 30  # every group keeps its chosen row
    offsets = np.concatenate([[0], np.cumsum(cut.groups)])
    first_rows = cut.features[offsets[:-1]]
    np.testing.assert_array_equal(first_rows, whole.features[np.arange(30) * 20])  # hard: row 0
