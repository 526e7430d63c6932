from __future__ import annotations

import numpy as np
import pytest

from liverec.features.trending import Trending

DAY = 86_400.0


def test_an_event_one_half_life_older_weighs_half() -> None:
    t = Trending(3, half_life=7 * DAY)
    t.add(np.array([0]), np.array([0.0]))
    t.add(np.array([1]), np.array([7 * DAY]))
    assert t.current(np.array([0, 1])).tolist() == pytest.approx([0.5, 1.0])
    assert t.ranking().tolist() == [1, 0]


def test_decades_old_and_current_timestamps_stay_finite() -> None:
    t = Trending(2, half_life=DAY)
    t.add(np.array([0, 0]), np.array([881_250_949.0, 881_250_949.0]))  # 1997
    t.add(np.array([1]), np.array([1_795_000_000.0]))  # 2026
    assert np.isfinite(t.scores).all()
    assert t.ranking().tolist() == [1]  # the 1997 events decayed to nothing


def test_the_incrementally_kept_top_list_equals_a_full_sort() -> None:
    rng = np.random.default_rng(0)
    t = Trending(500, half_life=3 * DAY, depth=20)
    clock = 0.0
    for _ in range(200):
        clock += rng.exponential(DAY / 4)
        items = rng.zipf(1.3, size=rng.integers(1, 30)) % 500
        t.add(items.astype(np.int64), clock + rng.random(len(items)))
        s = t.scores
        positive = np.flatnonzero(s > 0)
        oracle = positive[np.lexsort((positive, -s[positive]))][:20]
        assert t.ranking().tolist() == oracle.tolist()


def test_a_bulk_load_ranks_like_event_by_event_adds() -> None:
    rng = np.random.default_rng(1)
    items = rng.integers(0, 300, 200_001).astype(np.int64)
    ts = np.sort(rng.random(len(items)) * 30 * DAY)
    bulk, stepwise = Trending(300, DAY, depth=50), Trending(300, DAY, depth=50)
    bulk.add(items, ts)  # above 100k events: one bincount, then a full ranking
    for start in range(0, len(items), 50_000):
        stepwise.add(items[start : start + 50_000], ts[start : start + 50_000])
    np.testing.assert_allclose(bulk.current(np.arange(300)), stepwise.current(np.arange(300)))
    assert bulk.ranking().tolist() == stepwise.ranking().tolist()


def test_half_life_must_be_positive() -> None:
    with pytest.raises(ValueError, match="half_life must be > 0"):
        Trending(1, half_life=0)
