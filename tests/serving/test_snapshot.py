from __future__ import annotations

import time
from pathlib import Path

from liverec.core.types import EventType
from liverec.data.dataset import Dataset, Item
from liverec.events.schema import Event, LoggedEvent, LoggedItem
from liverec.serving.snapshot import (
    latest_snapshot,
    list_snapshots,
    load_snapshot,
    merge_log,
    prune_snapshots,
    train_snapshot,
)


def test_logged_events_and_items_join_the_training_data(ml100k: Dataset) -> None:
    entries = [
        LoggedItem(1, Item("new-film", "New Film", 2026, ("Drama",))),
        LoggedEvent(2, Event("196", "new-film", EventType.CLICK, 2e9)),
        LoggedEvent(3, Event("brand-new-user", "50", EventType.VIEW, 2e9)),
        LoggedItem(4, Item("1", "Toy Story, remastered", 1995, ("Animation",))),
    ]
    merged, last = merge_log(ml100k, entries)
    assert last == 4
    assert (merged.n_users, merged.n_items) == (944, 1683)
    assert len(merged.interactions) == 100_002
    assert merged.catalog[merged.items.index("1")].title == "Toy Story, remastered"
    assert merged.users.raw_ids[:943] == ml100k.users.raw_ids  # indices never move
    assert merged.user_attributes["age"][-1] == ""


def test_snapshot_round_trip_and_newest_first(snapshot_dir: Path, ml100k: Dataset) -> None:
    snap = load_snapshot(snapshot_dir)
    assert snap.last_seq == 0 and snap.n_items == 1682
    assert snap.als.item_factors.shape == (1682, snap.als.config.factors)
    assert len(snap.als_index) == 1682
    assert snap.cooccurrence.shape == (1682, 1682)
    assert latest_snapshot(snapshot_dir.parent) == snapshot_dir


def test_newest_snapshot_wins_and_old_ones_are_pruned(
    ml100k: Dataset, tmp_path: Path, models_dir: Path
) -> None:
    made = []
    for _ in range(3):
        made.append(
            train_snapshot(ml100k, [], tmp_path, log=lambda *_: None, models_dir=models_dir)
        )
        time.sleep(0.01)
    assert latest_snapshot(tmp_path) == made[-1] and list_snapshots(tmp_path) == sorted(made)
    (tmp_path / ".tmp-half-written").mkdir()  # an interrupted write is never picked
    assert latest_snapshot(tmp_path) == made[-1]
    assert prune_snapshots(tmp_path, keep=1) == sorted(made)[:2]
    assert list_snapshots(tmp_path) == [made[-1]]
