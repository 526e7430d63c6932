"""Genre overlap: the similarity the diversity re-ranker and similar items use."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


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
