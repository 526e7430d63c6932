from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute
import pytest

from liverec.core.errors import UnknownIdError
from liverec.data.idmap import IdMap, IdMapBuilder, fnv1a, fnv1a_array


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


def test_a_builder_numbers_ids_in_first_seen_order_across_batches() -> None:
    b = IdMapBuilder("user", merge_at=3)
    assert b.add(pa.array(["b", "a", "b", "c"])).tolist() == [0, 1, 0, 2]
    assert b.add(pa.array(["d", "a", "e", "f", "g"])).tolist() == [3, 1, 4, 5, 6]
    assert b.lookup(pa.array(["g", "zz", "b"])).tolist() == [6, -1, 0]
    m = b.finish()
    assert m.raw_ids == ("b", "a", "c", "d", "e", "f", "g") and m.index("e") == 4


def test_hash_collisions_never_merge_two_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    import liverec.data.idmap as idmap

    def weak(strings: pa.Array) -> np.ndarray:  # every id of one length collides
        lengths = pa.compute.utf8_length(strings).to_numpy(zero_copy_only=False)
        return lengths.astype(np.uint64)

    monkeypatch.setattr(idmap, "fnv1a_array", weak)
    monkeypatch.setattr(idmap, "fnv1a", lambda s: len(s.decode() if isinstance(s, bytes) else s))
    b = IdMapBuilder("item", merge_at=2)
    assert b.add(pa.array(["ab", "cd", "ab"])).tolist() == [0, 1, 0]
    assert b.add(pa.array(["ef", "cd", "x"])).tolist() == [2, 1, 3]
    m = b.finish()
    assert [m.index(s) for s in ("ab", "cd", "ef", "x")] == [0, 1, 2, 3]
    assert m.get("gh") is None
    plain = IdMap(["ab", "cd", "ef"], kind="item")
    assert plain.indices(["ef", "ab"]).tolist() == [2, 0]
    with pytest.raises(ValueError, match="appears twice"):
        IdMap(["ab", "cd", "ab"])


def test_scalar_and_vector_hashes_agree() -> None:
    ids = ["", "a", "user-12345", "é", "日本", "x" * 300]
    assert fnv1a_array(pa.array(ids)).tolist() == [fnv1a(s) for s in ids]
    sliced = pa.array(["zz", *ids]).slice(1)  # an array with an offset
    assert fnv1a_array(sliced).tolist() == [fnv1a(s) for s in ids]
