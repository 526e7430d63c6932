"""The typed in-memory dataset and its on-disk form under ``$LIVEREC_HOME/datasets/<name>``."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from liverec.core.errors import DatasetNotFoundError, LiverecError
from liverec.data.idmap import IdMap
from liverec.data.interactions import Interactions

FORMAT_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Item:
    """Catalog entry: the text fields the encoder and the explanations use."""

    item_id: str
    title: str
    year: int | None = None
    genres: tuple[str, ...] = ()
    description: str = ""

    @property
    def display_title(self) -> str:
        """Title with the year in brackets, as people write film titles."""
        return f"{self.title} ({self.year})" if self.year else self.title

    def text(self) -> str:
        """One string with everything a text encoder should read about the item."""
        parts = [self.display_title]
        if self.genres:
            parts.append("Genres: " + ", ".join(self.genres))
        if self.description:
            parts.append(self.description)
        return ". ".join(parts)

    def to_json(self) -> dict[str, object]:
        """JSON-able dict (the items.jsonl line)."""
        return {
            "item_id": self.item_id,
            "title": self.title,
            "year": self.year,
            "genres": list(self.genres),
            "description": self.description,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> Item:
        """Inverse of ``to_json``."""
        year = d.get("year")
        genres = d.get("genres") or []
        return cls(
            item_id=str(d["item_id"]),
            title=str(d.get("title") or ""),
            year=int(year) if isinstance(year, int | float | str) and str(year) else None,
            genres=tuple(str(g) for g in genres) if isinstance(genres, list | tuple) else (),
            description=str(d.get("description") or ""),
        )


@dataclass(frozen=True)
class Dataset:
    """Interactions over contiguous indices plus the catalog and user attributes they refer to."""

    name: str
    users: IdMap
    items: IdMap
    interactions: Interactions
    catalog: tuple[Item, ...]
    user_attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
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

    @cached_property
    def genre_names(self) -> tuple[str, ...]:
        """Every genre/tag in the catalog, sorted."""
        return tuple(sorted({g for it in self.catalog for g in it.genres}))

    @cached_property
    def genre_matrix(self) -> sp.csr_matrix:
        """Binary items x genres matrix (rows of items without genres are empty)."""
        col = {g: j for j, g in enumerate(self.genre_names)}
        rows = [i for i, it in enumerate(self.catalog) for _ in it.genres]
        cols = [col[g] for it in self.catalog for g in it.genres]
        return sp.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, cols)),
            shape=(self.n_items, len(self.genre_names)),
        )

    def summary(self) -> str:
        """One line: counts and density."""
        n = len(self.interactions)
        density = n / max(1, self.n_users * self.n_items)
        return (
            f"{self.name}: {self.n_users:,} users, {self.n_items:,} items, "
            f"{n:,} interactions (density {density:.2%})"
        )

    def save(self, directory: Path) -> None:
        """Write the dataset to ``directory`` (created if missing)."""
        directory.mkdir(parents=True, exist_ok=True)
        it = self.interactions
        np.savez(
            directory / "interactions.npz",
            uidx=it.uidx,
            iidx=it.iidx,
            ts=it.ts,
            etype=it.etype,
            value=it.value,
        )
        with open(directory / "items.jsonl", "wb") as f:
            for item in self.catalog:
                f.write(json.dumps(item.to_json(), ensure_ascii=False).encode() + b"\n")
        users = {"user_id": list(self.users.raw_ids)} | {
            k: list(v) for k, v in self.user_attributes.items()
        }
        (directory / "users.json").write_text(json.dumps(users))
        meta = {"format": FORMAT_VERSION, "name": self.name, "summary": self.summary()}
        (directory / "meta.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> Dataset:
        """Read a dataset written by ``save``.

        Raises
        ------
        DatasetNotFoundError
            If ``directory`` holds no dataset.
        """
        if not (directory / "meta.json").exists():
            raise DatasetNotFoundError(f"no dataset at {directory}")
        meta = json.loads((directory / "meta.json").read_text())
        if meta.get("format") != FORMAT_VERSION:
            raise LiverecError(
                f"dataset at {directory} has format {meta.get('format')}, expected "
                f"{FORMAT_VERSION}; fetch or import it again"
            )
        with open(directory / "items.jsonl", "rb") as f:
            catalog = tuple(Item.from_json(json.loads(line)) for line in f if line.strip())
        users_doc = json.loads((directory / "users.json").read_text())
        users = IdMap(users_doc.pop("user_id"), kind="user")
        items = IdMap((c.item_id for c in catalog), kind="item")
        with np.load(directory / "interactions.npz") as z:
            interactions = Interactions(
                uidx=z["uidx"],
                iidx=z["iidx"],
                ts=z["ts"],
                etype=z["etype"],
                value=z["value"],
                n_users=len(users),
                n_items=len(items),
            )
        attrs = {k: tuple(str(x) for x in v) for k, v in users_doc.items()}
        return cls(meta["name"], users, items, interactions, catalog, attrs)


def validate_name(name: str) -> str:
    """Return ``name`` if it is a usable dataset name.

    Raises
    ------
    LiverecError
        If it has characters other than letters, digits, '.', '_' and '-'.
    """
    if not _NAME.match(name):
        raise LiverecError(
            f"dataset name {name!r} is not valid: expected 1-64 letters, digits, '.', '_' or '-'"
        )
    return name


def dataset_dir(home: Path, name: str) -> Path:
    """Folder of dataset ``name`` under ``home``."""
    return home / "datasets" / validate_name(name)


def available_datasets(home: Path) -> list[str]:
    """Names of the datasets present under ``home``."""
    root = home / "datasets"
    if not root.exists():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "meta.json").exists())


def build_catalog(items: IdMap, known: Mapping[str, Item]) -> tuple[Item, ...]:
    """Catalog in id-map order; ids without metadata get an entry titled by their id."""
    return tuple(known.get(r) or Item(item_id=r, title=r) for r in items.raw_ids)


def user_attribute_columns(
    users: IdMap, rows: Mapping[str, Mapping[str, str]], columns: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """Column-wise user attributes in id-map order ('' where unknown)."""
    return {c: tuple(rows.get(u, {}).get(c, "") for u in users.raw_ids) for c in columns}


def save_atomically(dataset: Dataset, target: Path, home: Path) -> None:
    """Save into a temporary folder, then swap it in, so a failure leaves any old copy whole."""
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
