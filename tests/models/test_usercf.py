from __future__ import annotations

import numpy as np

from liverec.data.interactions import Interactions
from liverec.models.usercf import UserCF


def test_similarity_weighted_average_matches_hand_computation() -> None:
    # u0 {0,1}, u1 {0,1,2}, u2 {1,3}
    it = Interactions.from_arrays([0, 0, 1, 1, 1, 2, 2], [0, 1, 0, 1, 2, 1, 3], n_items=4)
    model = UserCF.from_params({"neighbours": 0}).fit(it)
    # cos(u0,u1) = 2/sqrt(6), cos(u0,u2) = 1/2; u0 is not its own neighbour
    s01, s02 = 2 / np.sqrt(6), 0.5
    expected = np.array([s01 + 0, s01 + s02, s01, s02]) / (s01 + s02)
    np.testing.assert_allclose(model.score(np.array([0]))[0], expected, rtol=1e-6)


def test_only_the_nearest_neighbours_vote() -> None:
    it = Interactions.from_arrays([0, 0, 1, 1, 1, 2, 2], [0, 1, 0, 1, 2, 1, 3], n_items=4)
    scores = UserCF.from_params({"neighbours": 1}).fit(it).score(np.array([0]))[0]
    assert scores[3] == 0 and scores[2] > 0  # u2 (who has item 3) is not the nearest
