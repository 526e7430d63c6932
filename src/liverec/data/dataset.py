"""The typed dataset and its on-disk form under ``$LIVEREC_HOME/datasets/<name>``.

On disk a dataset is columns: the events as one ``.npy`` file per column (int32 ids, sorted
by user then time, ties in file order), the catalog and the id maps as Arrow IPC files. Loading
memory-maps all of them, so opening a 100M-event dataset reads almost nothing up front.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from liverec.core.errors import DatasetNotFoundError, LiverecError
from liverec.core.paths import Paths
from liverec.core.privacy import Pseudonyms
from liverec.data.arrowio import read_arrow, write_arrow
from liverec.data.catalog import Catalog, Item
from liverec.data.idmap import IdMap
from liverec.data.interactions import Interactions

__all__ = ["Catalog", "Dataset", "Item"]

FORMAT_VERSION = 3  # 3: user ids are pseudonyms
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Dataset:
    """Interactions over contiguous indices plus the catalog and user attributes they refer to."""

    name: str
    users: IdMap
    items: IdMap
    interactions: Interactions
    catalog: Catalog
    user_attributes: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.catalog, Catalog):
            object.__setattr__(self, "catalog", Catalog.from_items(self.catalog))
        if len(self.catalog) != len(self.items):
            raise ValueError(f"catalog has {len(self.catalog)} items, id map {len(self.items)}")
        if (self.interactions.n_users, self.interactions.n_items) != (
            len(self.users),
            len(self.items),
        ):
            raise ValueError("interaction shape does not match the id maps")

    @property
    def n_users(self) -> int:
        """Number of users."""
        return len(self.users)

    @property
    def n_items(self) -> int:
        """Number of catalog items."""
        return len(self.items)

    @property
    def genre_names(self) -> tuple[str, ...]:
        """Every genre/tag in the catalog, sorted."""
        return self.catalog.genre_names

    @property
    def genre_matrix(self) -> sp.csr_matrix:
        """Binary items x genres matrix (rows of items without genres are empty)."""
        return self.catalog.genre_matrix

    def summary(self) -> str:
        """One line: counts and density."""
        n = len(self.interactions)
        density = n / max(1, self.n_users * self.n_items)
        return (
            f"{self.name}: {self.n_users:,} users, {self.n_items:,} items, "
            f"{n:,} interactions (density {density:.2%})"
        )

    def pseudonymised(self, pseudonyms: Pseudonyms) -> Dataset:
        """The same dataset with every user id replaced by its pseudonym."""
        return replace(self, users=self.users.mapped(pseudonyms.many))

    def without_users(self, user_ids: Collection[str]) -> tuple[Dataset, int]:
        """The dataset with these users and all their events gone (later users move up one
        index per removed user); returns it and how many events were dropped."""
        import pyarrow as pa

        gone = sorted({u for u in (self.users.get(x) for x in user_ids) if u is not None})
        if not gone:
            return self, 0
        keep_user = np.ones(self.n_users, bool)
        keep_user[gone] = False
        new_index = np.cumsum(keep_user, dtype=np.int64) - 1
        rows = keep_user[self.interactions.uidx]
        kept = self.interactions.select(rows)
        users = IdMap(self.users.arrow.filter(pa.array(keep_user)), kind=self.users.kind)
        interactions = Interactions(
            new_index[kept.uidx].astype(np.int32),
            kept.iidx,
            kept.ts,
            kept.etype,
            kept.value,
            len(users),
            self.n_items,
        )
        attrs = {
            k: tuple(v for v, keep in zip(col, keep_user, strict=True) if keep)
            for k, col in self.user_attributes.items()
        }
        out = replace(self, users=users, interactions=interactions, user_attributes=attrs)
        return out, int(len(self.interactions) - len(kept))

    def save(self, directory: Path) -> None:
        """Write the dataset to ``directory`` (created if missing), events sorted by user."""
        import pyarrow as pa

        directory.mkdir(parents=True, exist_ok=True)
        self.interactions.sorted_by_user().save(directory / "events")
        self.catalog.save(directory / "catalog.arrow")
        self.users.save(directory, "users")
        self.items.save(directory, "items")
        if self.user_attributes:
            table = pa.table(
                {k: pa.array(list(v), pa.string()) for k, v in self.user_attributes.items()}
            )
            write_arrow(table, directory / "attributes.arrow")
        meta = {
            "format": FORMAT_VERSION,
            "name": self.name,
            "n_users": self.n_users,
            "n_items": self.n_items,
            "n_events": len(self.interactions),
            "summary": self.summary(),
        }
        (directory / "meta.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> Dataset:
        """Memory-map a dataset written by ``save``.

        Raises
        ------
        DatasetNotFoundError
            If ``directory`` holds no dataset.
        LiverecError
            If it was written in another format.
        """
        if not (directory / "meta.json").exists():
            raise DatasetNotFoundError(f"no dataset at {directory}")
        meta = json.loads((directory / "meta.json").read_text())
        if meta.get("format") != FORMAT_VERSION:
            raise LiverecError(
                f"dataset at {directory} has format {meta.get('format')}, expected "
                f"{FORMAT_VERSION}; fetch or import it again"
            )
        users = IdMap.load(directory, "users", kind="user")
        items = IdMap.load(directory, "items", kind="item")
        interactions = Interactions.load(directory / "events", len(users), len(items))
        attrs: dict[str, tuple[str, ...]] = {}
        if (directory / "attributes.arrow").exists():
            table = read_arrow(directory / "attributes.arrow")
            attrs = {name: tuple(table.column(name).to_pylist()) for name in table.column_names}
        catalog = Catalog.load(directory / "catalog.arrow")
        return cls(meta["name"], users, items, interactions, catalog, attrs)


def validate_name(name: str) -> str:
    """Return ``name`` if it is a usable dataset name.

    Raises
    ------
    LiverecError
        If it has characters other than letters, digits, '.', '_' and '-'.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise LiverecError(
            f"dataset name {name!r} is not valid: expected 1-64 letters, digits, '.', '_' or '-'"
        )
    return name


