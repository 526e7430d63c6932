"""Find a dataset by name: built-in (fetched on first use) or imported."""

from __future__ import annotations

from pathlib import Path

from liverec.core.errors import DatasetNotFoundError
from liverec.data import movielens
from liverec.data.dataset import Dataset, available_datasets, dataset_dir

BUILTIN = (movielens.NAME,)


def load_dataset(name: str, home: Path) -> Dataset:
    """Load dataset ``name`` from ``home``; ML-100K is fetched (and cached) on first use.

    Raises
    ------
    DatasetNotFoundError
        If ``name`` is neither built in nor imported.
    """
    if name == movielens.NAME:
        movielens.fetch(home)
    check_dataset(name, home)
    return Dataset.load(dataset_dir(home, name))


def check_dataset(name: str, home: Path) -> None:
    """Check, reading and writing nothing, that ``name`` is built in or imported under ``home``.

    Raises
    ------
    DatasetNotFoundError
        If ``name`` is neither built in nor imported.
    """
    if name in BUILTIN or (dataset_dir(home, name) / "meta.json").exists():
        return
    known = sorted({*available_datasets(home), *BUILTIN})
    raise DatasetNotFoundError(
        f"dataset {name!r} not found under {home / 'datasets'}; expected one of "
        f"{', '.join(known)} (import your own with: liverec data import --events FILE "
        f"--items FILE --name {name})"
    )


def public_raw_user_ids(name: str, home: Path) -> list[str] | None:
    """Raw user ids in dataset order, for built-in public datasets only (their ids are
    published with the data); None for imported data, whose raw ids are never stored."""
    if name == movielens.NAME and (home / "raw" / movielens.NAME).exists():
        return movielens.raw_user_ids(home)
    return None
