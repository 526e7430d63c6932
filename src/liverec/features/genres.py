"""Genre/tag membership of catalog items, for filters, diversity and explanations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from liverec.data.dataset import Item


class GenreIndex:
    """Items x genres membership over a catalog, rebuilt when the catalog version changes.

    Kept dense (float32) as well as sparse: per request the pipeline gathers a few dozen rows,
    and numpy row gathers cost a fraction of scipy's sparse fancy indexing.
    """

    def __init__(self) -> None:
        self._version = -1
        self.names: dict[str, int] = {}
        self.matrix = sp.csr_matrix((0, 0), dtype=np.float32)
        self.dense = np.zeros((0, 0), np.float32)
        self.sizes = np.zeros(0, np.float32)
        self.combo = np.zeros(0, np.int64)
        self.combo_jaccard = np.zeros((0, 0), np.float32)

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
        self.dense = self.matrix.toarray()
        self.sizes = self.dense.sum(axis=1)
        # Items share few distinct genre sets (216 on ML-100K): their pairwise Jaccard table
        # is tiny, so a request looks similarities up instead of computing them.
        combos, self.combo = np.unique(self.dense, axis=0, return_inverse=True)
        self.combo = self.combo.ravel().astype(np.int64)
        self.combo_jaccard = jaccard_matrix(combos)
        self.names = names
        self._version = version

    def pairwise(self, items: NDArray[np.int64]) -> NDArray[np.float32]:
        """Jaccard similarity of the genre sets of ``items``, pairwise (len x len)."""
        c = self.combo[items]
        return self.combo_jaccard[c[:, None], c[None, :]]

    def mask(self, genres: Iterable[str]) -> NDArray[np.bool_]:
        """Items having at least one of ``genres`` (case-insensitive); unknown genres match none."""
        cols = [self.names[g.lower()] for g in genres if g.lower() in self.names]
        if not cols:
            return np.zeros(self.dense.shape[0], bool)
        return np.asarray(self.dense[:, cols].sum(axis=1) > 0)


def jaccard_matrix(rows: NDArray[np.float32]) -> NDArray[np.float32]:
    """Pairwise Jaccard similarity of binary rows; two empty rows count as identical.

    >>> jaccard_matrix(np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]], np.float32)).tolist()
    [[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    sizes = rows.sum(axis=1)
    inter = rows @ rows.T
    union = sizes[:, None] + sizes[None, :] - inter
    sim: NDArray[np.float32] = np.divide(
        inter, union, out=np.ones_like(inter), where=union > 0
    ).astype(np.float32)
    return sim
