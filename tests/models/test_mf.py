from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares

from liverec.data.interactions import Histories, Interactions
from liverec.models.mf import ALS, fold_in


def test_fold_in_equals_implicits_recalculate_user(two_groups: Interactions) -> None:
    model = ALS.from_params({"factors": 8, "alpha": 2.0, "regularization": 0.1}).fit(two_groups)
    # implicit solves with conjugate gradient by default; the exact solver is the reference
    reference = AlternatingLeastSquares(factors=8, alpha=2.0, regularization=0.1, use_cg=False)
    reference.item_factors = model.item_factors
    reference.user_factors = model.user_factors
    history = [0, 1, 6]
    row = sp.csr_matrix((np.ones(3), ([0, 0, 0], history)), shape=(1, 10))
    expected = reference.recalculate_user(0, row)
    got = fold_in(model.item_factors, Histories.from_lists([history], 10), 2.0, 0.1)[0]
    np.testing.assert_allclose(got, np.asarray(expected).ravel(), rtol=1e-4, atol=1e-5)


def test_an_empty_history_folds_in_to_zero() -> None:
    y = np.eye(3, dtype=np.float32)
    assert fold_in(y, Histories.from_lists([[]], 3), 1.0, 0.1).tolist() == [[0.0, 0.0, 0.0]]


def test_als_training_reports_each_iteration(two_groups: Interactions) -> None:
    calls: list[tuple[int, int]] = []
    model = ALS.from_params({"factors": 4, "iterations": 3})
    model.n_items = two_groups.n_items
    model._fit(two_groups, lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
