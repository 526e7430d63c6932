"""Textbook user-based CF: cosine similarity to every user, similarity-weighted average.

This is the naive reference: it recomputes similarities against the full user x item matrix for
every scored user, exactly as the classic formulation does, so the live pipeline has an honest
baseline to be compared against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from liverec.data.interactions import Histories, Interactions
from liverec.models.base import IntArray, Recommender, ScoreArray, requires_fit, top_k

SEARCH_SPACE: dict[str, list[Any]] = {"neighbours": [5, 10, 20, 30, 50, 100]}


@dataclass(frozen=True)
class UserCFConfig:
    """``neighbours``: how many most-similar users vote (all users when 0)."""

    neighbours: int = 20


class UserCF(Recommender):
    """pred(u, i) = sum_v sim(u, v) r(v, i) / sum_v |sim(u, v)| over u's top neighbours."""

    name: ClassVar[str] = "usercf"
    Config: ClassVar[type[Any]] = UserCFConfig

    def _fit(self, data: Interactions) -> None:
        self._set_matrix(data.to_csr())

    def _set_matrix(self, matrix: sp.csr_matrix) -> None:
        self.matrix = matrix.astype(np.float32).tocsr()
        self.norms = np.sqrt(np.asarray(self.matrix.multiply(self.matrix).sum(axis=1)).ravel())

    @requires_fit
    def score(self, users: IntArray) -> ScoreArray:
        """Scores for training users; a user is never their own neighbour."""
        users = np.asarray(users, np.int64)
        return self._score(self.matrix[users], self_users=users)

    @requires_fit
    def score_histories(self, histories: Histories) -> ScoreArray:
        """Scores for arbitrary histories, compared against all training users."""
        return self._score(histories.to_csr(), self_users=None)

    def _score(self, rows: sp.csr_matrix, self_users: IntArray | None) -> ScoreArray:
        row_norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
        dots = (rows @ self.matrix.T).toarray()  # (B, n_users)
        sims = dots / np.maximum(np.outer(row_norms, self.norms), 1e-12)
        if self_users is not None:
            sims[np.arange(len(self_users)), self_users] = 0.0
        k = self.config.neighbours
        if 0 < k < sims.shape[1]:
            cut = np.partition(sims, -k, axis=1)[:, -k][:, None]
            sims = np.where(sims >= cut, sims, 0.0)
        weights = np.abs(sims).sum(axis=1, keepdims=True)
        scores = np.asarray(self.matrix.T @ sims.T.astype(np.float32)).T  # (B, n_items)
        out: ScoreArray = (scores / np.maximum(weights, 1e-12)).astype(np.float32)
        return out

    @requires_fit
    def similar_items(self, items: IntArray, k: int) -> tuple[IntArray, ScoreArray]:
        """Items whose user sets are most similar (cosine) to each query item's."""
        cols = self.matrix.T.tocsr()
        norms = np.sqrt(np.asarray(cols.multiply(cols).sum(axis=1)).ravel())
        q = cols[np.asarray(items, np.int64)]
        sims = (q @ cols.T).toarray() / np.maximum(np.outer(norms[items], norms), 1e-12)
        sims[np.arange(len(items)), items] = -np.inf
        return top_k(sims, k)

    def _state(self) -> dict[str, Any]:
        return {"matrix": self.matrix}

    def _restore(self, state: dict[str, Any]) -> None:
        self._set_matrix(state["matrix"])
