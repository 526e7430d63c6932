"""Training examples of the learned ranker: one group of candidates per request, in time order.

The serving layer builds them (it owns the pipeline that proposes the candidates); the ranker
only reads them. A group is the candidate set the live pipeline proposed before one event, the
item the user then chose labelled 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatMatrix = NDArray[np.float32]


@dataclass(frozen=True)
class RankingExamples:
    """Rows of candidate features, labels and group sizes; groups in time order."""

    features: FloatMatrix  # (rows, len(names)); NaN where a feature says nothing
    labels: NDArray[np.int8]  # 1 for the item the user chose next
    groups: NDArray[np.int64]  # rows per request
    names: tuple[str, ...]
    requests: int  # requests walked, with or without the chosen item among the candidates
    # the first of the later groups that keep every candidate (the ones to choose on, ranked
    # as served); None: every group is sampled alike and ``split`` cuts by share
    whole_from: int | None = None

    def __post_init__(self) -> None:
        if self.features.shape != (len(self.labels), len(self.names)):
            raise ValueError(
                f"features {self.features.shape} do not match {len(self.labels)} labels "
                f"x {len(self.names)} names"
            )
        if int(self.groups.sum()) != len(self.labels):
            raise ValueError("group sizes do not add up to the rows")

    @property
    def recall(self) -> float:
        """Share of walked requests whose chosen item was among the candidates."""
        return len(self.groups) / self.requests if self.requests else 0.0

    def without(self, names: tuple[str, ...]) -> RankingExamples:
        """The examples without the feature columns ``names`` (any not here is ignored)."""
        keep = [j for j, name in enumerate(self.names) if name not in names]
        return RankingExamples(
            self.features[:, keep],
            self.labels,
            self.groups,
            tuple(self.names[j] for j in keep),
            self.requests,
            self.whole_from,
        )

    def sampled(self, spec: ExampleSpec) -> RankingExamples:
        """Each group cut down as training groups are (the chosen row, the best
        ``spec.hard_negatives`` and ``spec.negatives`` sampled), in row order."""
        rng = np.random.default_rng(spec.seed)
        offsets = np.concatenate([[0], np.cumsum(self.groups)])
        rows = []
        for g, size in enumerate(self.groups.tolist()):
            positive = int(np.flatnonzero(self.labels[offsets[g] : offsets[g] + size])[0])
            rows.append(offsets[g] + kept_rows(size, positive, spec, rng))
        keep = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        sizes = np.array([len(r) for r in rows], np.int64)
        return RankingExamples(
            self.features[keep], self.labels[keep], sizes, self.names, self.requests
        )

    def take_groups(self, start: int, stop: int) -> RankingExamples:
        """Groups ``start:stop`` (in time order) as examples of their own."""
        offsets = np.concatenate([[0], np.cumsum(self.groups)])
        lo, hi = int(offsets[start]), int(offsets[stop])
        return RankingExamples(
            self.features[lo:hi],
            self.labels[lo:hi],
            self.groups[start:stop],
            self.names,
            stop - start,
            None if self.whole_from is None else max(0, self.whole_from - start),
        )

    def split(self, valid_share: float) -> tuple[RankingExamples, RankingExamples]:
        """The earlier groups for fitting and the later ones for choosing (from
        ``whole_from``, else the later ``valid_share``): by time, as the ranker will be used on
        requests after those it learned from."""
        n = len(self.groups)
        cut = self.whole_from if self.whole_from is not None else round(n * (1 - valid_share))
        cut = min(n - 1, max(1, cut))
        return self.take_groups(0, cut), self.take_groups(cut, n)


def group_ndcg(scores: NDArray[np.floating], examples: RankingExamples, k: int = 10) -> float:
    """Mean NDCG@k over groups (one relevant item each) when ranked by ``scores``; equal
    scores keep the rows' order (fused order), as the served ranking stage does, so a model
    that scores many candidates alike gains nothing from the ties.

    >>> ex = RankingExamples(np.zeros((4, 0), np.float32), np.array([0, 1, 1, 0], np.int8),
    ...                      np.array([2, 2]), (), 2)
    >>> round(group_ndcg(np.array([0.9, 0.1, 0.8, 0.2]), ex), 4)  # ranks 2 and 1
    0.8155
    >>> round(group_ndcg(np.zeros(4), ex), 4)  # all tied: fused order, ranks 2 and 1
    0.8155
    """
    total = 0.0
    start = 0
    for size in examples.groups.tolist():
        s = scores[start : start + size]
        label = examples.labels[start : start + size]
        at = np.flatnonzero(label == 1)
        if len(at):
            p = s[at[0]]
            rank = 1 + int((s > p).sum()) + int((s[: at[0]] == p).sum())
            total += 1 / float(np.log2(rank + 1)) if rank <= k else 0.0
        start += size
    return total / len(examples.groups) if len(examples.groups) else 0.0


@dataclass(frozen=True)
class ExampleSpec:
    """How the serving layer gathers ranking examples (the ranker config's part of it)."""

    window_share: float  # the latest share of events whose requests are walked
    user_events: int  # instead (when > 0): each user's last this many events
    max_requests: int
    hard_negatives: int  # the best fused candidates always kept per request
    negatives: int  # candidates sampled from the rest per request
    candidates: int  # fused candidates proposed per request
    seed: int
    whole_share: float = 0.0  # the latest share of walked events whose groups keep everything


def kept_rows(n: int, positive: int, spec: ExampleSpec, rng: np.random.Generator) -> np.ndarray:
    """Rows of one group: the chosen one, the best ``hard_negatives`` fused candidates (the
    ones the ranker must order; on the ML-100K validation split keeping them ranked worse) and
    ``negatives`` sampled from the rest, in fused order.

    >>> kept_rows(6, 4, ExampleSpec(0.2, 0, 10, 2, 0, 6, 0), np.random.default_rng(0)).tolist()
    [0, 1, 4]
    """
    hard = np.arange(min(spec.hard_negatives, n))
    rest = np.setdiff1d(np.arange(n), np.append(hard, positive))
    sampled = rng.choice(rest, min(spec.negatives, len(rest)), replace=False)
    return np.union1d(np.union1d(hard, sampled), [positive]).astype(np.int64)
