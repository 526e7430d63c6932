from __future__ import annotations

import numpy as np

from liverec.core.types import EventType
from liverec.data.dataset import Dataset, Item
from liverec.data.idmap import IdMap
from liverec.data.interactions import Interactions
from liverec.events.schema import Event, LoggedEvent, LoggedItem
from liverec.features.cooccurrence import cooccurrence_counts
from liverec.features.online import OnlineState


def small_dataset() -> Dataset:
    # u0: 0 then 1; u1: 1 then 2
    it = Interactions.from_arrays([0, 0, 1, 1], [0, 1, 1, 2], [10, 20, 10, 30], n_items=3)
    items = IdMap(["a", "b", "c"], kind="item")
    catalog = tuple(Item(i, i.upper(), genres=("G",)) for i in items.raw_ids)
    return Dataset("small", IdMap(["x", "y"], kind="user"), items, it, catalog)


def state() -> OnlineState:
    d = small_dataset()
    return OnlineState(d, cooccurrence_counts(d.interactions.to_csr()), last_seq=0)


def click(seq: int, user: str, item: str, ts: float = 100.0) -> LoggedEvent:
    return LoggedEvent(seq, Event(user, item, EventType.CLICK, ts))


def test_an_event_is_the_newest_history_entry_and_counts() -> None:
    s = state()
    s.apply([click(1, "x", "c")])
    h = s.history(s.users.index("x"))
    assert h.items.tolist() == [0, 1, 2] and h.types.tolist()[-1] == EventType.CLICK
    assert h.event_count == 3
    assert sorted(s.seen(0).tolist()) == [0, 1, 2]
    assert s.has_live_events(0) and not s.has_live_events(1)


def test_a_first_interaction_updates_co_occurrence_but_a_repeat_does_not() -> None:
    s = state()
    before = s.cooccurrence.rows(np.array([2]))[0].tolist()  # c(2, .) = [0, 1, 0]
    s.apply([click(1, "x", "c"), click(2, "x", "c")])
    assert before == [0, 1, 0]
    assert s.cooccurrence.rows(np.array([2]))[0].tolist() == [1, 2, 0]
    assert s.cooccurrence.item_users.tolist() == [1, 2, 2]


def test_new_users_and_items_get_the_next_indices() -> None:
    s = state()
    s.apply([LoggedItem(1, Item("d", "D")), click(2, "z", "d", ts=60 * 86_400.0)])
    assert s.items.index("d") == 3 and s.users.index("z") == 2
    assert s.new_items == [3]
    assert s.history(2).items.tolist() == [3]
    assert s.trending.top(1).tolist() == [3]


def test_entries_already_applied_are_skipped() -> None:
    s = state()
    s.apply([click(1, "x", "c")])
    s.apply([click(1, "x", "c")])
    assert s.event_count(0) == 3 and s.applied_seq == 1


def test_history_limit_keeps_the_newest_events() -> None:
    s = state()
    s.apply([click(1, "x", "c"), click(2, "x", "a")])
    assert s.history(0, limit=2).items.tolist() == [2, 0]
    assert s.full_history(0).tolist() == [0, 1, 2, 0]


def test_recomputing_from_scratch_gives_the_same_state_as_incremental_updates() -> None:
    from liverec.features.online import OnlineConfig

    d = small_dataset()
    counts = cooccurrence_counts(d.interactions.to_csr())
    fast = OnlineState(d, counts, 0, similarity=(0.4, 1.0))
    slow = OnlineState(d, counts, 0, OnlineConfig(incremental=False), similarity=(0.4, 1.0))
    events = [click(1, "x", "c", 50.0), click(2, "y", "a", 60.0), click(3, "z", "b", 70.0)]
    for s in (fast, slow):
        for e in events:
            s.apply([e])
    items = np.arange(3)
    np.testing.assert_allclose(
        fast.cooccurrence.similarity_rows(items, 0.4, 1.0, 0),
        slow.cooccurrence.similarity_rows(items, 0.4, 1.0, 0),
        rtol=1e-6,
    )
    np.testing.assert_allclose(fast.trending.current(), slow.trending.current(), rtol=1e-9)
