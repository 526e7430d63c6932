"""The pair log answers row lookups like a dictionary of increments, across flushes and merges."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from liverec.features.pairs import PairLog


def totals(log: PairLog, rows: list[int]) -> dict[tuple[int, int], float]:
    pos, cols, vals = log.rows(np.asarray(rows, np.int64))
    out: dict[tuple[int, int], float] = defaultdict(float)
    for p, c, v in zip(pos.tolist(), cols.tolist(), vals.tolist(), strict=True):
        out[rows[p], c] += v
    return dict(out)


def test_row_lookups_match_a_dictionary_of_increments() -> None:
    rng = np.random.default_rng(0)
    log = PairLog(buffer_size=16)
    oracle: dict[tuple[int, int], float] = defaultdict(float)
    for _ in range(300):
        n = int(rng.integers(1, 9))
        rows = rng.integers(0, 30, n)
        cols = rng.integers(0, 30, n)
        vals = rng.random(n).astype(np.float32)
        log.add(rows, cols, vals)
        for r, c, v in zip(rows.tolist(), cols.tolist(), vals.tolist(), strict=True):
            oracle[r, c] += v
    assert log.runs < 10  # runs merged as they grew
    query = [3, 7, 29, 11]
    expected = {k: v for k, v in oracle.items() if k[0] in query}
    got = totals(log, query)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert abs(got[key] - value) < 1e-4


def test_past_its_budget_the_log_drops_and_counts() -> None:
    log = PairLog(buffer_size=4, max_pairs=6)
    log.add(np.arange(6), np.arange(6), np.ones(6, np.float32))
    log.add(np.array([1]), np.array([2]), np.ones(1, np.float32))
    assert len(log) == 6 and log.dropped == 1
