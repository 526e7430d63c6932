"""Behaviour every registered vector index must show, run over the whole registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from liverec.core.errors import ConfigError, LiverecError
from liverec.index import INDEXES, ExactIndex, VectorIndex, build_index, load_index, recall_at_k
from liverec.index.base import METRICS

KINDS = list(INDEXES)
# IVF is an exact flat scan below min_train (10,000): lower it so these sets exercise IVF.
PARAMS: dict[str, dict[str, object]] = {"ivf": {"min_train": 400}}
DIM = 32
Vectors = NDArray[np.float32]


def make(kind: str, metric: str = "ip", dim: int = DIM) -> VectorIndex:
    return build_index(kind, dim, metric, **PARAMS.get(kind, {}))


def mixture(n: int, dim: int, clusters: int, seed: int) -> Vectors:
    """Gaussian mixture: unit-variance centres, within-cluster spread 0.5."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    return (centres[rng.integers(0, clusters, n)] + 0.5 * rng.normal(size=(n, dim))).astype(
        np.float32
    )


def exact_top(vectors: Vectors, queries: Vectors, k: int, metric: str) -> NDArray[np.int64]:
    oracle = ExactIndex(vectors.shape[1], metric)
    oracle.add(vectors)
    return oracle.search(queries, k)[0]


@pytest.fixture(scope="module")
def mixed() -> tuple[Vectors, Vectors]:
    """5,000 items and 200 queries from one 50-cluster mixture."""
    data = mixture(5_200, DIM, 50, seed=0)
    return data[:5_000], data[5_000:]


@pytest.fixture(scope="module")
def small() -> tuple[Vectors, Vectors]:
    """500 items and 20 queries in 16 dimensions, for the behaviour checks."""
    data = mixture(520, 16, 10, seed=1)
    return data[:500], data[500:]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("kind", KINDS)
def test_recall_against_exact_holds_before_and_after_save_and_load(
    kind: str, metric: str, mixed: tuple[Vectors, Vectors], tmp_path: Path
) -> None:
    items, queries = mixed
    index = make(kind, metric)
    index.add(items)
    ids, scores = index.search(queries, 10)
    assert recall_at_k(ids, exact_top(items, queries, 10, metric)) >= 0.95
    assert (np.diff(scores, axis=1) <= 0).all()
    index.save(tmp_path / kind)
    loaded = load_index(tmp_path / kind)
    assert type(loaded) is type(index)
    assert (len(loaded), loaded.dim, loaded.metric) == (5_000, DIM, metric)
    loaded_ids, loaded_scores = loaded.search(queries, 10)
    np.testing.assert_array_equal(loaded_ids, ids)
    np.testing.assert_array_equal(loaded_scores, scores)


@pytest.mark.parametrize("kind", KINDS)
def test_default_params_reach_high_recall_on_a_catalogue_sized_set(kind: str) -> None:
    # ML-100K shape (1,682 items x 32 factors) with popularity-like spread of vector norms,
    # which makes inner product favour long vectors as ALS factors do.
    rng = np.random.default_rng(2)
    data = mixture(1_682 + 200, DIM, 20, seed=2) * rng.lognormal(0, 0.7, (1_882, 1))
    items, queries = data[:1_682].astype(np.float32), data[1_682:].astype(np.float32)
    index = build_index(kind, DIM)
    index.add(items)
    assert recall_at_k(index.search(queries, 10)[0], exact_top(items, queries, 10, "ip")) >= 0.95


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("kind", KINDS)
def test_excluded_ids_are_never_returned_and_k_is_still_filled(
    kind: str, metric: str, small: tuple[Vectors, Vectors]
) -> None:
    items, queries = small
    index = make(kind, metric, dim=16)
    index.add(items)
    first, _ = index.search(queries, 10)
    exclude = [{*row.tolist(), 10_000} for row in first]  # 10,000 is not stored: ignored
    ids, _ = index.search(queries, 10, exclude=exclude)
    assert (ids >= 0).all()
    for row, ex in zip(ids, exclude, strict=True):
        assert not set(row.tolist()) & ex
    oracle = ExactIndex(16, metric)
    oracle.add(items)
    assert recall_at_k(ids, oracle.search(queries, 10, exclude=exclude)[0]) >= 0.9


