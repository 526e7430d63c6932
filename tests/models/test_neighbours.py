"""Neighbour lists against a brute-force oracle: dense co-occurrence, top-k by sort."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liverec.data.interactions import Interactions
from liverec.models import neighbours as nb
from liverec.models.neighbours import NeighbourConfig, compute_neighbours, topk_per_row

DAY = 86_400.0


def random_log(seed: int, n_users: int = 60, n_items: int = 40, n: int = 900) -> Interactions:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n)
    items = (rng.zipf(1.5, n) - 1) % n_items
    ts = rng.random(n) * 90 * DAY
    return Interactions.from_arrays(users, items, ts, n_users=n_users, n_items=n_items)


def oracle(data: Interactions, cfg: NeighbourConfig) -> np.ndarray:
    """Dense similarity: each user's cap most recent distinct items, weights from their age."""
    ref = float(data.ts.max())
    x = np.zeros((data.n_users, data.n_items))
    for u in range(data.n_users):
        rows = np.flatnonzero(data.uidx == u)
        rows = rows[np.lexsort((rows, data.ts[rows]))]  # time order, ties in file order
        latest: dict[int, float] = {}
        for r in rows.tolist():
            latest.pop(int(data.iidx[r]), None)
            latest[int(data.iidx[r])] = float(data.ts[r])
        for item, t in list(latest.items())[-cfg.history_cap :]:
            age = ref - t
            hl = cfg.half_life_days
            x[u, item] = 2 ** (-age / (2 * hl * DAY)) if hl > 0 else 1.0
    c = x.T @ x
    n = np.diag(c).copy()
    denom = np.outer(n**cfg.alpha, n ** (1 - cfg.alpha)) + cfg.shrink
    sim = np.divide(c, denom, out=np.zeros_like(c), where=denom > 0)
    np.fill_diagonal(sim, 0.0)
    return sim


def assert_top_k(got: np.ndarray, full: np.ndarray, k: int) -> None:
    """Every row keeps min(k, positives) entries, all of them at least the k-th best value."""
    for row in range(full.shape[0]):
        positive = np.sort(full[row][full[row] > 0])[::-1]
        kept = np.flatnonzero(got[row])
        assert len(kept) == min(k, len(positive))
        if len(kept):
            np.testing.assert_allclose(got[row][kept], full[row][kept], rtol=1e-5)
            assert full[row][kept].min() >= positive[len(kept) - 1] - 1e-9


@pytest.mark.parametrize(
    "cfg",
    [
        NeighbourConfig(k=5, history_cap=1000, workers=1),
        NeighbourConfig(k=5, history_cap=3, workers=1),
        NeighbourConfig(k=8, history_cap=6, half_life_days=20.0, workers=1),
        NeighbourConfig(k=40, alpha=0.5, shrink=0.0, history_cap=1000, workers=1),
    ],
)
def test_lists_match_the_brute_force_oracle(cfg: NeighbourConfig) -> None:
    data = random_log(0)
    lists = compute_neighbours(data, cfg)
    assert_top_k(lists.similarity().toarray(), oracle(data, cfg), cfg.k)


def test_blocks_and_worker_processes_give_the_same_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    data = random_log(1)
    cfg = NeighbourConfig(k=6, history_cap=10, workers=1)
    one = compute_neighbours(data, cfg)
    monkeypatch.setattr(nb, "BLOCK_WORK", 50)  # dozens of small blocks
    many = compute_neighbours(data, NeighbourConfig(k=6, history_cap=10, workers=2))
    np.testing.assert_array_equal(one.indptr, many.indptr)
    a = one.similarity().toarray()
    np.testing.assert_allclose(a, many.similarity().toarray(), rtol=1e-6)


def test_lists_survive_save_and_load_by_memory_map(tmp_path: Path) -> None:
    lists = compute_neighbours(random_log(2), NeighbourConfig(k=4, workers=1))
    lists.save(tmp_path / "n")
    back = nb.NeighbourLists.load(tmp_path / "n")
    assert isinstance(back.neighbours.base, np.memmap)  # a view of the mapped file
    np.testing.assert_array_equal(back.similarity().toarray(), lists.similarity().toarray())
    assert back.config == lists.config and back.ref_time == lists.ref_time


def test_top_k_per_row_keeps_the_largest_of_each_row() -> None:
    rng = np.random.default_rng(3)
    lengths = rng.integers(0, 40, 50)
    indptr = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    values = rng.random(int(indptr[-1]))
    keep = topk_per_row(indptr, values, 7)
    for r in range(50):
        row = values[indptr[r] : indptr[r + 1]]
        kept = keep[indptr[r] : indptr[r + 1]]
        assert kept.sum() == min(7, len(row))
        assert set(np.flatnonzero(kept)) == set(np.argsort(-row)[:7])
