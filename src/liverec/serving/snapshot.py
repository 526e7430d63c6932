"""Versioned model snapshots on disk: what ``liverec train`` writes and the service loads.

Training them is ``serving.training``; this module is the format. A snapshot folder holds the
training data (the dataset plus every logged event and item upsert up to ``last_seq``, in the
columnar dataset format) and one folder per servable component, listed in ``manifest.json``
with its config and what training reported. Every part is memory-mapped when loaded. Folders
are written under a temporary name and renamed into place, so a reader never sees half of one;
version names sort strictly in creation order.
"""

from __future__ import annotations

import calendar
import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liverec.core.errors import LiverecError
from liverec.data.dataset import Dataset
from liverec.models.component import Component
from liverec.models.registry import component_class

MANIFEST = "manifest.json"
MODELS_DIR = ".models"
FORMAT = 2
RESERVED = ".tmp-"  # prefix of the folder a version is written in before it is renamed
VERSION_TIME = "%Y%m%dT%H%M%S"  # then ".ffffffZ": microseconds, UTC
ERASURES = ".erasures"  # a counter bumped by every user erasure (see ``serving.erasure``)


@contextmanager
def erasure_lock(root: Path) -> Iterator[None]:
    """Held by an erasure for its whole run and by training while it publishes a snapshot, so
    a snapshot is either published before an erasure looks or checked against it after."""
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    with (root / f"{ERASURES}.lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def erasure_generation(root: Path) -> int:
    """How many erasures have run under ``root``; a training run that sees this change
    between its start and its end may hold an erased user and must not be published."""
    try:
        return int((root / ERASURES).read_text() or 0)
    except FileNotFoundError:
        return 0


@dataclass
class LoadedComponent:
    """A component of a snapshot: configured as it was trained, with its folder and facts."""

    component: Component
    directory: Path
    meta: dict[str, Any]


@dataclass
class Snapshot:
    """A loaded snapshot: training data (memory-mapped) and its components."""

    version: str
    directory: Path
    last_seq: int
    created_at: float
    data: Dataset
    components: dict[str, LoadedComponent]
    manifest: dict[str, Any]

    @property
    def n_items(self) -> int:
        """Items known to the snapshot."""
        return self.data.n_items


def version_name(micros: int) -> str:
    """The version name of an instant in microseconds since the epoch (UTC).

    >>> version_name(1_767_225_600_000_001)
    '20260101T000000.000001Z'
    """
    seconds, micro = divmod(micros, 1_000_000)
    return time.strftime(VERSION_TIME, time.gmtime(seconds)) + f".{micro:06d}Z"


def first_after(name: str) -> int:
    """The earliest instant (microseconds) whose ``version_name`` sorts after ``name``.

    Older names (``20260101T000000Z-3fa2c1``) sort after every name of their second, so the
    next version is in the next second; a name that is not a version gives 0.

    >>> version_name(first_after("20260101T000000.999999Z"))
    '20260101T000001.000000Z'
    >>> version_name(first_after("20260101T000000Z-3fa2c1"))
    '20260101T000001.000000Z'
    """
    try:
        seconds = calendar.timegm(time.strptime(name[:15], VERSION_TIME))
    except ValueError:
        return 0
    rest = name[15:]
    if len(rest) == 8 and rest[0] == "." and rest[-1] == "Z" and rest[1:7].isdigit():
        return seconds * 1_000_000 + int(rest[1:7]) + 1
    return (seconds + 1) * 1_000_000


def _newest_name(root: Path, besides: Path | None = None) -> str:
    """The greatest version name under ``root``, snapshots and reservations alike."""
    names = (
        p.name.removeprefix(RESERVED)
        for p in root.iterdir()
        if (p.name.startswith(RESERVED) or not p.name.startswith(".")) and p != besides
    )
    return max((n for n in names if first_after(n)), default="")


def reserve_version(root: Path, clock: Callable[[], int] = time.time_ns) -> tuple[str, Path]:
    """A new version and its temporary folder ``root/.tmp-VERSION``, created here.

    The name is the time in microseconds (``clock`` gives nanoseconds), moved past the newest
    snapshot or reservation under ``root`` when it is not later, so versions strictly
    increase in the order they are reserved, within one second and across processes: the
    folder is created with ``mkdir`` (one winner per name), and a reservation that then finds
    its name taken or a later one (made meanwhile by another process) gives it up and tries
    again.
    """
    root.mkdir(parents=True, exist_ok=True)
    while True:
        newest = _newest_name(root)
        version = version_name(max(clock() // 1000, first_after(newest) if newest else 0))
        folder = root / f"{RESERVED}{version}"
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        # a reservation renamed into place frees its name for mkdir: check the snapshot too
        if _newest_name(root, besides=folder) < version:
            return version, folder
        folder.rmdir()


def list_snapshots(root: Path) -> list[Path]:
    """Complete snapshot folders under ``root``, oldest first (names sort by time)."""
    if not root.exists():
        return []
    return sorted(
        p for p in root.iterdir() if not p.name.startswith(".") and (p / MANIFEST).exists()
    )


def latest_snapshot(root: Path) -> Path | None:
    """The newest complete snapshot under ``root``, or None."""
    found = list_snapshots(root)
    return found[-1] if found else None


def load_snapshot(directory: Path) -> Snapshot:
    """Open the snapshot in ``directory`` (its arrays memory-mapped).

    Raises
    ------
    LiverecError
        If the folder is not a complete snapshot of this format.
    """
    path = directory / MANIFEST
    if not path.exists():
        raise LiverecError(f"{directory} is not a snapshot (no {MANIFEST}); run: liverec train")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise LiverecError(
            f"{directory} was written by another version of liverec (format "
            f"{manifest.get('format')}, expected {FORMAT}); run: liverec train"
        )
    components = {}
    for name, part in manifest["components"].items():
        cls = component_class(name)
        components[name] = LoadedComponent(
            cls(cls.config_from_json(part["config"])), directory / name, part["meta"]
        )
    return Snapshot(
        version=manifest["version"],
        directory=directory,
        last_seq=int(manifest["last_seq"]),
        created_at=float(manifest["created_at"]),
        data=Dataset.load(directory / "data"),
        components=components,
        manifest=manifest,
    )


def prune_snapshots(root: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` snapshots; returns what was deleted."""
    found = list_snapshots(root)
    doomed = found[: max(0, len(found) - keep)]
    for p in doomed:
        shutil.rmtree(p, ignore_errors=True)
    return doomed
