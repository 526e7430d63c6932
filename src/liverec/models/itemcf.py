"""Item-based CF on precomputed neighbour lists, scored with a recency-weighted history."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from liverec.core.arrays import newest_distinct, positions_in, ranges
from liverec.core.types import EventType
from liverec.data.interactions import Histories, Interactions
from liverec.features.itemstats import ItemStatsView, PairWeighting
from liverec.features.request import (
    Context,
    FloatArray,
    PerRequest,
    Retrieved,
    SharedFeature,
    top_positions,
)
from liverec.models import kernels
from liverec.models.base import IntArray, Recommender, ScoreArray, requires_fit, top_k
from liverec.models.component import Component, Servable, ServeContext, TrainContext
from liverec.models.neighbours import (
    NeighbourConfig,
    NeighbourLists,
    asymmetric_cosine,
    compute_neighbours,
)

SEARCH_SPACE: dict[str, list[Any]] = {
    "neighbours": [100, 200, 400, 800],
    "alpha": [0.2, 0.3, 0.4, 0.5],
    "shrink": [0.0, 5.0, 10.0, 20.0],
    "recency_decay": [1.0, 0.9, 0.8, 0.75, 0.7],
    "history_cap": [100, 200, 400],
    "half_life_days": [0.0, 30.0, 180.0],
}


REASON_SOURCES = 12  # recent distinct history items a reason may cite
RELATED_SOURCES = REASON_SOURCES  # recent distinct items the ranker's recency feature reads


@dataclass(frozen=True)
class ItemCFConfig:
    """Item-CF settings.

    ``neighbours``: similar items kept per item (top-k lists). ``alpha``: asymmetric cosine
    exponent, 0.5 is plain cosine. ``shrink``: added to the denominator, damping similarities
    built on few co-occurrences. ``recency_decay``: a history item ``s`` steps older than the
    newest counts ``recency_decay ** s`` when scoring. ``history_cap``: the most recent
    distinct items of each user that count towards co-occurrence (what keeps the cost bounded
    by the event count rather than the heaviest users). ``half_life_days``: a co-occurrence
    weighs half as much when its events are this much older (0: no decay).
    """

    neighbours: int = 200
    alpha: float = 0.4
    shrink: float = 10.0
    recency_decay: float = 0.75
    history_cap: int = 200
    half_life_days: float = 0.0

    def lists(self, workers: int = 0) -> NeighbourConfig:
        """The neighbour-list settings these item-CF settings imply."""
        return NeighbourConfig(
            k=self.neighbours,
            alpha=self.alpha,
            shrink=self.shrink,
            history_cap=self.history_cap,
            half_life_days=self.half_life_days,
            workers=workers,
        )


def recency_weights(
    items: NDArray[np.integer[Any]], decay: float
) -> tuple[IntArray, NDArray[np.float32]]:
    """Distinct items of a history (oldest first) and ``decay ** steps`` from its newest use."""
    rev = np.asarray(items[::-1], np.int64)
    uniq, first = np.unique(rev, return_index=True)
    return uniq, np.power(decay, first).astype(np.float32)


class ItemCF(Recommender):
    """score(u, i) = sum over history items j of w_j * sim(j, i), w_j decaying with age."""

    name: ClassVar[str] = "itemcf"
    Config: ClassVar[type[Any]] = ItemCFConfig

    def _fit(self, data: Interactions) -> None:
        self.lists = compute_neighbours(data, self.config.lists())
        self.similarity = self.lists.similarity()

    @requires_fit
    def score_histories(self, histories: Histories) -> ScoreArray:
        """Recency-weighted history times the neighbour similarity matrix."""
        weights = histories.to_csr(recency_decay=self.config.recency_decay)
        return np.asarray((weights @ self.similarity).toarray(), dtype=np.float32)

    @requires_fit
    def similar_items(self, items: IntArray, k: int) -> tuple[IntArray, ScoreArray]:
        """An item's neighbour list, best first."""
        sims = self.similarity[np.asarray(items, np.int64)].toarray()
        sims[np.arange(len(items)), items] = -np.inf
        return top_k(sims, k)

    def _state(self) -> dict[str, Any]:
        return {"similarity": self.similarity}

    def _restore(self, state: dict[str, NDArray[Any]]) -> None:
        self.similarity = sp.csr_matrix(state["similarity"], dtype=np.float32)


MIN_WEIGHT = 1e-4  # history items weighing less are left out of a request's sources


