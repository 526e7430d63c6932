"""User histories across the three tiers agree with a plain list per user."""

from __future__ import annotations

import numpy as np

from liverec.data.interactions import Interactions
from liverec.features.histories import UserHistories


def base() -> Interactions:
    # u0: items 0, 1 ; u1: 1, 2, 1 ; u2: nothing
    return Interactions.from_arrays(
        [0, 0, 1, 1, 1], [0, 1, 1, 2, 1], [10, 20, 10, 30, 40], n_users=3, n_items=5
    )


def test_live_events_follow_the_snapshots_and_count() -> None:
    h = UserHistories(base())
    h.append(0, 3, 50.0, 1)
    got = h.history(0, 10)
    assert got.items.tolist() == [0, 1, 3] and got.ts.tolist() == [10, 20, 50]
    assert got.types.tolist()[-1] == 1 and got.event_count == 3
    assert h.has_live_events(0) and not h.has_live_events(1)
    assert h.history(2, 10).event_count == 0 and h.history(2, 10).items.tolist() == []


def test_every_tier_combination_matches_a_list_per_user() -> None:
    rng = np.random.default_rng(0)
    h = UserHistories(base(), compact_every=7)  # compacts every 7 appended events
    oracle = {0: [0, 1], 1: [1, 2, 1], 2: []}
    for step in range(60):
        u = int(rng.integers(0, 5))  # users 3 and 4 are new
        item = int(rng.integers(0, 5))
        h.append(u, item, 100.0 + step, 0)
        oracle.setdefault(u, []).append(item)
        for v, items in oracle.items():
            for limit in (1, 3, 50):
                assert h.history(v, limit).items.tolist() == items[-limit:]
            assert h.event_count(v) == len(items)
            assert h.seen(v).tolist() == sorted(set(items))


def test_recent_distinct_items_are_newest_first_with_their_last_time() -> None:
    h = UserHistories(base())
    items, ts = h.recent_distinct(1, 5)
    assert items.tolist() == [1, 2] and ts.tolist() == [40, 30]
    assert h.recent_distinct(1, 1)[0].tolist() == [1]


def test_users_without_new_events_cost_no_object() -> None:
    h = UserHistories(base())
    for u in (0, 1, 2):
        h.history(u, 10)
        h.seen(u)
    h.append(1, 4, 99.0, 0)
    assert set(h._positions) == {1}  # only the user with a new event has an entry
