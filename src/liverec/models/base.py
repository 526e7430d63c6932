"""The Recommender interface every model implements, and the shared top-k helper."""

from __future__ import annotations

import functools
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ClassVar, Concatenate, ParamSpec, Self, TypeVar

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from liverec.core.errors import ConfigError, LiverecError, NotFittedError
from liverec.core.types import ScoredItem
from liverec.data.dataset import Dataset
from liverec.data.idmap import IdMap
from liverec.data.interactions import Histories, Interactions

IntArray = NDArray[np.int64]
ScoreArray = NDArray[np.float32]

_Model = TypeVar("_Model", bound="Recommender")
_Params = ParamSpec("_Params")
_Result = TypeVar("_Result")


def requires_fit(
    method: Callable[Concatenate[_Model, _Params], _Result],
) -> Callable[Concatenate[_Model, _Params], _Result]:
    """Make ``method`` raise NotFittedError (not AttributeError) before ``fit`` or ``load``."""

    @functools.wraps(method)
    def checked(self: _Model, /, *args: _Params.args, **kwargs: _Params.kwargs) -> _Result:
        self.require_fitted()
        return method(self, *args, **kwargs)

    return checked


class Recommender(ABC):
    """Fit on interactions, score users or live histories, find similar items, save and load.

    Subclasses declare ``name`` and a ``Config`` dataclass (all fields with defaults), keep
    their learned state in numpy arrays listed by ``_state`` and restore it in ``_restore``,
    and mark the methods that read learned state with ``requires_fit``. Fitted on a
    ``Dataset``, a model also answers on raw ids (``recommend``, ``similar``).
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
        self._user_map: IdMap | None = None
        self._item_map: IdMap | None = None

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

    def fit(self, data: Interactions | Dataset) -> Self:
        """Learn from ``data``; users and items are the indices of its interactions.

        A ``Dataset`` also gives the model its id maps, so that ``recommend`` and ``similar``
        take and return raw ids.
        """
        if isinstance(data, Dataset):
            self._user_map, self._item_map = data.users, data.items
            data = data.interactions
        else:
            self._user_map = self._item_map = None
        self.n_items = data.n_items
        self._histories = data.histories()
        self._fit(data)
        return self

    @abstractmethod
    def _fit(self, data: Interactions) -> None: ...

    @property
    def histories(self) -> Histories:
        """Training histories (one row per training user).

        Raises
        ------
        NotFittedError
            Before ``fit`` or ``load``.
        """
        if self._histories is None:
            raise NotFittedError(f"{self.name} is not fitted; call fit() or load() first")
        return self._histories

    def require_fitted(self) -> None:
        """Raise NotFittedError unless the model was fitted or loaded."""
        _ = self.histories

    def id_maps(self) -> tuple[IdMap, IdMap]:
        """The (users, items) id maps of the training dataset.

        Raises
        ------
        NotFittedError
            Before ``fit`` or ``load``.
        LiverecError
            If the model was fitted on bare ``Interactions`` (it knows indices, not raw ids).
        """
        self.require_fitted()
        if self._user_map is None or self._item_map is None:
            raise LiverecError(
                f"{self.name} knows no raw ids: it was fitted on Interactions; fit it on a "
                "Dataset to use recommend() and similar()"
            )
        return self._user_map, self._item_map

    @requires_fit
    def score(self, users: IntArray) -> ScoreArray:
        """Scores (len(users) x n_items) for users seen in ``fit``; higher is better."""
        return self.score_histories(self.histories.take(np.asarray(users, np.int64)))

    @abstractmethod
    def score_histories(self, histories: Histories) -> ScoreArray:
        """Scores (len(histories) x n_items) for arbitrary item histories (fold-in)."""

    @abstractmethod
    def similar_items(self, items: IntArray, k: int) -> tuple[IntArray, ScoreArray]:
        """The ``k`` most similar items to each of ``items`` (itself excluded): ids and scores."""

    def recommend(
        self,
        user_ids: Sequence[str],
        k: int = 10,
        exclude_seen: bool = True,
        items: Sequence[str] | None = None,
    ) -> list[list[ScoredItem]]:
        """The ``k`` best items for each training user, on raw ids, best first.

        Ties go to the item earlier in the id map. A user gets fewer than ``k`` items when
        fewer are left to rank.

        Parameters
        ----------
        user_ids
            Raw ids of users seen in ``fit``; one answer per id, in this order.
        k
            How many items per user.
        exclude_seen
            Leave out the items each user interacted with in the training data.
        items
            Rank only these raw item ids (all items when None).

        Raises
        ------
        NotFittedError
            Before ``fit`` or ``load``.
        LiverecError
            If the model was fitted on bare ``Interactions`` (no raw ids), or ``k`` < 1.
        UnknownIdError
            Naming the first user or item id the training dataset does not hold.

        Examples
        --------
        >>> from liverec.data.dataset import Dataset, Item
        >>> from liverec.models.popular import Popularity
        >>> seen = Interactions.from_arrays([0, 0, 1], [0, 1, 1], n_users=2, n_items=3)
        >>> users, items = IdMap(["ann", "bob"]), IdMap(["x", "y", "z"])
        >>> data = Dataset("toy", users, items, seen, [Item(i, title=i) for i in "xyz"])
        >>> Popularity().fit(data).recommend(["bob"], k=2)
        [[ScoredItem(item_id='x', score=1.0), ScoredItem(item_id='z', score=0.0)]]
        """
        if k < 1:
            raise LiverecError(f"k must be at least 1, got {k}")
        user_map, item_map = self.id_maps()
        uidx = user_map.indices(user_ids)
        if items is None:
            candidates = np.arange(self.n_items, dtype=np.int64)
        else:
            candidates = np.unique(item_map.indices(items))
        scores = self.score(uidx)[:, candidates]
        seen = self.histories.take(uidx).seen[:, candidates] if exclude_seen else None
        best, best_scores = top_k(scores, k, exclude=seen)
        return scored_items(item_map, candidates[best], best_scores)

    def similar(self, item_ids: Sequence[str], k: int = 10) -> list[list[ScoredItem]]:
        """The ``k`` items most similar to each of ``item_ids`` (itself excluded), raw ids.

        Raises
        ------
        NotFittedError
            Before ``fit`` or ``load``.
        LiverecError
            If the model was fitted on bare ``Interactions`` (no raw ids), or ``k`` < 1.
        UnknownIdError
            Naming the first item id the training dataset does not hold.
        """
        if k < 1:
            raise LiverecError(f"k must be at least 1, got {k}")
        _, item_map = self.id_maps()
        neighbours, scores = self.similar_items(item_map.indices(item_ids), k)
        return scored_items(item_map, neighbours, scores)

    @abstractmethod
    def _state(self) -> dict[str, NDArray[Any]]: ...

    @abstractmethod
    def _restore(self, state: dict[str, NDArray[Any]]) -> None: ...

    def save(self, directory: Path) -> None:
        """Write config, learned arrays and the id maps (when fitted on a Dataset)."""
        h = self.histories
        directory.mkdir(parents=True, exist_ok=True)
        if self._user_map is not None and self._item_map is not None:
            self._user_map.save(directory, "users")
            self._item_map.save(directory, "items")
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
        if (directory / "users.arrow").exists():  # models saved before id maps were kept lack it
            model._user_map = IdMap.load(directory, "users", kind="user")
            model._item_map = IdMap.load(directory, "items", kind="item")
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


def scored_items(
    item_map: IdMap, iidx: IntArray, scores: NDArray[np.floating[Any]]
) -> list[list[ScoredItem]]:
    """Rows of item indices and scores as raw-id ScoredItems; -inf (excluded) entries dropped."""
    out: list[list[ScoredItem]] = []
    for row, row_scores in zip(iidx, scores, strict=True):
        keep = np.isfinite(row_scores)
        raw = item_map.raws(row[keep])
        out.append([ScoredItem(i, float(s)) for i, s in zip(raw, row_scores[keep], strict=True)])
    return out


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
