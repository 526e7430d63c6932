"""Retrieval channels: each proposes candidate items for one request, best first."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from liverec.data.interactions import Histories
from liverec.features.online import OnlineState, UserHistory
from liverec.index import VectorIndex
from liverec.models.itemcf import ItemCFConfig
from liverec.models.mf import ALS
from liverec.models.popular import Popularity

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float32]
EMPTY_ITEMS = np.zeros(0, np.int64)
EMPTY_SCORES = np.zeros(0, np.float32)


@dataclass
class Context:
    """What every stage of one request may read: the user, their history and the allowed items."""

    uidx: int | None
    history: UserHistory
    seen: IntArray
    allowed: NDArray[np.bool_]  # (n_items,) False for seen, excluded or filtered-out items
    live: bool  # the user acted since the snapshot, so trained user vectors are stale
    scratch: dict[str, Any] = field(default_factory=dict)  # per-request values for reasons


@dataclass(frozen=True)
class Retrieved:
    """A channel's candidates, best first, with the channel's own scores."""

    items: IntArray
    scores: FloatArray

    @staticmethod
    def empty() -> Retrieved:
        """No candidates (e.g. no history to work from)."""
        return Retrieved(EMPTY_ITEMS, EMPTY_SCORES)


class Channel(Protocol):
    """One retrieval source; ``retrieve`` may raise, the pipeline then skips it."""

    name: str

    def retrieve(self, ctx: Context, n: int) -> Retrieved: ...


def best_allowed(
    scores: NDArray[np.floating[Any]], allowed: NDArray[np.bool_], n: int, positive: bool = True
) -> Retrieved:
    """Top ``n`` allowed entries of a dense score vector (only positive ones if ``positive``)."""
    s = np.where(allowed[: len(scores)], scores, -np.inf).astype(np.float32, copy=False)
    n = min(n, len(s))
    if n <= 0:
        return Retrieved.empty()
    top = np.argpartition(s, len(s) - n)[len(s) - n :]
    top = top[np.argsort(-s[top], kind="stable")]
    values = s[top]
    keep = values > 0 if positive else values > -np.inf
    return Retrieved(top[keep].astype(np.int64), values[keep])


def first_allowed(order: IntArray, allowed: NDArray[np.bool_], n: int) -> IntArray:
    """The first ``n`` entries of a precomputed ranking that are allowed."""
    return order[allowed[order]][:n]


class ItemCFChannel:
    """Neighbours of the recent history on live co-occurrence counts, recency weighted."""

    name = "itemcf"

    def __init__(self, state: OnlineState, config: ItemCFConfig, window: int) -> None:
        self.state = state
        self.config = config
        self.window = window

    def retrieve(self, ctx: Context, n: int) -> Retrieved:
        """Score = sum over recent items j of decay^age(j) * sim(j, item)."""
        recent = ctx.history.items[-self.window :]
        if not len(recent):
            return Retrieved.empty()
        # Most recent occurrence wins for a repeated item: walk newest first, keep first seen.
        rev = recent[::-1]
        uniq, first = np.unique(rev, return_index=True)
        weights = np.power(self.config.recency_decay, first).astype(np.float32)
        c = self.config
        sims = self.state.cooccurrence.similarity_rows(uniq, c.alpha, c.shrink, c.neighbours)
        scores = weights @ sims  # (n_items,)
        ctx.scratch["itemcf"] = (uniq, weights, sims)
        return best_allowed(scores, ctx.allowed, n)


class ALSChannel:
    """Maximum inner product search of the user's ALS vector in the ANN index."""

    name = "als"

    def __init__(
        self, model: ALS, index: VectorIndex, state: OnlineState, cache_size: int = 10_000
    ) -> None:
        self.model = model
        self.index = index
        self.state = state
        self._vectors: OrderedDict[tuple[int, int], FloatArray] = OrderedDict()
        self._cache_size = cache_size

    def user_vector(self, ctx: Context) -> FloatArray | None:
        """Trained vector while the user has no new events; fold-in from history after."""
        u = ctx.uidx
        if u is None or not len(ctx.history.items):
            return None
        if not ctx.live and u < len(self.model.user_factors):
            vec: FloatArray = self.model.user_factors[u]
            return vec
        key = (u, ctx.history.event_count)
        cached = self._vectors.get(key)
        if cached is not None:
            return cached
        items = self.state.full_history(u)
        items = items[items < self.model.n_items]  # items newer than the model have no vector
        if not len(items):
            return None
        vec = self.model.fold_in(Histories.from_lists([items], self.model.n_items))[0]
        self._vectors[key] = vec
        if len(self._vectors) > self._cache_size:
            self._vectors.popitem(last=False)
        return vec

    def retrieve(self, ctx: Context, n: int) -> Retrieved:
        """Top inner products among allowed items: brute force when the index is exact
        (one mat-vec with the request's allowed mask), else ANN search with over-fetching."""
        vec = self.user_vector(ctx)
        if vec is None:
            return Retrieved.empty()
        if self.index.kind == "exact":
            return best_allowed(self.model.item_factors @ vec, ctx.allowed, n, positive=False)
        # Seen items score high for their own user: fetch enough that n allowed ones remain.
        ids, scores = self.index.search(vec[None, :], min(n + len(ctx.seen), len(self.index)))
        ids, scores = ids[0], scores[0]
        ok = (ids >= 0) & ctx.allowed[np.maximum(ids, 0)]
        return Retrieved(ids[ok][:n].astype(np.int64), scores[ok][:n].astype(np.float32))


