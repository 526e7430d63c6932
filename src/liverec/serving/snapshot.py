"""Versioned model snapshots on disk: what ``liverec train`` writes and the service loads.

Training them is ``serving.training``; this module is the format. A snapshot folder holds the
training data (the dataset plus every logged event and item upsert up to ``last_seq``, in the
columnar dataset format) and one folder per servable component, listed in ``manifest.json``
with its config and what training reported. Every part is memory-mapped when loaded. Folders
are written under a temporary name and renamed into place, so a reader never sees half of one;
version names sort strictly in creation order.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
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


def new_version(root: Path) -> str:
    """A version name later than every existing one (microseconds, bumped past collisions)."""
    now = time.time()
    name = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
    existing = [p.name for p in list_snapshots(root)] if root.exists() else []
    while existing and name <= existing[-1]:
        base, micro = existing[-1][:-8], int(existing[-1][-7:-1])
        name = f"{base}.{micro + 1:06d}Z"
    return name


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
