"""Item-pair increments since the snapshot, kept as sorted runs (a small log-structured merge).

Every event adds weights for a bounded number of pairs (the new item against the user's last
few distinct items, both directions). They land in an unsorted buffer; a full buffer becomes a
sorted run (by row, then column, duplicates summed), and runs of similar size merge, so a row
is found by a binary search in each of about log2(total / buffer) runs plus one scan of the
small buffer. Everything is flat numpy arrays.

Memory is bounded by ``max_pairs``: past it, further increments are dropped (and counted) until
the next snapshot folds the events into the neighbour lists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class _Run:
    """Pairs sorted by (row, col), one entry per pair."""

    rows: NDArray[np.int32]
    cols: NDArray[np.int32]
    vals: NDArray[np.float32]

    def __len__(self) -> int:
        return len(self.rows)


def _sorted_run(rows: IntArray, cols: IntArray, vals: NDArray[np.float32]) -> _Run:
    """Sort by (row, col) and sum repeated pairs."""
    key = rows.astype(np.int64) << 32 | cols.astype(np.int64)
    order = np.argsort(key, kind="stable")  # stable: a run of sorted runs merges in O(n)
    key = key[order]
    first = np.ones(len(key), bool)
    first[1:] = key[1:] != key[:-1]
    starts = np.flatnonzero(first)
    summed = np.add.reduceat(vals[order], starts) if len(starts) else vals[:0]
    k = key[starts]
    return _Run(
        (k >> 32).astype(np.int32), (k & 0xFFFFFFFF).astype(np.int32), summed.astype(np.float32)
    )


class PairLog:
    """Increments ``delta(row, col)`` with row lookups that never scan everything."""

    def __init__(self, buffer_size: int = 65_536, max_pairs: int = 50_000_000) -> None:
        self.buffer_size = buffer_size
        self.max_pairs = max_pairs
        self._runs: list[_Run] = []
        self._rows = np.zeros(buffer_size, np.int32)
        self._cols = np.zeros(buffer_size, np.int32)
        self._vals = np.zeros(buffer_size, np.float32)
        self._n = 0
        self.dropped = 0

    def __len__(self) -> int:
        return sum(len(r) for r in self._runs) + self._n

    @property
    def runs(self) -> int:
        """Sorted runs currently kept (besides the buffer)."""
        return len(self._runs)

    def add(self, rows: IntArray, cols: IntArray, vals: NDArray[np.floating]) -> None:
        """Add ``vals`` to the pairs (rows[k], cols[k])."""
        n = len(rows)
        if not n:
            return
        if len(self) + n > self.max_pairs:
            if not self.dropped:
                log.warning(
                    "pair log full (%d pairs): new co-occurrences wait for a retrain", len(self)
                )
            self.dropped += n
            return
        start = 0
        while start < n:
            take = min(n - start, self.buffer_size - self._n)
            sl = slice(self._n, self._n + take)
            self._rows[sl] = rows[start : start + take]
            self._cols[sl] = cols[start : start + take]
            self._vals[sl] = vals[start : start + take]
            self._n += take
            start += take
            if self._n == self.buffer_size:
                self._flush()

    def _flush(self) -> None:
        n = self._n
        run = _sorted_run(
            self._rows[:n].astype(np.int64), self._cols[:n].astype(np.int64), self._vals[:n].copy()
        )
        runs = [*self._runs, run]
        # merge while the newest run is at least half the size of the one before it
        while len(runs) > 1 and len(runs[-1]) * 2 >= len(runs[-2]):
            b, a = runs.pop(), runs.pop()
            runs.append(
                _sorted_run(
                    np.concatenate([a.rows, b.rows]).astype(np.int64),
                    np.concatenate([a.cols, b.cols]).astype(np.int64),
                    np.concatenate([a.vals, b.vals]),
                )
            )
        self._runs = runs  # readers holding the old list still see a consistent one
        self._n = 0

    def rows(self, items: IntArray) -> tuple[IntArray, IntArray, NDArray[np.float32]]:
        """Every increment in the rows ``items``: (position in ``items``, col, value).

        A pair may appear once per run; callers sum by (position, col).
        """
        items = np.asarray(items, np.int64)
        pos_parts, col_parts, val_parts = [], [], []
        for run in self._runs:
            lo = np.searchsorted(run.rows, items, side="left")
            hi = np.searchsorted(run.rows, items, side="right")
            lengths = hi - lo
            if not lengths.any():
                continue
            idx = np.repeat(lo - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
            pos_parts.append(np.repeat(np.arange(len(items)), lengths))
            col_parts.append(run.cols[idx].astype(np.int64))
            val_parts.append(run.vals[idx])
        n = self._n
        if n:
            buf_rows = self._rows[:n]
            hit = np.flatnonzero(np.isin(buf_rows, items))
            if len(hit):
                order = np.argsort(items, kind="stable")
                where = order[np.searchsorted(items[order], buf_rows[hit])]
                pos_parts.append(where.astype(np.int64))
                col_parts.append(self._cols[hit].astype(np.int64))
                val_parts.append(self._vals[hit])
        if not pos_parts:
            empty = np.zeros(0, np.int64)
            return empty, empty, np.zeros(0, np.float32)
        return np.concatenate(pos_parts), np.concatenate(col_parts), np.concatenate(val_parts)
