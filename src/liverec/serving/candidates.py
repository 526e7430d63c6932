"""The learned ranking stage: features of the fused candidates, scored by the snapshot's ranker.

Every feature is computed over the request's candidates only (a few hundred rows), from state
the pipeline already holds: what each channel said (its reciprocal rank and raw score), the
fused score and position, the components' ranking features (text similarity to the user's
profile and recent items, item-CF similarity to the recent items and how recent the most
similar one is, the transformer's score), item popularity, trend and release year, the user's
activity, genre overlap with the history, and how far the candidate's popularity and year sit
from those of the user's recent items. A feature that cannot be known for a request is NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from liverec.core.arrays import positions_in
from liverec.core.errors import LiverecError
from liverec.features.catalog_store import CatalogView
from liverec.features.histories import UserHistoryView
from liverec.features.itemstats import ItemStatsView
from liverec.features.request import Context, RankingFeature, Retrieved
from liverec.models.ranker import LearnedRanker
from liverec.serving.rerank import Fused

FloatMatrix = NDArray[np.float32]
PROFILE = 20  # history events the genre profile is taken over
# Item- and user-level features after the per-channel and ranking-feature columns.
TAIL = (
    "fused_score",
    "fused_position",
    "channels",
    "popularity",
    "trend",
    "user_events",
    "genre_overlap",
    "popularity_gap",
    "year",
    "year_gap",
)


@dataclass(frozen=True)
class CandidateSet:
    """One request's fused candidates (best first) and what each channel proposed."""

    ctx: Context
    fused: Fused
    retrieved: Mapping[str, Retrieved]


class CandidateFeatures:
    """Builds the candidate-feature matrix the learned ranker was trained on."""

    def __init__(
        self,
        channels: Sequence[str],
        features: Sequence[RankingFeature],
        histories: UserHistoryView,
        stats: ItemStatsView,
        catalog: CatalogView,
    ) -> None:
        self.channels = tuple(sorted(channels))
        self.features = list(features)
        self.histories, self.stats = histories, stats
        self.catalog = catalog
        per_channel = [f"{c}_{what}" for c in self.channels for what in ("rrank", "score")]
        self.names = (*per_channel, *(f.name for f in self.features), *TAIL)

    def matrix(self, cs: CandidateSet) -> FloatMatrix:
        """(candidates, len(names)) float32, rows in the fused order."""
        items = cs.fused.items
        out = np.full((len(items), len(self.names)), np.nan, np.float32)
        self._channels(cs, out)
        col = 2 * len(self.channels)
        for feature in self.features:
            values = feature(cs.ctx, items)
            if values is not None:
                out[:, col] = values
            col += 1
        self._tail(cs, out[:, col:], out[:, : 2 * len(self.channels) : 2])
        return out

    def _channels(self, cs: CandidateSet, out: FloatMatrix) -> None:
        """Each channel's reciprocal rank (0: it did not propose the candidate) and raw score;
        every channel's entries are looked up among the candidates in one pass."""
        out[:, 0 : 2 * len(self.channels) : 2] = 0.0
        lists = [
            (2 * j, got)
            for j, name in enumerate(self.channels)
            if (got := cs.retrieved.get(name)) is not None and len(got.items)
        ]
        if not lists:
            return
        proposed = np.concatenate([got.items for _, got in lists])
        rank = np.concatenate([np.arange(len(got.items)) for _, got in lists])
        column = np.repeat([col for col, _ in lists], [len(got.items) for _, got in lists])
        row, found = positions_in(cs.fused.items, proposed)
        row, column = row[found], column[found]
        out[row, column] = 1.0 / (1.0 + rank[found])
        out[row, column + 1] = np.concatenate([got.scores for _, got in lists])[found]

    def _tail(self, cs: CandidateSet, out: FloatMatrix, rranks: FloatMatrix) -> None:
        items, ctx = cs.fused.items, cs.ctx
        out[:, 0] = cs.fused.scores
        out[:, 1] = np.log1p(np.arange(len(items)))
        out[:, 2] = (rranks > 0).sum(axis=1)
        out[:, 3] = np.log1p(self.stats.item_weight(items))
        out[:, 4] = np.log1p(self.stats.trending_scores(items))
        out[:, 8] = self.catalog.years(items)
        if ctx.uidx is None:
            return
        out[:, 5] = np.log1p(self.histories.event_count(ctx.uidx))
        history = ctx.history.items[-PROFILE:]
        if not len(history):
            return
        genres = self.catalog.genre_matrix(items)
        profile = self.catalog.genre_matrix(history).mean(axis=0)
        out[:, 6] = (genres @ profile) / np.maximum(genres.sum(axis=1), 1.0)
        # How far a candidate sits from what this user usually takes, in popularity and in
        # release year: on the ML-100K validation split these two (with the year itself)
        # lifted the later groups' NDCG@10 by 2% (docs/results.md, "The learned ranker").
        out[:, 7] = out[:, 3] - np.log1p(self.stats.item_weight(history)).mean()
        years = self.catalog.years(history)
        if not np.isnan(years).all():
            out[:, 9] = out[:, 8] - np.nanmean(years)


class LearnedRanking:
    """The snapshot's ranker and the features it reads (a subset of those built here, checked
    when built)."""

    def __init__(self, ranker: LearnedRanker, features: CandidateFeatures) -> None:
        missing = sorted(set(ranker.names) - set(features.names))
        if missing:
            raise LiverecError(
                "the snapshot's ranker was trained on candidate features this service does "
                f"not build ({', '.join(missing)}); retrain the snapshot"
            )
        self.ranker = ranker
        self.features = features
        read = [features.names.index(name) for name in ranker.names]
        self.columns = None if read == list(range(len(features.names))) else np.asarray(read)

    def read(self, matrix: FloatMatrix) -> FloatMatrix:
        """The columns of a candidate-feature matrix the ranker reads, in its order."""
        return matrix if self.columns is None else matrix[:, self.columns]

    def scores(self, cs: CandidateSet) -> NDArray[np.float32]:
        """One score per fused candidate (higher first)."""
        return self.ranker.score(self.read(self.features.matrix(cs)))
