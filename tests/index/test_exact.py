"""Hand-computed answers from the exact index, the oracle of every other backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liverec.index import ExactIndex, recall_at_k

# Scores against the query (1, 0.5): ip 1.0, 0.5, 1.5, -1.0; cosine .894, .447, .949, -.894.
VECTORS = np.array([[1, 0], [0, 1], [1, 1], [-1, 0]], dtype=np.float32)
QUERY = np.array([1, 0.5], dtype=np.float32)


def test_inner_product_top_k_is_hand_computed() -> None:
    index = ExactIndex(2, "ip")
    index.add(VECTORS)
    ids, scores = index.search(QUERY, 3)
    assert ids.tolist() == [[2, 0, 1]]
    np.testing.assert_allclose(scores, [[1.5, 1.0, 0.5]])


def test_cosine_top_k_is_hand_computed() -> None:
    index = ExactIndex(2, "cosine")
    index.add(VECTORS * np.array([[3], [0.5], [2], [7]], dtype=np.float32))  # norms don't matter
    ids, scores = index.search(QUERY * 4, 4)
    assert ids.tolist() == [[2, 0, 1, 3]]
    q = QUERY / np.linalg.norm(QUERY)
    np.testing.assert_allclose(scores[0], [q @ [1, 1] / np.sqrt(2), q[0], q[1], -q[0]], rtol=1e-6)


def test_ties_are_broken_by_the_lower_id() -> None:
    index = ExactIndex(2)
    index.add(np.array([[1, 0], [1, 0], [0, 1], [1, 0]], np.float32), ids=np.array([5, 2, 0, 9]))
    assert index.search(np.array([1, 0], np.float32), 2)[0].tolist() == [[2, 5]]
    assert index.search(np.array([1, 0], np.float32), 4)[0].tolist() == [[2, 5, 9, 0]]


def test_several_queries_get_one_row_each() -> None:
    index = ExactIndex(2)
    index.add(VECTORS)
    ids, _ = index.search(np.array([[1, 0], [0, 1], [-1, 0]], np.float32), 1)
    assert ids.tolist() == [[0], [1], [3]]


def test_replacing_a_vector_overwrites_it_in_place() -> None:
    index = ExactIndex(2)
    index.add(VECTORS, ids=np.array([10, 11, 12, 13]))
    index.add(np.array([[5, 5]], np.float32), ids=np.array([13]))
    assert len(index) == 4
    ids, scores = index.search(QUERY, 2)
    assert ids.tolist() == [[13, 12]]
    np.testing.assert_allclose(scores, [[7.5, 1.5]])


def test_default_ids_continue_after_the_largest_id() -> None:
    index = ExactIndex(2)
    index.add(VECTORS[:2], ids=np.array([4, 7]))
    index.add(VECTORS[2:])
    assert sorted(index.search(QUERY, 4)[0][0].tolist()) == [4, 7, 8, 9]


def test_exclude_skips_ids_and_ignores_unknown_ones() -> None:
    index = ExactIndex(2)
    index.add(VECTORS)
    ids, _ = index.search(np.stack([QUERY, QUERY]), 2, exclude=[{2, 99}, set()])
    assert ids.tolist() == [[0, 1], [2, 0]]


def test_a_zero_vector_scores_zero_by_cosine_instead_of_nan() -> None:
    index = ExactIndex(2, "cosine")
    index.add(np.array([[0, 0], [1, 0]], np.float32))
    ids, scores = index.search(np.array([-1, 0], np.float32), 2)
    assert ids.tolist() == [[0, 1]]
    np.testing.assert_allclose(scores, [[0.0, -1.0]])


def test_adding_nothing_changes_nothing() -> None:
    index = ExactIndex(3)
    index.add(np.zeros((0, 3), np.float32), ids=[])
    assert len(index) == 0


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    index = ExactIndex(2, "cosine")
    index.add(VECTORS, ids=np.array([3, 1, 4, 5]))
    index.save(tmp_path)
    loaded = ExactIndex.load(tmp_path)
    assert loaded.metric == "cosine" and len(loaded) == 4
    np.testing.assert_array_equal(loaded.search(QUERY, 4)[0], index.search(QUERY, 4)[0])
    loaded.add(np.array([[1, 0.5]], np.float32))
    assert loaded.search(QUERY, 1)[0].tolist() == [[6]]


def test_recall_counts_exact_ids_found_ignoring_padding_and_order() -> None:
    assert recall_at_k([[3, 2, 1]], [[1, 2, 3]]) == 1.0
    assert recall_at_k([[1, 9, -1]], [[1, 2, -1]]) == 0.5
    assert recall_at_k(np.array([[1, 2], [5, 6]]), np.array([[1, 3], [7, 8]])) == 0.25
    with pytest.raises(ValueError, match="approx_ids has 1 rows, exact_ids 2"):
        recall_at_k([[1]], [[1], [2]])