class ItemCFChannel:
    """Neighbours of the recent history: the snapshot's lists plus the pairs formed since,
    re-scored with live item weights, each history item weighted by its recency."""

    name = "itemcf"

    def __init__(
        self, lists: NeighbourLists, stats: ItemStatsView, config: ItemCFConfig, window: int
    ) -> None:
        self.lists = lists
        self.stats = stats
        self.config = config
        self.window = window
        self._scratch = kernels.Scratch(lists.n_items)
        self._lock = threading.Lock()
        # n(i) ** (1 - alpha) of the snapshot's weights: the kernel's table for the items that
        # had no event since (a live weight is raised on the fly)
        self._base_right = np.power(np.asarray(lists.item_weight, np.float64), 1.0 - config.alpha)

    def scores(
        self, sources: IntArray, weights: NDArray[np.floating[Any]]
    ) -> tuple[IntArray, NDArray[np.float64], IntArray]:
        """(candidates, scores, position in ``sources`` of each one's strongest source): the
        compiled twin of summing ``contributions``."""
        lists = self.lists
        inc_src, inc_nbr, inc_w = self.stats.pair_increments(sources)
        base, extra = self.stats.item_weights()
        c = self.config
        with self._lock:
            scratch = self._scratch
            scratch.ensure(max(len(extra), len(base), lists.n_items))
            t = kernels.neighbour_scores(
                sources, weights, lists.indptr, lists.neighbours, lists.weights,
                inc_src, inc_nbr, inc_w.astype(np.float64), base, extra, self._base_right,
                c.alpha, c.shrink, scratch.scores, scratch.best, scratch.because,
                scratch.touched,
            )  # fmt: skip
            return scratch.take(int(t))

    def contributions(self, sources: IntArray) -> tuple[IntArray, IntArray, NDArray[np.float64]]:
        """(source position, neighbour, similarity) of every neighbour of the ``sources``."""
        lists = self.lists
        inside = np.flatnonzero(sources < lists.n_items)
        lo = np.asarray(lists.indptr[sources[inside]], np.int64)
        lengths = np.asarray(lists.indptr[sources[inside] + 1], np.int64) - lo
        pos = np.repeat(lo, lengths) + ranges(lengths)
        src = np.repeat(inside, lengths)
        nbr = np.asarray(lists.neighbours[pos], np.int64)
        weight = np.asarray(lists.weights[pos], np.float64)
        p_src, p_nbr, p_w = self.stats.pair_increments(sources)
        src = np.concatenate([src, p_src])
        nbr = np.concatenate([nbr, p_nbr])
        weight = np.concatenate([weight, p_w.astype(np.float64)])
        if len(p_src):  # a pair in the lists and in the increments: one entry, summed
            key = src * (1 << 32) + nbr
            uniq, inverse = np.unique(key, return_inverse=True)
            weight = np.asarray(np.bincount(inverse, weights=weight), np.float64)
            src, nbr = (uniq >> 32).astype(np.int64), (uniq & 0xFFFFFFFF).astype(np.int64)
        n_src = self.stats.item_weight(sources)[src]
        n_nbr = self.stats.item_weight(nbr)
        sims = asymmetric_cosine(weight, n_src, n_nbr, self.config.alpha, self.config.shrink)
        keep = nbr != sources[src]
        return src[keep], nbr[keep], sims[keep]

    def retrieve(self, ctx: Context, n: int) -> Retrieved:
        """Score = sum over recent items j of decay^age(j) * sim(j, item)."""
        recent = ctx.history.items[-self.window :]
        if not len(recent):
            return Retrieved.empty()
        sources, weights = recency_weights(recent, self.config.recency_decay)
        # items so old that their weight cannot move a score: 0.75 ** 32 ~ 1e-4
        keep = weights >= MIN_WEIGHT
        sources, weights = sources[keep], weights[keep].astype(np.float64)
        cands, scores, _ = self.scores(sources, weights)
        if not len(cands):
            return Retrieved.empty()
        best = top_positions(cands, scores, ctx, n)
        catalog = ctx.catalog
        # the verb of each history item's latest event ("because you bought ...")
        verbs = dict(zip(recent.tolist(), ctx.history.types[-self.window :].tolist(), strict=True))

        def reasons(items: IntArray) -> list[str | None]:
            """The recent item most similar to each pick (asked only for the shown ones)."""
            cited = self.most_similar_source(sources, weights, items)
            known = sorted({s for s in cited if s is not None})
            if catalog is None or not known:
                return [None] * len(items)
            titles = dict(
                zip(known, (it.display_title for it in catalog.items(known)), strict=True)
            )
            return [
                None if s is None else f"because you {EventType(verbs[s]).verb} {titles[s]}"
                for s in cited
            ]

        return Retrieved(cands[best], scores[best].astype(np.float32), reasons)

    def most_similar_source(
        self, sources: IntArray, weights: NDArray[np.floating[Any]], picks: IntArray
    ) -> list[int | None]:
        """For each pick, the recent source item most similar to it; None if none is.

        Similarity, not contribution: the contribution also weighs recency, so the newest
        history item would explain almost every pick ("nine of ten reasons cite the same
        item"); the most similar one is what makes *that* pick a fit. Exact ties go to the older.
        """
        # The most recent distinct items only: a reason cites something the user did lately,
        # and their neighbour lists are all that is read (a 50-item history cost ~10% of a
        # request's time when every source's list was scanned).
        sources = sources[np.argsort(-np.asarray(weights), kind="stable")[:REASON_SOURCES]]
        best = most_similar(self.similarity_to(sources, np.asarray(picks, np.int64)))
        return [None if b < 0 else int(sources[b]) for b in best.tolist()]

    def similarity_to(self, sources: IntArray, items: IntArray) -> NDArray[np.float64]:
        """(len(sources), len(items)) live similarity of each source (distinct) to each item
        (distinct; 0 where the item is not among the source's neighbours, or is the source):
        the entries of ``contributions`` laid out densely, for a few sources and candidates."""
        sources = np.asarray(sources, np.int64)
        c = np.zeros((len(sources), len(items)))
        lists = self.lists
        kernels.pair_weights_among(sources, lists.indptr, lists.neighbours, lists.weights, items, c)
        inc_src, inc_nbr, inc_w = self.stats.pair_increments(sources)
        if len(inc_src):
            rows, found = positions_in(items, inc_nbr)
            np.add.at(c, (inc_src[found], rows[found]), inc_w[found])
        n_items = self.stats.item_weight(items)
        n_sources = self.stats.item_weight(sources)
        sims = asymmetric_cosine(
            c, n_sources[:, None], n_items[None, :], self.config.alpha, self.config.shrink
        )
        sims[sources[:, None] == items[None, :]] = 0.0
        return sims

    def knows(self, items: IntArray) -> NDArray[np.bool_]:
        """Items with events (a positive item weight)."""
        return np.asarray(self.stats.item_weight(items) > 0)

    def similar(self, item: int, n: int) -> Retrieved:
        """An item's neighbours by live similarity."""
        _, nbr, sims = self.contributions(np.array([item], np.int64))
        keep = sims > 0
        nbr, sims = nbr[keep], sims[keep]
        order = np.lexsort((nbr, -sims))[:n]
        return Retrieved(nbr[order], sims[order].astype(np.float32))


