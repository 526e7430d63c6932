"""What one recommendation request looks like to the stages that answer it.

A ``Context`` is built once per request: the user, their recent history, the items they may
not be shown (sorted, so membership is a binary search) and the genre filter. Channels return
``Retrieved`` candidates, best first, with their own way of explaining each pick; ranking
features score candidates. Nothing here is ever as long as the catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from liverec.core.arrays import in_sorted
from liverec.features.catalog_store import CatalogView
from liverec.features.histories import EMPTY_HISTORY, UserHistory

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float32]
EMPTY_ITEMS = np.zeros(0, np.int64)
EMPTY_SCORES = np.zeros(0, np.float32)
Reasons = Callable[[IntArray], Sequence[str | None]]


@dataclass(frozen=True)
class Context:
    """Everything the stages of one request may read."""

    uidx: int | None
    history: UserHistory = EMPTY_HISTORY
    seen: IntArray = field(default_factory=lambda: EMPTY_ITEMS)  # sorted, distinct
    blocked: IntArray = field(default_factory=lambda: EMPTY_ITEMS)  # sorted: seen + excluded
    genres: tuple[str, ...] = ()  # keep only items with one of these (empty: no filter)
    live: bool = False  # the user acted since the snapshot: trained user vectors are stale
    catalog: CatalogView | None = field(default=None, repr=False)

    def allowed(self, items: IntArray) -> NDArray[np.bool_]:
        """Which candidates may be shown: not blocked, and in the genre filter if there is one."""
        items = np.asarray(items, np.int64)
        ok: NDArray[np.bool_]
        ok = ~in_sorted(self.blocked, items)
        if self.genres and self.catalog is not None and ok.any():
            rows = np.flatnonzero(ok)
            ok[rows] = self.catalog.in_genres(items[rows], self.genres)
        return ok

    def first_allowed(self, order: IntArray, n: int) -> IntArray:
        """The first ``n`` allowed items of a ranking, looking deeper only as far as needed."""
        # at most len(blocked) of the first n + len(blocked) can be blocked
        extra = min(len(self.blocked), 1000)
        depth = n + (extra * 4 if self.genres else extra)
        while True:
            head = order[:depth]
            keep = head[self.allowed(head)][:n]
            if len(keep) >= n or depth >= len(order):
                return keep
            depth *= 4

    def filter_extra(self, n: int) -> int:
        """How many more than ``n`` to ask an index for (that already leaves out the blocked
        items) so that enough survive the genre filter."""
        return 4 * n if self.genres else 0


@dataclass(frozen=True)
class Retrieved:
    """A channel's candidates, best first, with the channel's own scores and reasons."""

    items: IntArray
    scores: FloatArray
    reasons: Reasons | None = None  # the channel's reason for each of some of its items

    @staticmethod
    def empty() -> Retrieved:
        """No candidates (e.g. no history to work from)."""
        return Retrieved(EMPTY_ITEMS, EMPTY_SCORES)

    def best(self, ctx: Context, n: int) -> Retrieved:
        """The first ``n`` allowed candidates."""
        keep = np.flatnonzero(ctx.allowed(self.items))[:n]
        return Retrieved(self.items[keep], self.scores[keep], self.reasons)


def top_positions(
    items: IntArray, scores: NDArray[np.floating], ctx: Context, n: int, positive: bool = True
) -> IntArray:
    """Positions of the ``n`` best allowed candidates, best first, ties by lower item (only
    positive scores if ``positive``)."""
    s = np.asarray(scores, np.float32)
    ok = ctx.allowed(items)
    if positive:
        ok &= s > 0
    pos = np.flatnonzero(ok)
    if len(pos) > n:
        pos = pos[np.argpartition(-s[pos], n - 1)[:n]]
    return pos[np.lexsort((items[pos], -s[pos]))]


def top_candidates(
    items: IntArray, scores: NDArray[np.floating], ctx: Context, n: int, positive: bool = True
) -> Retrieved:
    """The ``n`` best allowed of scored candidates (only positive scores if ``positive``)."""
    items = np.asarray(items, np.int64)
    pos = top_positions(items, scores, ctx, n, positive)
    return Retrieved(items[pos], np.asarray(scores[pos], np.float32))


class Channel(Protocol):
    """One retrieval source; ``retrieve`` may raise, the pipeline then skips it."""

    name: str

    def retrieve(self, ctx: Context, n: int) -> Retrieved:
        """Up to ``n`` allowed candidates, best first."""


class RankingFeature(Protocol):
    """A per-candidate score the ranking stage may add to the fused one."""

    name: str

    def __call__(self, ctx: Context, items: IntArray) -> FloatArray | None:
        """One value per item (None when it cannot say anything for this request)."""


Part = TypeVar("Part")


class PerRequest(Generic[Part]):
    """A computation several ranking features read, done once per request: the features are
    asked one after another for the same candidates, so the last answer is kept for the next
    (keyed by the request's context and candidate array themselves, never by equal copies)."""

    def __init__(self, compute: Callable[[Context, IntArray], Part | None]) -> None:
        self.compute = compute
        self._last: tuple[Context, IntArray, Part | None] | None = None

    def of(self, ctx: Context, items: IntArray) -> Part | None:
        """The computation for this request (None: it says nothing here)."""
        last = self._last  # read once: another thread may replace it meanwhile
        if last is not None and last[0] is ctx and last[1] is items:
            return last[2]
        value = self.compute(ctx, items)
        self._last = (ctx, items, value)
        return value


@dataclass  # not frozen: RankingFeature's ``name`` is a plain attribute
class SharedFeature(Generic[Part]):
    """A ranking feature that is one part of a per-request computation."""

    name: str
    shared: PerRequest[Part]
    part: Callable[[Part], FloatArray | None]

    def __call__(self, ctx: Context, items: IntArray) -> FloatArray | None:
        """The part's values (None when it says nothing for this request)."""
        value = self.shared.of(ctx, items)
        return None if value is None else self.part(value)


class SimilarSource(Protocol):
    """Items like a given one, from one kind of evidence."""

    name: str

    def similar(self, item: int, n: int) -> Retrieved:
        """Up to ``n`` items most like ``item`` (itself excluded), best first."""

    def knows(self, items: IntArray) -> NDArray[np.bool_]:
        """Which items this evidence exists for (an item with no events has no co-occurrence)."""
