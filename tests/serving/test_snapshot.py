from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liverec.core.errors import LiverecError
from liverec.core.privacy import Pseudonyms
from liverec.core.types import EventType
from liverec.data.dataset import Dataset, Item
from liverec.events.schema import Event, LoggedEvent, LoggedItem
from liverec.events.store import open_event_log
from liverec.serving.service import LiveService, ServiceConfig
from liverec.serving.snapshot import latest_snapshot, list_snapshots, load_snapshot, prune_snapshots
from liverec.serving.training import TrainConfig, merge_log, train_snapshot

PASS = Pseudonyms.passthrough()


def test_logged_events_and_items_join_the_training_data(
    ml100k: Dataset, pseudonyms: Pseudonyms
) -> None:
    entries = [
        LoggedItem(1, Item("new-film", "New Film", 2026, ("Drama",))),
        LoggedEvent(2, Event(pseudonyms.of("196"), "new-film", EventType.CLICK, 2e9)),
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
    assert set(snap.components) == {"pop", "trending", "itemcf", "als", "text", "new"}
    assert snap.data.interactions.uidx.tolist() == sorted(snap.data.interactions.uidx.tolist())
    als = snap.components["als"]
    factors = np.load(als.directory / "item_factors.npy")
    assert factors.shape == (1682, als.component.config.factors)
    assert isinstance(snap.data.interactions.iidx.base, np.memmap)  # loaded by memory map
    assert latest_snapshot(snapshot_dir.parent) == snapshot_dir


def test_newest_snapshot_wins_and_old_ones_are_pruned(
    ml100k: Dataset, tmp_path: Path, models_dir: Path
) -> None:
    made = []
    light = TrainConfig(components=("pop",))
    for _ in range(3):  # versions made in the same second still sort in creation order
        made.append(train_snapshot(ml100k, [], tmp_path, light, log=lambda *_: None))
    assert latest_snapshot(tmp_path) == made[-1] and list_snapshots(tmp_path) == sorted(made)
    (tmp_path / ".tmp-half-written").mkdir()  # an interrupted write is never picked
    assert latest_snapshot(tmp_path) == made[-1]
    assert prune_snapshots(tmp_path, keep=1) == sorted(made)[:2]
    assert list_snapshots(tmp_path) == [made[-1]]


def test_a_damaged_newest_snapshot_is_skipped_by_name_and_the_previous_one_served(
    ml100k: Dataset, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    light = TrainConfig(components=("pop",))
    good, bad_part, bad_manifest = (
        train_snapshot(ml100k, [], tmp_path, light, log=lambda *_: None) for _ in range(3)
    )
    (bad_manifest / "manifest.json").write_text('{"format": 2, "vers')  # half-written
    part = next((bad_part / "pop").iterdir())
    part.write_bytes(part.read_bytes()[:10])  # truncated by a full disk
    service = LiveService.open(tmp_path, open_event_log("memory://"), ServiceConfig(), PASS)
    assert service.version == good.name
    assert str(bad_manifest) in caplog.text and str(bad_part) in caplog.text

    (good / "data" / "meta.json").unlink()
    with pytest.raises(LiverecError, match="no snapshot loads") as err:
        LiveService.open(tmp_path, open_event_log("memory://"), ServiceConfig(), PASS)
    assert all(str(p) in str(err.value) for p in (good, bad_part, bad_manifest))


def test_reload_skips_a_damaged_newer_snapshot_once(ml100k: Dataset, tmp_path: Path) -> None:
    light = TrainConfig(components=("pop",))
    first = train_snapshot(ml100k, [], tmp_path, light, log=lambda *_: None)
    service = LiveService.open(tmp_path, open_event_log("memory://"), ServiceConfig(), PASS)
    broken = train_snapshot(ml100k, [], tmp_path, light, log=lambda *_: None)
    (broken / "manifest.json").write_text("not json")
    with pytest.raises(LiverecError, match=broken.name):
        service.reload()
    assert service.reload() is False and service.version == first.name  # not retried
