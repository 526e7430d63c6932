from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from liverec.features.cooccurrence import (
    Cooccurrence,
    DenseCooccurrence,
    SparseCooccurrence,
    cooccurrence_counts,
)
from liverec.models.itemcf import item_similarity

# users x items: u0 {0,1}, u1 {0,1,2}, u2 {1,2}
X = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=np.float32))
STORAGES = [DenseCooccurrence, SparseCooccurrence]


def make(cls: type[Cooccurrence]) -> Cooccurrence:
    return cls(cooccurrence_counts(X), np.asarray(X.sum(axis=0)).ravel())  # type: ignore[call-arg]


def test_counts_are_users_in_common_with_an_empty_diagonal() -> None:
    assert cooccurrence_counts(X).toarray().tolist() == [[0, 2, 1], [2, 0, 2], [1, 2, 0]]


@pytest.mark.parametrize("cls", STORAGES)
def test_live_similarity_equals_the_offline_item_cf_formula(cls: type[Cooccurrence]) -> None:
    c = make(cls)
    live = c.similarity_rows(np.arange(3), alpha=0.4, shrink=1.0, neighbours=2)
    offline = item_similarity(X, neighbours=2, alpha=0.4, shrink=1.0).toarray()
    np.testing.assert_allclose(live, offline, rtol=1e-6)


@pytest.mark.parametrize("cls", STORAGES)
def test_a_first_interaction_adds_one_to_each_pair_and_to_the_item(cls: type[Cooccurrence]) -> None:
    c = make(cls)
    c.add(2, np.array([0]))  # u0 now also has item 2
    assert c.rows(np.arange(3)).tolist() == [[0, 2, 2], [2, 0, 2], [2, 2, 0]]
    assert c.item_users.tolist() == [2, 3, 3]


@pytest.mark.parametrize("cls", STORAGES)
def test_new_items_grow_the_counts(cls: type[Cooccurrence]) -> None:
    c = make(cls)
    c.grow(5)
    c.add(4, np.array([0, 2]))
    rows = c.rows(np.array([4, 0]))
    assert rows.shape == (2, 5)
    assert rows[0].tolist() == [1, 0, 1, 0, 0] and rows[1, 4] == 1
    assert c.item_users.tolist() == [2, 3, 2, 0, 1]


def test_kept_similarity_after_a_batch_equals_a_full_recompute() -> None:
    rng = np.random.default_rng(3)
    x = sp.csr_matrix((rng.random((40, 30)) < 0.2).astype(np.float32))
    kept = DenseCooccurrence(cooccurrence_counts(x), np.asarray(x.sum(axis=0)).ravel(), (0.4, 2.0))
    dense = x.toarray()
    touched = []
    for u, i in [(0, 3), (0, 7), (5, 3), (9, 29), (9, 0)]:  # first interactions, one batch
        if dense[u, i]:
            continue
        kept.add(i, np.flatnonzero(dense[u]))
        dense[u, i] = 1
        touched.append(i)
    kept.refresh(np.array(touched))
    fresh = DenseCooccurrence(
        cooccurrence_counts(sp.csr_matrix(dense)), dense.sum(axis=0), (0.4, 2.0)
    )
    items = np.arange(30)
    np.testing.assert_allclose(
        kept.similarity_rows(items, 0.4, 2.0, 0),
        fresh.similarity_rows(items, 0.4, 2.0, 0),
        rtol=1e-6,
    )
