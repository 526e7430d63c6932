from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from liverec.features.fingerprint import (
    hamming,
    hyperplanes,
    is_near_duplicate,
    near_duplicates,
    simhash,
)
from liverec.serving.snapshot import Snapshot


def test_identical_vectors_share_a_fingerprint_and_opposite_ones_differ_everywhere() -> None:
    planes = hyperplanes(8, bits=64, seed=1)
    v = np.random.default_rng(0).standard_normal((1, 8))
    a, b, c = simhash(np.vstack([v, 3 * v, -v]), planes)
    assert a == b and int(hamming(a, c)) == 64


def test_banding_finds_exactly_the_pairs_a_brute_force_finds() -> None:
    rng = np.random.default_rng(2)
    base = rng.standard_normal((60, 16))
    near = base[:20] + 0.01 * rng.standard_normal((20, 16))  # 20 planted near-duplicates
    fp = simhash(np.vstack([base, near]), hyperplanes(16))
    brute = {(i, j) for i, j in combinations(range(80), 2) if int(hamming(fp[i], fp[j])) <= 3}
    found = {(p.first, p.second) for p in near_duplicates(fp, max_distance=3)}
    assert found == brute
    assert {(i, 60 + i) for i in range(20)} <= found


def test_a_distance_the_bands_cannot_guarantee_is_refused() -> None:
    with pytest.raises(ValueError, match="must be below bands"):
        near_duplicates(np.zeros(3, np.uint64), max_distance=8, bands=8)


def test_candidates_close_to_a_chosen_item_are_flagged() -> None:
    chosen = np.array([0b1111], np.uint64)
    cands = np.array([0b1110, 0b0000, 0b1111], np.uint64)
    assert is_near_duplicate(cands, chosen, 1).tolist() == [True, False, True]


@pytest.mark.slow
def test_the_18_re_listed_films_of_ml100k_and_nothing_else(snapshot: Snapshot) -> None:
    fingerprints = np.load(snapshot.components["text"].directory / "fingerprints.npy")
    pairs = near_duplicates(fingerprints, max_distance=3)
    catalog = snapshot.data.catalog
    titles = {(catalog[p.first].display_title, catalog[p.second].display_title) for p in pairs}
    assert len(pairs) == 18
    assert all(a == b for a, b in titles)  # same title and year: the same film twice
    assert ("Chasing Amy (1997)", "Chasing Amy (1997)") in titles
