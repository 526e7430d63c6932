from __future__ import annotations

import numpy as np
import pytest

from liverec.data.interactions import Histories, Interactions


def test_histories_are_time_ordered_with_ties_in_file_order() -> None:
    it = Interactions.from_arrays([1, 0, 0, 0], [3, 2, 0, 1], [9.0, 5.0, 5.0, 1.0], n_items=4)
    h = it.histories()
    assert h[0].tolist() == [1, 2, 0]  # t=1, then the two t=5 rows in file order
    assert h[1].tolist() == [3]
    assert h.lengths().tolist() == [3, 1]


def test_binary_matrix_counts_a_repeated_pair_once() -> None:
    it = Interactions.from_arrays([0, 0, 1], [2, 2, 0], n_items=3)
    m = it.to_csr()
    assert m.toarray().tolist() == [[0, 0, 1], [1, 0, 0]]
    assert it.item_counts().tolist() == [1, 0, 1]


def test_recency_weights_decay_from_the_newest_item() -> None:
    h = Histories.from_lists([[0, 1, 2]], n_items=4)
    w = h.to_csr(recency_decay=0.5).toarray()[0]
    assert w.tolist() == [0.25, 0.5, 1.0, 0.0]


def test_a_repeated_item_keeps_its_most_recent_weight() -> None:
    h = Histories.from_lists([[0, 1, 0]], n_items=2)
    assert h.to_csr(recency_decay=0.5).toarray()[0].tolist() == [1.0, 0.5]


def test_take_selects_histories_in_the_requested_order() -> None:
    h = Histories.from_lists([[0], [1, 2], []], n_items=3)
    t = h.take(np.array([2, 1, 0]))
    assert [t[i].tolist() for i in range(3)] == [[], [1, 2], [0]]


def test_indices_outside_the_declared_shape_are_rejected() -> None:
    with pytest.raises(ValueError, match="exceed the declared shape"):
        Interactions.from_arrays([0, 1], [0, 5], n_users=2, n_items=3)
