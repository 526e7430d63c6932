"""The online state: events and items applied in log order, statistics kept current."""

from __future__ import annotations

import numpy as np

from liverec.core.types import EventType
from liverec.data.catalog import Catalog, Item
from liverec.data.dataset import Dataset
from liverec.data.idmap import IdMap
from liverec.data.interactions import Interactions
from liverec.events.schema import Event, LoggedEvent, LoggedItem
from liverec.features.itemstats import PairWeighting
from liverec.features.online import LiveState
from liverec.models.itemcf import ItemCFChannel, ItemCFConfig
from liverec.models.neighbours import NeighbourConfig, compute_neighbours

ALL = NeighbourConfig(k=1000, alpha=0.4, shrink=1.0, history_cap=1000)


def small_dataset(n_users: int = 2) -> Dataset:
    # u0: 0 then 1; u1: 1 then 2
    it = Interactions.from_arrays(
        [0, 0, 1, 1], [0, 1, 1, 2], [10, 20, 10, 30], n_users=n_users, n_items=3
    )
    items = IdMap(["a", "b", "c"], kind="item")
    catalog = Catalog.from_items(Item(i, i.upper(), genres=("G",)) for i in items.raw_ids)
    users = IdMap(["x", "y", "z"][:n_users], kind="user")
    return Dataset("small", users, items, it, catalog)


def click(seq: int, user: str, item: str, ts: float = 100.0) -> LoggedEvent:
    return LoggedEvent(seq, Event(user, item, EventType.CLICK, ts))


def test_an_event_is_the_newest_history_entry_and_counts() -> None:
    s = LiveState(small_dataset(), last_seq=0)
    s.apply([click(1, "x", "c")])
    h = s.histories.history(s.users.index("x"), 50)
    assert h.items.tolist() == [0, 1, 2] and h.types.tolist()[-1] == EventType.CLICK
    assert h.event_count == 3
    assert s.histories.seen(0).tolist() == [0, 1, 2]


def test_new_users_and_items_get_the_next_indices() -> None:
    s = LiveState(small_dataset(), last_seq=0)
    s.apply([LoggedItem(1, Item("d", "D")), click(2, "z", "d", ts=60 * 86_400.0)])
    assert s.catalog.ids.index("d") == 3 and s.users.index("z") == 2
    assert s.catalog.added().tolist() == [3]
    assert s.histories.history(2, 10).items.tolist() == [3]
    assert s.stats.trending_items()[0] == 3


def test_entries_already_applied_are_skipped() -> None:
    s = LiveState(small_dataset(), last_seq=0)
    s.apply([click(1, "x", "c")])
    s.apply([click(1, "x", "c")])
    assert s.histories.event_count(0) == 3 and s.applied_seq == 1


def test_an_upserted_item_reaches_every_item_hook_once() -> None:
    seen: list[list[int]] = []
    s = LiveState(small_dataset(), 0, item_hooks=[lambda items: seen.append([i for i, _ in items])])
    s.apply([LoggedItem(1, Item("d", "D")), LoggedItem(2, Item("a", "A2")), click(3, "x", "d")])
    assert seen == [[0, 3]]
    assert s.catalog.item(0).title == "A2"


def test_live_co_occurrence_equals_a_recompute_on_all_events() -> None:
    """Pair increments on top of the snapshot's lists give the similarities that neighbour
    lists computed from scratch on every event give (histories shorter than the window)."""
    base = small_dataset()
    lists = compute_neighbours(base.interactions, ALL)
    state = LiveState(base, 0, base_item_weight=np.asarray(lists.item_weight))
    state.stats.track_pairs(PairWeighting(lists.ref_time, 0.0), np.asarray(lists.item_weight))
    config = ItemCFConfig(alpha=ALL.alpha, shrink=ALL.shrink)
    channel = ItemCFChannel(lists, state.stats, config, window=50)
    events = [click(1, "x", "c", 50), click(2, "y", "a", 60), click(3, "x", "c", 70)]
    events += [click(4, "z", "b", 80), click(5, "z", "a", 90)]
    state.apply(events)

    merged = Interactions.from_arrays(
        [0, 0, 1, 1, 0, 1, 0, 2, 2],
        [0, 1, 1, 2, 2, 0, 2, 1, 0],
        [10, 20, 10, 30, 50, 60, 70, 80, 90],
        n_users=3,
        n_items=3,
    )
    oracle = compute_neighbours(merged, ALL).similarity().toarray()
    for j in range(3):
        _, nbr, sims = channel.contributions(np.array([j]))
        live = np.zeros(3)
        live[nbr] = sims
        np.testing.assert_allclose(live, oracle[j], rtol=1e-6)


def test_the_compiled_scores_equal_the_summed_numpy_contributions() -> None:
    rng = np.random.default_rng(3)
    n_users, n_items, n = 40, 30, 400
    data = Interactions.from_arrays(
        rng.integers(0, n_users, n), rng.integers(0, n_items, n), np.sort(rng.random(n)) * 1e6
    )
    ids = [f"i{i}" for i in range(n_items)]
    base = Dataset(
        "r",
        IdMap([f"u{u}" for u in range(n_users)], kind="user"),
        IdMap(ids, kind="item"),
        data,
        Catalog.placeholders(ids),
    )
    lists = compute_neighbours(data, NeighbourConfig(k=8, history_cap=1000, workers=1))
    state = LiveState(base, 0)
    state.stats.track_pairs(PairWeighting(lists.ref_time, 0.0), np.asarray(lists.item_weight))
    channel = ItemCFChannel(lists, state.stats, ItemCFConfig(), window=50)
    state.apply([click(k + 1, f"u{k % 7}", f"i{(3 * k) % n_items}", 2e6 + k) for k in range(60)])
    sources = np.array([1, 4, 9, 17, 22], np.int64)
    weights = np.array([1.0, 0.75, 0.5, 0.4, 0.1])
    src, nbr, sims = channel.contributions(sources)
    expected = np.zeros(n_items)
    np.add.at(expected, nbr, weights[src] * sims)
    items, scores, strongest = channel.scores(sources, weights)
    got = np.zeros(n_items)
    got[items] = scores
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert len(items) == len(set(items.tolist())) and (strongest >= 0).all()
    again = channel.scores(sources, weights)  # the scratch was reset: same answer twice
    np.testing.assert_allclose(again[1], scores)
