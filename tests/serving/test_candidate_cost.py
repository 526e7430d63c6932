"""A request's cost does not grow with the catalog: every stage works on candidates.

The same synthetic log is served with a catalog of 2,000 items and one of 200,000 (the
extra items exist, with text, but few have events); the memory a request allocates is
measured with tracemalloc (numpy reports its buffers to it). A stage that built one dense
row over the catalog would allocate 1.6 MB per float64 row at the large size.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from liverec.data.catalog import Catalog
from liverec.data.dataset import Dataset
from liverec.data.idmap import IdMap
from liverec.data.interactions import Interactions
from liverec.serving.service import LiveService
from liverec.serving.training import TrainConfig, train_snapshot

ACTIVE_ITEMS = 2_000


def served(tmp_path: Path, n_items: int) -> LiveService:
    rng = np.random.default_rng(0)
    n_users, n = 3_000, 60_000
    users = rng.integers(0, n_users, n)
    items = (rng.zipf(1.3, n) - 1) % ACTIVE_ITEMS
    ts = np.sort(rng.random(n)) * 1e7
    data = Dataset(
        name="cost",
        users=IdMap([f"u{u}" for u in range(n_users)], kind="user"),
        items=IdMap([f"i{i}" for i in range(n_items)], kind="item"),
        interactions=Interactions.from_arrays(users, items, ts, n_users=n_users, n_items=n_items),
        catalog=Catalog.placeholders([f"i{i}" for i in range(n_items)]),
    )
    config = TrainConfig(
        components=("pop", "trending", "itemcf", "als", "new"), params={"als": {"iterations": 2}}
    )
    path = train_snapshot(data, [], tmp_path / "snaps", config, log=lambda *_: None)
    return LiveService.open(path)


def peak_per_request(service: LiveService) -> float:
    users = [f"u{u}" for u in range(0, 3_000, 30)]
    for u in users[:5]:
        service.recommend(u, 10, fresh=True)  # caches and lazy tables warmed up
    peaks = []
    for u in users:
        tracemalloc.start()
        service.recommend(u, 10, fresh=True)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return float(np.median(peaks))


@pytest.mark.slow
def test_a_hundred_times_the_catalog_costs_a_request_no_more_memory(tmp_path: Path) -> None:
    small = peak_per_request(served(tmp_path / "small", 2_000))
    large = peak_per_request(served(tmp_path / "large", 200_000))
    assert large < 1.5 * small + 200_000  # a dense float64 row would add 1.6 MB
