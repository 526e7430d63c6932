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
    directory = dataset_dir(home, name)
    if not (directory / "meta.json").exists():
        known = sorted({*available_datasets(home), *BUILTIN})
        raise DatasetNotFoundError(
            f"dataset {name!r} not found under {home / 'datasets'}; expected one of "
            f"{', '.join(known)} (import your own with: liverec data import --events FILE "
            f"--items FILE --name {name})"
        )
    return Dataset.load(directory)
