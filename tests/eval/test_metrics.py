"""Hand-computed metric cases beyond the doctests in liverec.eval.metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liverec.eval import metrics


def test_hit_at_rank_two_and_the_cutoff_boundary() -> None:
    ranks = metrics.target_ranks([[4, 7, 1]], [7])
    assert ranks.tolist() == [2]
    assert metrics.ndcg_at_k(ranks, 10) == pytest.approx(1 / math.log2(3))
    assert metrics.mrr_at_k(ranks, 10) == 0.5
    assert metrics.hit_rate_at_k([10], 10) == 1.0 and metrics.hit_rate_at_k([11], 10) == 0.0
    assert metrics.ndcg_at_k([10], 10) == pytest.approx(1 / math.log2(11))


def test_all_misses_score_zero_everywhere() -> None:
    ranks = metrics.target_ranks([[1, 2], [3, 4]], [9, 9])
    for f in (metrics.hit_rate_at_k, metrics.ndcg_at_k, metrics.mrr_at_k):
        assert f(ranks, 10) == 0.0


def test_diversity_is_zero_for_identical_genres_and_one_for_disjoint() -> None:
    g = np.array([[1, 0], [1, 0], [0, 1]])
    assert metrics.intra_list_diversity([[0, 1]], g, k=2) == 0.0
    assert metrics.intra_list_diversity([[0, 2]], g, k=2) == 1.0
    # averaged over users
    assert metrics.intra_list_diversity([[0, 1], [0, 2]], g, k=2) == 0.5


def test_items_without_genres_count_as_identical_to_each_other() -> None:
    g = np.array([[0, 0], [0, 0], [1, 0]])
    assert metrics.intra_list_diversity([[0, 1]], g, k=2) == 0.0
    assert metrics.intra_list_diversity([[0, 2]], g, k=2) == 1.0


def test_coverage_counts_each_item_once_and_only_within_k() -> None:
    assert metrics.catalog_coverage([[0, 1, 5], [1, 0, 6]], n_items=10, k=2) == 0.2


def test_novelty_is_higher_for_rarer_items() -> None:
    counts = [99, 9, 0]
    common = metrics.novelty([[0]], counts, n_users=99, k=1)
    rare = metrics.novelty([[2]], counts, n_users=99, k=1)
    assert common == pytest.approx(0.0)
    assert rare == pytest.approx(math.log2(100))


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        metrics.ndcg_at_k([1], 0)
