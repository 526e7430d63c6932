"""The Ray engine against the local one, on a real Ray head (``ray start --head`` on
127.0.0.1): the same snapshot bit for bit, the same offline metrics.

One head serves the module: starting it and connecting cost ~10 s of the module's ~40 s.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from liverec.core.errors import ConfigError
from liverec.data.dataset import Dataset
from liverec.engine import Executor, LocalExecutor, open_executor
from liverec.engine.ray_cluster import local_head
from liverec.eval.offline import evaluate
from liverec.models import neighbours
from liverec.models.itemcf import ItemCF
from liverec.models.mf import ALS, ALSConfig
from liverec.models.popular import Popularity
from liverec.serving.training import train_snapshot
from tests.features.test_text import shared_text_cache

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """``ray start --head`` on 127.0.0.1 (``local_head``), this process a driver of it."""
    if importlib.util.find_spec("ray") is None:  # not imported here: the engine sets it up
        pytest.skip("the ray extra is not installed")
    with local_head(num_cpus=2) as (address, driver_env), pytest.MonkeyPatch.context() as mp:
        for key, value in driver_env.items():
            mp.setenv(key, value)
        yield address


@pytest.fixture(scope="module")
def ray_executor(ray_head: str) -> Iterator[Executor]:
    with open_executor("ray", ray_head) as executor:
        yield executor


def raise_config_error(shared: str, chunk: int) -> int:
    raise ConfigError(f"{shared} {chunk}")


def test_tasks_run_on_the_cluster_in_chunk_order_and_errors_keep_their_type(
    ray_executor: Executor,
) -> None:
    assert ray_executor.workers == 2 and ray_executor.describe().startswith("ray (127.0.0.1:")
    seen: list[int] = []
    out = ray_executor.map(pow, 3, list(range(8)), lambda done, _: seen.append(done))
    assert out == [3**c for c in range(8)] and seen == list(range(1, 9))
    with pytest.raises(ConfigError, match="bad chunk 5"):
        ray_executor.map(raise_config_error, "bad chunk", [5])


def arrays(snapshot: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(snapshot)): np.load(p) for p in sorted(snapshot.rglob("*.npy"))}


def test_ray_trains_the_same_snapshot_as_the_local_engine(
    ray_executor: Executor,
    ml100k: Dataset,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(neighbours, "BLOCK_WORK", 300_000)  # dozens of blocks, not one
    export = next(shared_text_cache(tmp_path_factory).glob("all-minilm-*"))
    snapshots = {}
    for name, executor in (("local", LocalExecutor()), ("ray", ray_executor)):
        models = tmp_path / name / "models"  # no shared embedding cache: both really encode
        models.mkdir(parents=True)
        (models / export.name).symlink_to(export, target_is_directory=True)
        snapshots[name] = train_snapshot(
            ml100k, [], tmp_path / name / "snapshots", models_dir=models,
            log=lambda *_: None, executor=executor,
        )  # fmt: skip
    local, ray = arrays(snapshots["local"]), arrays(snapshots["ray"])
    assert {"itemcf/neighbours.npy", "itemcf/weights.npy", "text/vectors.npy"} <= set(local)
    assert local.keys() == ray.keys()
    for name, array in local.items():
        np.testing.assert_array_equal(ray[name], array, err_msg=name)


def test_ray_evaluation_shards_give_the_local_metrics(
    ray_executor: Executor, ml100k: Dataset
) -> None:
    def models() -> list[Popularity | ItemCF | ALS]:
        return [Popularity(), ItemCF(), ALS(ALSConfig(iterations=5))]

    local = evaluate(ml100k, models(), "test")
    ray = evaluate(ml100k, models(), "test", executor=ray_executor)
    for a, b in zip(local, ray, strict=True):
        assert a.model == b.model and a.metrics.keys() == b.metrics.keys()
        for key, value in a.metrics.items():
            assert abs(b.metrics[key] - value) <= 1e-6, (a.model, key)
        np.testing.assert_array_equal(a.users, b.users)