@pytest.mark.parametrize("identity", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_the_request_path_search_leaves_out_excluded_ids_like_search_does(
    kind: str, identity: bool, small: tuple[Vectors, Vectors]
) -> None:
    items, queries = small
    index = make(kind, "ip", dim=16)
    index.add(items[:400])
    # ids 0..499 in row order, or ids past the rows (no identity map)
    index.add(items[400:], ids=np.arange(400, 500) if identity else np.arange(1000, 1100))
    tail = 400 if identity else 1000
    for q in queries[:5]:
        first, _ = index.search_one(q, 30)
        exclude = np.unique(np.r_[first[::2], 5_000])  # 5,000 is not stored: ignored
        ids, scores = index.search_one(q, 10, exclude=exclude)
        expected, expected_scores = index.search(q, 10, exclude=[set(exclude.tolist())])
        assert ids.tolist() == expected[0].tolist()
        assert scores == pytest.approx(expected_scores[0], rel=1e-5)
    everything = np.r_[np.arange(400), np.arange(tail, tail + 98)]
    left = index.search_one(queries[0], 5, exclude=everything)[0]
    assert sorted(left.tolist()) == [tail + 98, tail + 99]


@pytest.mark.parametrize("kind", KINDS)
def test_excluding_all_but_three_ids_returns_those_three_then_padding(
    kind: str, small: tuple[Vectors, Vectors]
) -> None:
    items, queries = small
    index = make(kind, "cosine", dim=16)
    index.add(items)
    ids, scores = index.search(queries[0], 5, exclude=[set(range(3, 500))])
    assert sorted(ids[0, :3].tolist()) == [0, 1, 2]
    assert ids[0, 3:].tolist() == [-1, -1]
    assert np.isneginf(scores[0, 3:]).all() and np.isfinite(scores[0, :3]).all()


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("kind", KINDS)
def test_re_adding_an_id_replaces_its_vector(
    kind: str, metric: str, small: tuple[Vectors, Vectors]
) -> None:
    items = small[0].copy()
    items[8] *= 10  # long, so that it is its own best match by inner product too
    index = make(kind, metric, dim=16)
    index.add(items)
    assert index.search(items[8], 1)[0][0, 0] == 8
    index.add(-items[8:9], ids=np.array([8]))
    assert len(index) == 500
    ids, _ = index.search(items[8], 10)
    assert 8 not in ids[0]
    ids, _ = index.search(-items[8], 10)
    assert ids[0, 0] == 8
    assert len(set(ids[0].tolist())) == 10


@pytest.mark.parametrize("kind", KINDS)
def test_replacing_every_vector_twice_keeps_results_right(
    kind: str, small: tuple[Vectors, Vectors]
) -> None:
    items, queries = small
    index = make(kind, "ip", dim=16)
    index.add(items)
    for seed in (3, 4):
        items = mixture(500, 16, 10, seed=seed)
        index.add(items, ids=np.arange(500)[::-1].copy())
    items = items[::-1]
    ids, _ = index.search(queries, 10)
    assert len(index) == 500
    assert all(len(set(row.tolist())) == 10 for row in ids)
    assert recall_at_k(ids, exact_top(items, queries, 10, "ip")) >= 0.95


@pytest.mark.parametrize("kind", KINDS)
def test_k_larger_than_the_index_pads_with_minus_one(kind: str) -> None:
    index = make(kind, "ip", dim=4)
    index.add(np.eye(4, dtype=np.float32)[:3] + 0.1, ids=np.array([4, 9, 2]))
    ids, scores = index.search(np.ones(4, np.float32), 5)
    assert sorted(ids[0, :3].tolist()) == [2, 4, 9]
    assert ids[0, 3:].tolist() == [-1, -1]
    assert np.isneginf(scores[0, 3:]).all()


@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_index_returns_only_padding(kind: str) -> None:
    ids, scores = make(kind).search(np.ones((2, DIM), np.float32), 3)
    assert ids.shape == scores.shape == (2, 3)
    assert (ids == -1).all() and np.isneginf(scores).all()


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_vector_added_after_the_build_is_found(
    kind: str, metric: str, small: tuple[Vectors, Vectors]
) -> None:
    items, _ = small
    index = make(kind, metric, dim=16)
    index.add(items)
    new = 10 * np.random.default_rng(5).normal(size=16).astype(np.float32)
    index.add(new)
    index.add(-new, ids=np.array([10_000]))
    assert len(index) == 502
    assert index.search(new, 1)[0][0, 0] == 500  # default ids continue after the largest
    assert index.search(-new, 1)[0][0, 0] == 10_000


@pytest.mark.parametrize("kind", KINDS)
def test_growing_in_batches_keeps_every_vector_searchable(kind: str) -> None:
    items = mixture(1_700, 16, 10, seed=6)
    queries = items[:50] + 0.01
    index = make(kind, "cosine", dim=16)  # IVF trains when the second batch crosses 400
    index.add(items[:300])
    index.add(items[300:])
    assert len(index) == 1_700
    assert (
        recall_at_k(index.search(queries, 10)[0], exact_top(items, queries, 10, "cosine")) >= 0.95
    )


@pytest.mark.parametrize("kind", KINDS)
def test_a_loaded_index_keeps_accepting_additions_and_replacements(
    kind: str, small: tuple[Vectors, Vectors], tmp_path: Path
) -> None:
    items, _ = small
    index = make(kind, "cosine", dim=16)
    index.add(items)
    index.save(tmp_path)
    loaded = load_index(tmp_path)
    loaded.add(-items[3], ids=np.array([3]))
    loaded.add(items[3])
    assert len(loaded) == 501
    assert loaded.search(items[3], 2)[0][0, 0] == 500
    assert 3 not in loaded.search(items[3], 10)[0][0]


@pytest.mark.parametrize("kind", KINDS)
def test_bad_input_is_rejected_with_a_message_naming_it(kind: str) -> None:
    index = make(kind)
    index.add(np.ones((3, DIM), np.float32))
    with pytest.raises(ValueError, match=r"shape \(2, 31\).*expects \(n, 32\)"):
        index.add(np.ones((2, DIM - 1), np.float32))
    with pytest.raises(ValueError, match=r"expects \(n, 32\)"):
        index.search(np.ones(DIM + 1, np.float32), 3)
    with pytest.raises(ValueError, match="k must be an integer >= 1, got 0"):
        index.search(np.ones(DIM, np.float32), 0)
    nan = np.ones((2, DIM), np.float32)
    nan[1, 5] = np.nan
    with pytest.raises(ValueError, match="row 1 has a NaN"):
        index.add(nan)
    with pytest.raises(ValueError, match="row 1 has a NaN"):
        index.search(nan, 3)
    with pytest.raises(ValueError, match="ids must be >= 0"):
        index.add(np.ones((1, DIM), np.float32), ids=np.array([-1]))
    with pytest.raises(ValueError, match="distinct"):
        index.add(np.ones((2, DIM), np.float32), ids=np.array([7, 7]))
    with pytest.raises(ValueError, match=r"expected \(2,\) integers"):
        index.add(np.ones((2, DIM), np.float32), ids=np.array([7]))
    with pytest.raises(ValueError, match="one per query"):
        index.search(np.ones((2, DIM), np.float32), 3, exclude=[{1}])
    assert len(index) == 3


@pytest.mark.parametrize("kind", KINDS)
def test_bad_config_raises_config_error(kind: str) -> None:
    with pytest.raises(ConfigError, match="has no parameter colour"):
        build_index(kind, DIM, colour="red")
    with pytest.raises(ConfigError, match="unknown metric 'l2'; expected one of ip, cosine"):
        build_index(kind, DIM, "l2")
    with pytest.raises(ConfigError, match="dim must be a positive integer"):
        build_index(kind, 0)


def test_an_unknown_kind_raises_config_error_listing_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match="unknown index kind 'annoy'; expected one of exact, hnsw"
    ):
        build_index("annoy", DIM)


def test_loading_a_folder_without_an_index_or_as_the_wrong_kind_fails(tmp_path: Path) -> None:
    with pytest.raises(LiverecError, match="no saved index"):
        load_index(tmp_path)
    make("hnsw").save(tmp_path)
    with pytest.raises(LiverecError, match="holds a 'hnsw' index, not 'exact'"):
        ExactIndex.load(tmp_path)