class TrendingChannel:
    """Most events recently, with older events decaying (half-life in the online config)."""

    name = "trending"

    def __init__(self, state: OnlineState, depth: int = 1000) -> None:
        self.state = state
        self.depth = depth  # how much of the ranking is kept sorted between changes

    def retrieve(self, ctx: Context, n: int) -> Retrieved:
        """Top decayed counts among allowed items, from a ranking re-sorted only on change."""
        order, scores = self.state.trending.ranking(self.depth)
        items = first_allowed(order, ctx.allowed, n)
        if len(items) < n and len(order) < self.state.n_items:  # deep exclusions: full sort
            return best_allowed(scores, ctx.allowed, n)
        return Retrieved(items, scores[items].astype(np.float32))


class PopularChannel:
    """All-time popularity from the snapshot: the fallback that is always available."""

    name = "pop"

    def __init__(self, model: Popularity) -> None:
        order = np.argsort(-model.counts, kind="stable")
        self.order = order.astype(np.int64)
        self.counts = model.counts

    def retrieve(self, ctx: Context, n: int) -> Retrieved:
        """The most popular allowed items."""
        items = first_allowed(self.order, ctx.allowed, n)
        return Retrieved(items, self.counts[items].astype(np.float32))


class NewItemsChannel:
    """Items added to the catalog since the snapshot.

    The collaborative channels cannot see them yet; this ranks them by text similarity to the
    user's profile when there is one (the content channel runs first), else by genre overlap
    with the recent history, so a brand-new item is recommendable from its first request.
    """

    name = "new"

    def __init__(self, state: OnlineState, window: int, uninteracted: bool = False) -> None:
        self.state = state
        self.window = window
        self.uninteracted = uninteracted  # also catalog items that never had an interaction

    def retrieve(self, ctx: Context, n: int) -> Retrieved:
        """New allowed items: content cosine with the profile, else genre share (+0.1)."""
        pool = self.state.new_items
        if self.uninteracted:
            pool = self.state.uninteracted + pool
        new = np.asarray([i for i in pool if ctx.allowed[i]], np.int64)
        if not len(new):
            return Retrieved.empty()
        profile = ctx.scratch.get("profile")
        vectors = self.state.vectors
        if profile is not None and vectors is not None:
            scores = (vectors.matrix[new] @ profile).astype(np.float32)
        else:
            catalog = self.state.catalog
            liked: dict[str, int] = {}
            for j in ctx.history.items[-self.window :].tolist():
                for g in catalog[j].genres:
                    liked[g] = liked.get(g, 0) + 1
            total = max(1, sum(liked.values()))
            scores = np.array(
                [0.1 + sum(liked.get(g, 0) for g in catalog[i].genres) / total for i in new],
                np.float32,
            )
        order = np.argsort(-scores, kind="stable")[:n]
        return Retrieved(new[order], scores[order])


class ContentChannel:
    """Items whose text embedding is closest to the user's profile.

    The profile is the recency-weighted mean of the embeddings of the user's recent items,
    computed once per user and event count: it follows every event, and needs no interaction
    data for an item, so it reaches items added a minute ago and users with one click.
    """

    name = "content"

    def __init__(
        self, state: OnlineState, window: int, decay: float, cache_size: int = 10_000
    ) -> None:
        self.state = state
        self.window = window
        self.decay = decay
        self._profiles: OrderedDict[tuple[int, int], FloatArray | None] = OrderedDict()
        self._cache_size = cache_size

    def profile(self, ctx: Context) -> FloatArray | None:
        """The user's profile vector (None without history or text)."""
        vectors = self.state.vectors
        if vectors is None or ctx.uidx is None or not len(ctx.history.items):
            return None
        key = (ctx.uidx, ctx.history.event_count)
        if key in self._profiles:
            return self._profiles[key]
        recent = ctx.history.items[-self.window :]
        uniq, first = np.unique(recent[::-1], return_index=True)
        weights = np.power(self.decay, first).astype(np.float32)
        p = vectors.profile(uniq, weights)
        self._profiles[key] = p
        if len(self._profiles) > self._cache_size:
            self._profiles.popitem(last=False)
        return p

    def retrieve(self, ctx: Context, n: int) -> Retrieved:
        """Cosine of every item vector with the profile (exact: one mat-vec)."""
        p = self.profile(ctx)
        vectors = self.state.vectors
        if p is None or vectors is None:
            return Retrieved.empty()
        ctx.scratch["profile"] = p
        return best_allowed(vectors.codes @ vectors.encode_query(p), ctx.allowed, n)
