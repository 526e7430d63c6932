"""Erasing a user: their events, their state and everything learned from them, everywhere.

What holds a user, and what an erasure does to it:

- the event log: their events are deleted (SQLite overwrites the freed bytes and truncates
  its write-ahead log); so are their experiment exposures (the same way);
- the dataset under ``$LIVEREC_HOME/datasets``: rewritten without them (a retrain must not
  bring them back);
- every snapshot that holds them (its training data, and item statistics, neighbour lists,
  factors and trending counts learned from it): the newest is trained again, with the same
  components and parameters, on its own data without the user plus the log after it; the
  others are deleted. So other users' answers become exactly those of a service that never
  saw the user;
- the live state (histories, online co-occurrence and counts, transformer state) and the
  cached answers of every worker: rebuilt from the new snapshot and the scrubbed log. The
  worker that runs the erasure swaps at once; the others swap when their snapshot watcher
  sees the new version (``watch_snapshots_s``). When no snapshot held the user, the newest is
  re-issued under a new version (hard links, no training) for the same effect.

A training run that overlaps an erasure discards its snapshot (``erasure_generation``), since
it may have read the user's events before they were deleted.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from liverec.core.privacy import Pseudonyms
from liverec.data.dataset import Dataset, dataset_dir, save_atomically
from liverec.events.exposures import ExposureLog
from liverec.events.schema import LogEntry
from liverec.events.store import EventLog
from liverec.serving.snapshot import (
    ERASURES,
    MANIFEST,
    erasure_generation,
    erasure_lock,
    list_snapshots,
    load_snapshot,
    reserve_version,
)
from liverec.serving.training import TrainConfig, train_snapshot


@dataclass(frozen=True)
class ErasureReport:
    """What an erasure removed and which snapshot now holds the rest."""

    log_events: int
    dataset_events: int
    snapshots_retrained: int
    snapshots_deleted: int
    snapshot: str | None

    @property
    def found(self) -> bool:
        """Whether the user existed anywhere."""
        return bool(self.log_events or self.dataset_events or self.snapshots_deleted)


def erase_user(
    pseudonym: str,
    *,
    home: Path,
    dataset: str,
    log: EventLog,
    snapshots: Path,
    exposures: ExposureLog | None = None,
    models_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> ErasureReport:
    """Erase the user with this pseudonym from the log, the experiment exposures, the dataset
    and every snapshot."""
    with erasure_lock(snapshots):
        (snapshots / ERASURES).write_text(str(erasure_generation(snapshots) + 1))
        log_events = log.delete_user(pseudonym)
        progress(f"event log: {log_events} events deleted")
        if exposures is not None:
            progress(f"experiment exposures: {exposures.delete_user(pseudonym)} deleted")
        dataset_events = _scrub_dataset(home, dataset, pseudonym)
        progress(f"dataset {dataset}: {dataset_events} events deleted")
        found = list_snapshots(snapshots)
        holders = [p for p in found if pseudonym in Dataset.load(p / "data").users]
        newest = found[-1] if found else None
        retrained = 0
        if newest is None or not (holders or log_events):
            fresh = newest  # nothing learned from the user: nothing to rebuild
        elif newest in holders:
            progress(f"training {newest.name} again without the user")
            fresh = _retrain(newest, pseudonym, log, snapshots, models_dir, progress)
            retrained = 1
        else:
            fresh = _reissue(newest, snapshots)
        for path in holders:
            shutil.rmtree(path)
        progress(f"snapshots: {len(holders)} deleted; serving {fresh.name if fresh else 'none'}")
        return ErasureReport(
            log_events,
            dataset_events,
            retrained,
            len(holders),
            fresh.name if fresh is not None else None,
        )


def _scrub_dataset(home: Path, name: str, pseudonym: str) -> int:
    directory = dataset_dir(home, name)
    if not (directory / "meta.json").exists():
        return 0
    original = Dataset.load(directory)
    if pseudonym not in original.users:
        return 0
    data, dropped = original.without_users([pseudonym])
    save_atomically(data, directory, home, Pseudonyms.passthrough())
    return dropped


def _retrain(
    snapshot: Path,
    pseudonym: str,
    log: EventLog,
    root: Path,
    models_dir: Path | None,
    progress: Callable[[str], None],
) -> Path:
    """Train the snapshot's components again on its data without the user, plus the log."""
    old = load_snapshot(snapshot)
    data, _ = old.data.without_users([pseudonym])
    after: list[LogEntry] = []
    while batch := log.read(after[-1].seq if after else old.last_seq, 10_000):
        after.extend(batch)
    return train_snapshot(
        data,
        after,
        root,
        TrainConfig.of_manifest(old.manifest),
        log=progress,
        models_dir=models_dir,
        since_seq=old.last_seq,
        check_erasures=False,  # this run holds the erasure lock and is the erasure
    )


def _reissue(snapshot: Path, root: Path) -> Path:
    """The snapshot under a new version (hard links), so every worker rebuilds its state."""
    version, tmp = reserve_version(root)
    shutil.copytree(snapshot, tmp, copy_function=os.link, dirs_exist_ok=True)
    manifest = json.loads((snapshot / MANIFEST).read_text())
    (tmp / MANIFEST).unlink()  # a new file, not a write through the shared link
    (tmp / MANIFEST).write_text(json.dumps({**manifest, "version": version}, indent=2))
    final = root / version
    os.replace(tmp, final)
    return final
