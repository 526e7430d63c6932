"""The live catalog: snapshot columns plus upserts, read as items and genre codes."""

from __future__ import annotations

import numpy as np

from liverec.data.catalog import Catalog, Item
from liverec.data.idmap import IdMap
from liverec.features.catalog_store import LiveCatalog

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


def test_genres_are_codes_matched_case_insensitively() -> None:
    c = live()
    c.upsert(Item("d", "Dune", 2021, ("sci-fi",)))
    m = c.genre_matrix(np.array([0, 1, 2, 3]))
    assert m.sum(axis=1).tolist() == [2, 0, 1, 1]
    assert (m[0] * m[3]).sum() == 1  # Alien and Dune share "sci-fi"
    assert c.in_genres(np.array([0, 1, 2, 3]), ["SCI-FI"]).tolist() == [True, False, False, True]
    assert not c.in_genres(np.array([0]), ["Western"]).any()