def most_similar(sims: NDArray[np.float64]) -> IntArray:
    """Per column of a (sources newest first, items) similarity matrix: the row of the most
    similar source, on exact ties the older one (the later row); -1 where none is similar.

    >>> most_similar(np.array([[0.5, 0.0, 0.2], [0.5, 0.0, 0.1]])).tolist()
    [1, -1, 0]
    """
    if not sims.shape[0]:
        return np.full(sims.shape[1], -1, np.int64)
    older_first = sims[::-1]
    at = older_first.argmax(axis=0)  # the first maximum: the oldest of the most similar
    best = sims.shape[0] - 1 - at
    return np.where(older_first[at, np.arange(sims.shape[1])] > 0, best, -1).astype(np.int64)


@dataclass(frozen=True)
class Related:
    """Per candidate: item-CF similarity to the user's newest item, and ``1 / (1 + steps
    back)`` to the most similar of the last ``RELATED_SOURCES`` distinct items (0: none is;
    on exact ties the older, as the reasons do)."""

    newest: FloatArray
    recency: FloatArray


def related_sources(channel: ItemCFChannel) -> Callable[[Context, IntArray], Related | None]:
    """What the two item-CF ranking features read, from one dense pass over the recent
    items' neighbour lists among the candidates."""

    def compute(ctx: Context, items: IntArray) -> Related | None:
        newest_first = newest_distinct(ctx.history.items[-channel.window :], RELATED_SOURCES)
        if not len(newest_first) or not len(items):
            return None
        sims = channel.similarity_to(newest_first, np.asarray(items, np.int64))
        best = most_similar(sims)
        recency = np.zeros(len(items), np.float32)
        similar = best >= 0
        recency[similar] = 1.0 / (1.0 + best[similar])
        return Related(sims[0].astype(np.float32), recency)

    return compute


class ItemCFComponent(Component):
    """Neighbour lists trained into the snapshot, kept current by the live pair increments."""

    name: ClassVar[str] = "itemcf"
    channel: ClassVar[str | None] = "itemcf"
    Config: ClassVar[type[Any]] = ItemCFConfig
    summary: ClassVar[str] = "items often used together with the user's recent ones"

    def train(self, ctx: TrainContext, out: Path) -> dict[str, Any]:
        """Blockwise top-k neighbour lists (see ``liverec.models.neighbours``)."""
        with ctx.progress_line("itemcf neighbours", "blocks") as line:
            lists = compute_neighbours(
                ctx.data.interactions, self.config.lists(), progress=line, executor=ctx.executor
            )
        lists.save(out)
        return {"pairs": len(lists.neighbours), "ref_time": lists.ref_time}

    def load(self, directory: Path, meta: dict[str, Any], ctx: ServeContext) -> Servable:
        """The lists (memory-mapped) and a channel reading them with the live increments."""
        lists = NeighbourLists.load(directory)
        channel = ItemCFChannel(lists, ctx.stats, self.config, ctx.window)
        related = PerRequest(related_sources(channel))
        return Servable(
            self.name,
            channel=channel,
            features=(
                # what the next choice most often follows: the newest item's neighbours
                SharedFeature("itemcf_newest", related, lambda r: r.newest),
                SharedFeature("itemcf_recency", related, lambda r: r.recency),
            ),
            similar=channel,
            weighting=PairWeighting(lists.ref_time, self.config.half_life_days),
            base_item_weight=np.asarray(lists.item_weight, np.float64),
        )
