"""The Recommender interface every model implements, and the shared top-k helper."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from liverec.core.errors import ConfigError, LiverecError, NotFittedError
from liverec.data.interactions import Histories, Interactions

IntArray = NDArray[np.int64]
ScoreArray = NDArray[np.float32]


class Recommender(ABC):
    """Fit on interactions, score users or live histories, find similar items, save and load.

    Subclasses declare ``name`` and a ``Config`` dataclass (all fields with defaults), keep
    their learned state in numpy arrays listed by ``_state`` and restore it in ``_restore``.
    """

    name: ClassVar[str]
    Config: ClassVar[type[Any]]

    def __init__(self, config: Any | None = None) -> None:
        self.config = config if config is not None else self.Config()
        if not isinstance(self.config, self.Config):
            raise ConfigError(
                f"{self.name} expects a {self.Config.__name__}, got {type(self.config).__name__}"
            )
        self.n_items = 0
        self._histories: Histories | None = None

    @classmethod
    def from_params(cls, params: dict[str, Any] | None = None) -> Self:
        """Build with config overrides, rejecting unknown parameter names."""
        params = params or {}
        known = {f.name for f in fields(cls.Config)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ConfigError(
                f"{cls.name} has no parameter {', '.join(unknown)}; expected one of "
                f"{', '.join(sorted(known))}"
            )
        return cls(cls.Config(**params))

    # --- training -------------------------------------------------------------------------
    def fit(self, data: Interactions) -> Self:
        """Learn from ``data``; users and items are the indices of ``data``."""
        self.n_items = data.n_items
        self._histories = data.histories()
        self._fit(data)
        return self

    @abstractmethod
    def _fit(self, data: Interactions) -> None: ...

    # --- inference ------------------------------------------------------------------------
    @property
    def histories(self) -> Histories:
        """Training histories (one row per training user)."""
        if self._histories is None:
            raise NotFittedError(f"{self.name} is not fitted; call fit() or load() first")
        return self._histories

    def score(self, users: IntArray) -> ScoreArray:
        """Scores (len(users) x n_items) for users seen in ``fit``; higher is better."""
        return self.score_histories(self.histories.take(np.asarray(users, np.int64)))

    @abstractmethod
    def score_histories(self, histories: Histories) -> ScoreArray:
        """Scores (len(histories) x n_items) for arbitrary item histories (fold-in)."""

    @abstractmethod
    def similar_items(self, items: IntArray, k: int) -> tuple[IntArray, ScoreArray]:
        """The ``k`` most similar items to each of ``items`` (itself excluded): ids and scores."""

    # --- persistence ----------------------------------------------------------------------
    @abstractmethod
    def _state(self) -> dict[str, NDArray[Any]]: ...

    @abstractmethod
    def _restore(self, state: dict[str, NDArray[Any]]) -> None: ...

    def save(self, directory: Path) -> None:
        """Write config and learned arrays to ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        h = self.histories
        meta = {"model": self.name, "n_items": self.n_items, "config": asdict(self.config)}
        (directory / "model.json").write_text(json.dumps(meta, indent=2))
        sparse = {k: v for k, v in self._state().items() if sp.issparse(v)}
        dense = {k: v for k, v in self._state().items() if not sp.issparse(v)}
        arrays: dict[str, Any] = {"_indptr": h.indptr, "_items": h.items, "_ts": h.ts, **dense}
        np.savez(directory / "state.npz", **arrays)
        for key, matrix in sparse.items():
            sp.save_npz(directory / f"{key}.npz", sp.csr_matrix(matrix))

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Read a model written by ``save``.

        Raises
        ------
        LiverecError
            If the folder holds another model or no model.
        """
        path = directory / "model.json"
        if not path.exists():
            raise LiverecError(f"no saved model in {directory}")
        meta = json.loads(path.read_text())
        if meta["model"] != cls.name:
            raise LiverecError(f"{directory} holds a {meta['model']!r} model, not {cls.name!r}")
        model = cls(cls.Config(**meta["config"]))
        model.n_items = int(meta["n_items"])
        with np.load(directory / "state.npz") as z:
            state: dict[str, Any] = {k: z[k] for k in z.files}
        model._histories = Histories(
            state.pop("_indptr"), state.pop("_items"), state.pop("_ts"), model.n_items
        )
        for f in directory.glob("*.npz"):
            if f.name != "state.npz":
                state[f.stem] = sp.load_npz(f).tocsr()
        model._restore(state)
        return model


def top_k(
    scores: NDArray[np.floating[Any]], k: int, exclude: sp.csr_matrix | None = None
) -> tuple[IntArray, ScoreArray]:
    """Best ``k`` columns per row, highest first (ties: lower index first).

    ``exclude`` (same shape, nonzero = excluded) removes e.g. already-seen items.

    >>> items, _ = top_k(np.array([[0.1, 0.9, 0.5, 0.9]]), k=3)
    >>> items.tolist()
    [[1, 3, 2]]
    """
    s = np.array(scores, dtype=np.float32, copy=True)
    if exclude is not None and exclude.nnz:
        ex = exclude.tocoo()
        s[ex.row, ex.col] = -np.inf
    n_rows, n_cols = s.shape
    k = min(k, n_cols)
    if k < n_cols:
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols)).copy()
    part_scores = np.take_along_axis(s, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    items = np.take_along_axis(part, order, axis=1).astype(np.int64)
    return items, np.take_along_axis(part_scores, order, axis=1)


def cosine_neighbours(
    vectors: NDArray[np.floating[Any]], items: IntArray, k: int
) -> tuple[IntArray, ScoreArray]:
    """Top-``k`` cosine neighbours of ``items`` among the rows of ``vectors`` (self excluded)."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1)
    unit = v / np.maximum(norms, 1e-12)[:, None]
    sims = unit[items] @ unit.T
    sims[np.arange(len(items)), items] = -np.inf
    return top_k(sims, k)
