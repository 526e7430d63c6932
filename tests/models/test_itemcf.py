from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from liverec.data.interactions import Histories, Interactions
from liverec.models.itemcf import ItemCF
from liverec.models.neighbours import NeighbourConfig, compute_neighbours

# users x items: u0 {0,1}, u1 {0,1,2}, u2 {1,2}
X = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=np.float32))


def item_similarity(
    matrix: sp.csr_matrix, neighbours: int, alpha: float = 0.5, shrink: float = 0.0
) -> sp.csr_matrix:
    coo = matrix.tocoo()
    data = Interactions.from_arrays(coo.row, coo.col, n_users=3, n_items=3)
    cfg = NeighbourConfig(k=neighbours, alpha=alpha, shrink=shrink, workers=1)
    return compute_neighbours(data, cfg).similarity()


def test_cosine_similarity_matches_hand_computation() -> None:
    # c(0,1) = 2, n0 = 2, n1 = 3 -> 2/sqrt(6); c(0,2) = 1, n2 = 2 -> 1/2; c(1,2) = 2 -> 2/sqrt(6)
    s = item_similarity(X, neighbours=2).toarray()
    expected = np.array(
        [[0, 2 / np.sqrt(6), 0.5], [2 / np.sqrt(6), 0, 2 / np.sqrt(6)], [0.5, 2 / np.sqrt(6), 0]]
    )
    np.testing.assert_allclose(s, expected, rtol=1e-6)


def test_top_n_pruning_keeps_only_the_best_neighbours() -> None:
    s = item_similarity(X, neighbours=1).toarray()
    assert (s > 0).sum(axis=1).tolist() == [1, 1, 1]
    assert s[0].argmax() == 1


def test_asymmetric_alpha_and_shrink() -> None:
    # alpha=1: c(j,i) / n_j ; shrink adds to the denominator
    s = item_similarity(X, neighbours=2, alpha=1.0, shrink=1.0).toarray()
    assert np.isclose(s[0, 1], 2 / (2 + 1)) and np.isclose(s[1, 0], 2 / (3 + 1))


def test_recent_history_items_weigh_more() -> None:
    it = Interactions.from_arrays([0, 0, 1, 1, 2, 2], [0, 1, 1, 2, 0, 3], n_items=4)
    model = ItemCF.from_params({"neighbours": 3, "recency_decay": 0.5}).fit(it)
    sim = model.similarity.toarray()
    scores = model.score_histories(Histories.from_lists([[0, 2]], n_items=4))[0]
    np.testing.assert_allclose(scores, 0.5 * sim[0] + 1.0 * sim[2], rtol=1e-6)
