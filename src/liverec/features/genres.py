"""Genre/tag membership of catalog items, for filters, diversity and explanations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from liverec.data.dataset import Item


class GenreIndex:
    """Binary items x genres matrix over a catalog, rebuilt when the catalog version changes."""

    def __init__(self) -> None:
        self._version = -1
        self.names: dict[str, int] = {}
        self.matrix = sp.csr_matrix((0, 0), dtype=np.float32)

    def refresh(self, catalog: Sequence[Item], version: int) -> None:
        """Rebuild from ``catalog`` if ``version`` differs from the one last built."""
        if version == self._version:
            return
        names: dict[str, int] = {}
        rows, cols = [], []
        for i, item in enumerate(catalog):
            for g in item.genres:
                rows.append(i)
                cols.append(names.setdefault(g.lower(), len(names)))
        self.matrix = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(catalog), len(names))
        )
        self.names = names
        self._version = version

    def mask(self, genres: Iterable[str]) -> NDArray[np.bool_]:
        """Items having at least one of ``genres`` (case-insensitive); unknown genres match none."""
        cols = [self.names[g.lower()] for g in genres if g.lower() in self.names]
        if not cols:
            return np.zeros(self.matrix.shape[0], bool)
        return np.asarray(self.matrix[:, cols].sum(axis=1)).ravel() > 0
