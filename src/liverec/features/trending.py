"""Time-decayed popularity ("trending"): each event adds 1, halving every ``half_life`` seconds."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray


class Trending:
    """Exponentially decayed event counts per item, updated in O(batch) per event batch.

    Scores are kept relative to a reference time that moves forward with the events, so
    decades-old timestamps (MovieLens) and current ones both stay in floating-point range.
    """

    def __init__(self, n_items: int, half_life: float) -> None:
        if half_life <= 0:
            raise ValueError(f"half_life must be > 0 seconds, got {half_life}")
        self.rate = math.log(2.0) / half_life
        self.half_life = half_life
        self.scores = np.zeros(n_items, np.float64)
        self.ref_time = -math.inf
        self.latest = -math.inf
        self.version = 0
        self._ranking: tuple[int, int, NDArray[np.int64]] | None = None

    def grow(self, n_items: int) -> None:
        """Extend to ``n_items`` items (new ones start at zero)."""
        if n_items > len(self.scores):
            self.scores = np.concatenate([self.scores, np.zeros(n_items - len(self.scores))])
            self.version += 1

    def ranking(self, depth: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The ``depth`` best items with a positive score, best first, and all scores.

        Sorted once per change (an event batch), not once per request.
        """
        cached = self._ranking
        if cached is None or cached[0] != self.version or cached[1] != depth:
            s = self.scores
            k = min(depth, int(np.count_nonzero(s > 0)))
            part = np.argpartition(-s, k - 1)[:k] if k > 0 else np.zeros(0, np.int64)
            order = part[np.argsort(-s[part], kind="stable")].astype(np.int64)
            cached = self._ranking = (self.version, depth, order)
        return cached[2], self.scores

    def add(self, items: NDArray[np.int64], ts: NDArray[np.float64]) -> None:
        """Count events on ``items`` at times ``ts`` (seconds)."""
        if not len(items):
            return
        newest = float(np.max(ts))
        if newest > self.ref_time:
            # Move the reference forward: rescale what is stored to the new reference time.
            if math.isfinite(self.ref_time):
                self.scores *= math.exp(-self.rate * (newest - self.ref_time))
            self.ref_time = newest
        self.latest = max(self.latest, newest)
        np.add.at(self.scores, items, np.exp(self.rate * (np.asarray(ts) - self.ref_time)))
        self.version += 1

    def current(self) -> NDArray[np.float64]:
        """Decayed counts as of the latest event seen (newest events weigh 1)."""
        return self.scores

    def top(self, k: int, exclude: NDArray[np.int64] | None = None) -> NDArray[np.int64]:
        """The ``k`` most trending items with a positive score, best first."""
        s = self.scores.copy()
        if exclude is not None and len(exclude):
            s[exclude] = 0.0
        k = min(k, int((s > 0).sum()))
        if k <= 0:
            return np.zeros(0, np.int64)
        part = np.argpartition(-s, k - 1)[:k]
        return part[np.argsort(-s[part], kind="stable")].astype(np.int64)
