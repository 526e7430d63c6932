"""faiss-specific behaviour: IVF training and fallbacks, int8 range, threads, missing faiss."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from numpy.typing import NDArray

from liverec.core.errors import LiverecError
from liverec.index import HNSWSQ8Index, IVFIndex, build_index, set_threads


def unit_gaussian(n: int, dim: int, seed: int) -> NDArray[np.float32]:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def test_ivf_is_a_flat_scan_until_it_reaches_min_train() -> None:
    index = build_index("ivf", 8, min_train=500)
    assert isinstance(index, IVFIndex)
    index.add(unit_gaussian(499, 8, 0))
    assert not index.trained
    index.add(unit_gaussian(1, 8, 1))
    assert index.trained and len(index) == 500


def test_ivf_searches_every_cell_when_the_visited_ones_hold_too_few() -> None:
    index = build_index("ivf", 8, nlist=20, nprobe=1, min_train=780)
    index.add(unit_gaussian(1_000, 8, 2))
    ids, _ = index.search(unit_gaussian(3, 8, 3), 900)
    assert (ids >= 0).all()
    ids, _ = index.search(unit_gaussian(1, 8, 4), 5, exclude=[set(range(3, 1_000))])
    assert sorted(ids[0, :3].tolist()) == [0, 1, 2]
    assert ids[0, 3:].tolist() == [-1, -1]


def test_int8_storage_retrains_for_a_vector_outside_its_range() -> None:
    index = build_index("hnsw-sq8", 16)
    assert isinstance(index, HNSWSQ8Index)
    index.add(unit_gaussian(500, 16, 5))
    far = 10 * unit_gaussian(1, 16, 6)[0]
    index.add(far)
    ids, scores = index.search(far, 1)
    assert ids[0, 0] == 500
    # Clipped to the first range, the score would be a fraction of |far|^2.
    assert scores[0, 0] == pytest.approx(far @ far, rel=0.01)


def test_set_threads_rejects_less_than_one() -> None:
    set_threads(1)
    with pytest.raises(ValueError, match="threads must be an integer >= 1, got 0"):
        set_threads(0)


def test_missing_faiss_gives_an_error_that_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(LiverecError, match="pip install faiss-cpu"):
        build_index("hnsw", 8)
    build_index("exact", 8)
