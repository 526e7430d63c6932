"""Item-to-item similarity for "more like this": each component's evidence, blended.

Every similar-item source (co-occurrence, ALS vectors, text) proposes candidates for the query
item; scores are scaled to a maximum of 1 per source, blended by weight, and genre overlap is
added over the same candidates. A source that has nothing for the query item (no events yet,
no text) drops out of the weights instead of pulling everything down with zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from liverec.features.catalog_store import CatalogView
from liverec.features.content import ItemVectors
from liverec.features.request import Retrieved, SimilarSource

WEIGHTS = {"itemcf": 0.45, "als": 0.2, "content": 0.3, "genre": 0.05}
REASONS = {"itemcf": "often chosen together", "content": "similar title and description"}
# A source's reason shows from this score: co-occurrence scaled to its best candidate (a
# relative judgement), text by raw cosine (an absolute one: 0.6 is a close paraphrase).
SHOWN_AT = {"itemcf": 0.2, "content": 0.6}
SCALED = {"itemcf": True, "content": False}


@dataclass(frozen=True)
class Similar:
    """One similar item (internal index), its blended score and reasons."""

    item: int
    score: float
    reasons: list[str]


class SimilarItems:
    """Blends the sources' candidates for a query item."""

    def __init__(
        self,
        catalog: CatalogView,
        sources: Sequence[SimilarSource],
        vectors: ItemVectors | None = None,
        depth: int = 100,
    ) -> None:
        self.catalog = catalog
        self.sources = list(sources)
        self.vectors = vectors
        self.depth = depth

    def find(self, item: int, k: int) -> list[Similar]:
        """The ``k`` items most like ``item`` with a positive blended score."""
        found: dict[str, Retrieved] = {}
        for source in self.sources:
            got = source.similar(item, max(self.depth, k))
            if len(got.items):
                found[source.name] = got
        pools = [r.items for r in found.values()]
        if not pools:
            return []
        cands = np.setdiff1d(np.unique(np.concatenate(pools)), [item])
        score = np.zeros(len(cands), np.float64)
        total = np.zeros(len(cands), np.float64)
        scaled: dict[str, NDArray[np.float64]] = {}
        raw: dict[str, NDArray[np.float64]] = {}
        by_name = {s.name: s for s in self.sources}
        for name, got in found.items():
            values = np.zeros(len(cands))
            pos = np.searchsorted(cands, got.items)
            ok = (pos < len(cands)) & (cands[np.minimum(pos, len(cands) - 1)] == got.items)
            values[pos[ok]] = got.scores[ok]
            raw[name] = values
            top = float(values.max()) if len(values) else 0.0
            scaled[name] = values / top if top > 0 else values
            weight = WEIGHTS.get(name, 0.1)
            score += weight * scaled[name]
            # a candidate this evidence knows nothing about (a new item) is not pulled down
            total += weight * by_name[name].knows(cands)
        genre_sim = self.catalog.genre_similarity(np.concatenate([[item], cands]))[0, 1:]
        has_genres = self.catalog.genre_matrix(np.array([item]))[0].any()
        score = (score + WEIGHTS["genre"] * genre_sim * has_genres) / (total + WEIGHTS["genre"])
        order = np.lexsort((cands, -score))[:k]
        mine = set(self.catalog.item(item).genres)
        chosen = cands[order]
        out = []
        for pos, (j, it) in zip(
            order.tolist(),
            zip(chosen.tolist(), self.catalog.items(chosen), strict=True),
            strict=True,
        ):
            if score[pos] <= 0:
                break
            reasons = [
                REASONS[name]
                for name in REASONS
                if name in scaled and (scaled if SCALED[name] else raw)[name][pos] >= SHOWN_AT[name]
            ]
            shared = [g for g in it.genres if g in mine]
            if shared:
                reasons.append("shares " + ", ".join(shared))
            out.append(Similar(j, float(score[pos]), reasons))
        return out