def dataset_dir(home: Path, name: str) -> Path:
    """Folder of dataset ``name`` under ``home``."""
    return Paths(home).dataset(validate_name(name))


def available_datasets(home: Path) -> list[str]:
    """Names of the datasets present under ``home``."""
    root = Paths(home).datasets
    if not root.exists():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "meta.json").exists())


def build_catalog(items: IdMap, known: Mapping[str, Item]) -> Catalog:
    """Catalog in id-map order; ids without metadata get an entry titled by their id."""
    return Catalog.from_items(known.get(r) or Item(item_id=r, title=r) for r in items.raw_ids)


def user_attribute_columns(
    users: IdMap, rows: Mapping[str, Mapping[str, str]], columns: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """Column-wise user attributes in id-map order ('' where unknown)."""
    return {c: tuple(rows.get(u, {}).get(c, "") for u in users.raw_ids) for c in columns}


def save_atomically(
    dataset: Dataset, target: Path, home: Path, pseudonyms: Pseudonyms | None = None
) -> None:
    """Save a dataset read from outside (raw user ids) under ``home``: user ids pseudonymised
    (``home``'s secret unless ``pseudonyms`` is given), written into a temporary folder, then
    swapped in, so a failure leaves any old copy whole."""
    dataset = dataset.pseudonymised(pseudonyms or Pseudonyms.for_home(home))
    try:
        home.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".import-", dir=home))
    except OSError as e:
        raise LiverecError(f"cannot write under {home}: {e.strerror or e}") from None
    old = tmp / "old"
    try:
        dataset.save(tmp / "new")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.rename(old)
        (tmp / "new").rename(target)
    except OSError as e:
        if old.exists() and not target.exists():
            old.rename(target)
        raise LiverecError(f"cannot write dataset {dataset.name!r} to {target}: {e}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
