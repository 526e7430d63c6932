from __future__ import annotations

import numpy as np
import pytest

from liverec.features.trending import Trending

DAY = 86_400.0


def test_an_event_one_half_life_older_weighs_half() -> None:
    t = Trending(3, half_life=7 * DAY)
    t.add(np.array([0]), np.array([0.0]))
    t.add(np.array([1]), np.array([7 * DAY]))
    assert t.current()[0] == pytest.approx(0.5)
    assert t.current()[1] == pytest.approx(1.0)
    assert t.top(3).tolist() == [1, 0]


def test_decades_old_and_current_timestamps_stay_finite() -> None:
    t = Trending(2, half_life=DAY)
    t.add(np.array([0, 0]), np.array([881_250_949.0, 881_250_949.0]))  # 1997
    t.add(np.array([1]), np.array([1_795_000_000.0]))  # 2026
    assert np.isfinite(t.current()).all()
    assert t.top(2).tolist() == [1]  # the 1997 events decayed to nothing


def test_excluded_items_are_not_trending_and_half_life_must_be_positive() -> None:
    t = Trending(3, half_life=DAY)
    t.add(np.array([0, 1, 1]), np.array([0.0, 0.0, 0.0]))
    assert t.top(3, exclude=np.array([1])).tolist() == [0]
    with pytest.raises(ValueError, match="half_life must be > 0"):
        Trending(1, half_life=0)
