from __future__ import annotations

import pytest

from liverec.core.errors import UnknownIdError
from liverec.data.idmap import IdMap


def test_raw_ids_round_trip_through_contiguous_indices() -> None:
    m = IdMap.from_values(["b", "a", "b", "c"], kind="item")
    assert m.raw_ids == ("b", "a", "c")
    assert m.indices(["c", "b"]).tolist() == [2, 0]
    assert m.raws([1, 2]) == ["a", "c"]
    assert len(m) == 3 and "a" in m and "z" not in m


def test_unknown_id_raises_naming_the_id_and_kind() -> None:
    m = IdMap(["1", "2"], kind="user")
    with pytest.raises(UnknownIdError, match="unknown user id '7'"):
        m.index("7")
    assert m.get("7") is None


def test_duplicate_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="'x' appears twice"):
        IdMap(["x", "y", "x"])


def test_extended_appends_only_new_ids_and_leaves_the_original_alone() -> None:
    m = IdMap(["a", "b"])
    m2 = m.extended(["b", "c", "c"])
    assert m2.raw_ids == ("a", "b", "c")
    assert m.raw_ids == ("a", "b")
