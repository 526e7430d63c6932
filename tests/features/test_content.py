from __future__ import annotations

from pathlib import Path

import numpy as np

from liverec.data.dataset import Item
from liverec.features.content import EmbeddingCache, ItemVectors, embed_catalog


def test_vectors_grow_for_new_items_and_keep_fingerprints_in_step() -> None:
    v = ItemVectors(np.eye(3, 4, dtype=np.float32))
    v.set(5, np.array([0, 0, 0, 1], np.float32))
    assert len(v) == 6 and v.rows(np.arange(6)).shape == (6, 4)
    assert v.rows(np.array([3, 4])).sum() == 0  # items 3 and 4 have no text yet
    assert v.has_text(np.arange(6)).tolist() == [True, True, True, False, False, True]
    fp = v.fingerprints(np.arange(6))
    assert fp[5] != fp[0] and fp[3] == 0
    v.set(1, np.array([0, 0, 1, 0], np.float32))  # a changed item: its new vector wins
    assert v.rows(np.array([1]))[0].tolist() == [0, 0, 1, 0]


def test_profile_is_the_normalised_weighted_mean() -> None:
    v = ItemVectors(np.eye(2, dtype=np.float32))
    p = v.profile(np.array([0, 1]), np.array([3.0, 4.0], np.float32))
    assert p is not None
    np.testing.assert_allclose(p, [0.6, 0.8], rtol=1e-6)
    assert v.profile(np.zeros(0, np.int64), np.zeros(0, np.float32)) is None


def test_the_cache_encodes_each_text_once_across_runs(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def encode(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return np.ones((len(texts), 2), np.float32)

    catalog = [Item("1", "A"), Item("2", "B", genres=("Drama",))]
    cache = EmbeddingCache(tmp_path / "c.npz")
    embed_catalog(catalog, encode, "r", cache, dim=2)
    cache.save()
    again = EmbeddingCache(tmp_path / "c.npz")
    out = embed_catalog([*catalog, Item("3", "C")], encode, "r", again, dim=2)
    assert calls == [["A", "B. Genres: Drama"], ["C"]]
    assert out.shape == (3, 2)
    # another runtime is another cache entry
    embed_catalog(catalog[:1], encode, "other", again, dim=2)
    assert calls[-1] == ["A"]
