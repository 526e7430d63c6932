"""The live catalog: snapshot columns plus upserts, read as items and genre codes."""

from __future__ import annotations

import numpy as np

from liverec.data.catalog import Catalog, Item
from liverec.data.idmap import IdMap
from liverec.features.catalog_store import LiveCatalog
from liverec.features.genres import jaccard_matrix

BASE = [
    Item("a", "Alien", 1979, ("Horror", "Sci-Fi")),
    Item("b", "Heat"),
    Item("c", "Up", 2009, ("Family",)),
]


def live() -> LiveCatalog:
    return LiveCatalog(Catalog.from_items(BASE), IdMap([it.item_id for it in BASE], kind="item"))


def test_upserts_change_or_add_items_and_bump_the_version() -> None:
    c = live()
    assert c.items([2, 0]) == [BASE[2], BASE[0]]  # read from the columns (and cached)
    assert c.upsert(Item("a", "Aliens", 1986, ("Action",))) == (0, False)
    assert c.upsert(Item("d", "Dune", 2021, ("sci-fi",))) == (3, True)
    assert c.item(0).title == "Aliens" and c.items([0])[0].title == "Aliens"  # no stale copy
    assert len(c) == 4 and c.added().tolist() == [3] and c.version == 2


def test_years_follow_upserts_and_are_nan_where_unknown() -> None:
    c = live()
    np.testing.assert_array_equal(c.years(np.array([2, 1, 0])), [2009, np.nan, 1979])
    c.upsert(Item("a", "Aliens", 1986))
    c.upsert(Item("c", "Up", 0))  # 0 reads as unknown, as in displayed titles
    c.upsert(Item("d", "Dune", 2021))
    np.testing.assert_array_equal(c.years(np.array([0, 1, 2, 3])), [1986, np.nan, np.nan, 2021])


def test_genres_are_codes_matched_case_insensitively() -> None:
    c = live()
    c.upsert(Item("d", "Dune", 2021, ("sci-fi",)))
    m = c.genre_matrix(np.array([0, 1, 2, 3]))
    assert m.sum(axis=1).tolist() == [2, 0, 1, 1]
    assert (m[0] * m[3]).sum() == 1  # Alien and Dune share "sci-fi"
    assert c.in_genres(np.array([0, 1, 2, 3]), ["SCI-FI"]).tolist() == [True, False, False, True]
    assert not c.in_genres(np.array([0]), ["Western"]).any()


def test_genre_similarity_from_bit_masks_equals_the_matrix_jaccard() -> None:
    rng = np.random.default_rng(3)
    genres = [f"g{n}" for n in range(40)]
    items = [
        Item(str(i), f"t{i}", None, tuple(rng.choice(genres, rng.integers(0, 5), replace=False)))
        for i in range(300)
    ]
    c = LiveCatalog(Catalog.from_items(items), IdMap([it.item_id for it in items], kind="item"))
    c.upsert(Item("5", "changed", None, ("G1", "new genre")))  # its own codes, a new name
    c.upsert(Item("added", "added", None, ()))
    idx = np.r_[rng.choice(300, 60, replace=False), 5, 300]
    expected = jaccard_matrix(c.genre_matrix(idx))
    assert np.allclose(c.genre_similarity(idx), expected, atol=1e-6)
    assert c.genre_similarity(np.array([300, 300]))[0, 1] == 1.0  # two empty sets: identical


def test_genre_similarity_past_64_genres_uses_the_matrix() -> None:
    items = [Item(str(i), f"t{i}", None, (f"g{i}", "shared")) for i in range(70)]
    c = LiveCatalog(Catalog.from_items(items), IdMap([it.item_id for it in items], kind="item"))
    sim = c.genre_similarity(np.array([0, 69, 69]))
    third = float(np.float32(1 / 3))
    assert sim.tolist() == [[1.0, third, third], [third, 1.0, 1.0], [third, 1.0, 1.0]]
