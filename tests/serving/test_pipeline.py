"""Fallbacks and re-ranking of the pipeline, with faults injected into real runtimes."""

from __future__ import annotations

import time

import numpy as np
import pytest

from liverec.core.errors import ConfigError
from liverec.events.schema import Event
from liverec.features.genres import jaccard_matrix
from liverec.features.request import Context, Retrieved
from liverec.serving.pipeline import PipelineConfig, PipelineResult, StageGuard
from liverec.serving.rerank import fuse, mmr
from liverec.serving.service import LiveService


class Broken:
    name = "itemcf"

    def retrieve(self, ctx: Context, n: int) -> Retrieved:
        raise RuntimeError("index file vanished")


class ManualClock:
    """A clock that moves only when told: budgets and cooldowns without wall-clock time."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Slow:
    name = "als"

    def __init__(self, clock: ManualClock, seconds: float) -> None:
        self.clock = clock
        self.seconds = seconds
        self.calls = 0

    def retrieve(self, ctx: Context, n: int) -> Retrieved:
        self.calls += 1
        self.clock.now += self.seconds
        return Retrieved(np.array([0], np.int64), np.array([1.0], np.float32))


def channel_position(service: LiveService, name: str) -> int:
    return [c.name for c in service.runtime.pipeline.channels].index(name)


def test_a_failing_channel_degrades_the_answer_and_says_so(service: LiveService) -> None:
    pipeline = service.runtime.pipeline
    pipeline.channels[channel_position(service, "itemcf")] = Broken()
    r = service.recommend("196", 10)
    assert len(r.items) == 10
    assert r.degraded == ["itemcf: failed (RuntimeError)"]
    assert not service.recommend("196", 10).cached  # degraded answers are not cached


def test_every_channel_down_still_answers_from_popularity(service: LiveService) -> None:
    pipeline = service.runtime.pipeline
    pipeline.channels = [Broken()]
    r = service.recommend("1", 10)
    assert len(r.items) == 10
    assert all("popular" in " ".join(i.reasons) for i in r.items)


def test_a_stage_over_budget_repeatedly_is_skipped_until_the_cooldown_ends(
    service: LiveService,
) -> None:
    pipeline = service.runtime.pipeline
    # only the stage's own budget is under test: the request's is lifted
    pipeline.config = pipeline.config.model_copy(update={"request_budget_ms": 1e9})
    clock = ManualClock()
    pipeline.guard = StageGuard({"als": 5.0}, threshold=3, cooldown_s=0.3, clock=clock)
    slow = Slow(clock, 0.03)
    pipeline.channels[channel_position(service, "als")] = slow
    results = [pipeline.recommend(0, 10) for _ in range(4)]
    assert [r.degraded for r in results[:3]] == [[], [], []]  # three overruns in a row ...
    assert results[3].degraded == ["als: skipped, 3 failures or overruns in a row"]
    assert slow.calls == 3 and pipeline.guard.overruns["als"] == 3
    clock.now += 0.29
    pipeline.recommend(0, 10)
    assert slow.calls == 3  # while the breaker is open the slow stage is not even started
    clock.now += 0.02
    pipeline.recommend(0, 10)
    assert slow.calls == 4  # half-open: tried again after the cooldown


def test_stages_after_the_request_deadline_are_skipped() -> None:
    guard = StageGuard({}, threshold=3, cooldown_s=1.0)
    result = PipelineResult(items=[])
    assert guard.run("als", lambda: 1, time.perf_counter() - 1, result) is None
    assert result.degraded == ["als: skipped, request time budget used up"]


def test_reasons_name_the_history_item_behind_an_item_cf_pick(service: LiveService) -> None:
    r = service.recommend("196", 10)
    recent = {h.title for h in service.profile("196", 50).recent}
    # ML-100K holds ratings: the verb says so (a purchase would say "bought")
    because = [x for i in r.items for x in i.reasons if x.startswith("because you rated ")]
    assert because
    assert all(b.removeprefix("because you rated ") in recent for b in because)


def test_item_cf_reasons_cite_the_most_similar_history_item_not_always_the_newest(
    service: LiveService,
) -> None:
    r = service.recommend("196", 20)
    cited = {x for i in r.items for x in i.reasons if x.startswith("because you ")}
    assert len(cited) >= 3, cited
    service.ingest([Event("196", "50", "purchase")])
    r = service.recommend("196", 20)
    bought = [x for i in r.items for x in i.reasons if x.startswith("because you bought ")]
    assert bought and all(b.endswith("Star Wars (1977)") for b in bought)


def test_fusion_adds_weighted_reciprocal_ranks() -> None:
    r = {
        "a": Retrieved(np.array([3, 1]), np.array([5.0, 4.0], np.float32)),
        "b": Retrieved(np.array([1]), np.array([0.1], np.float32)),
    }
    f = fuse(r, {"a": 1.0, "b": 0.5}, k=1.0)
    assert f.items.tolist() == [1, 3]  # 1: 1/3 + 0.5/2 = 0.583 > 3: 1/2
    assert f.scores.tolist() == pytest.approx([1 / 3 + 0.25, 0.5])
    assert f.contributions[f.channels.index("b")].tolist() == pytest.approx([0.25, 0.0])


def test_fusion_matches_a_dictionary_oracle_on_random_lists() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        lists = {
            name: rng.choice(5_000_000, size=rng.integers(0, 300), replace=False)
            for name in ("a", "b", "c")
        }
        lists["c"] = np.concatenate([lists["c"], lists["a"][:20]])  # shared candidates
        weights = {"a": 1.0, "b": 0.7, "c": 0.3}
        r = {n: Retrieved(items, np.zeros(len(items), np.float32)) for n, items in lists.items()}
        oracle: dict[int, float] = {}
        for name, items in lists.items():
            for rank, item in enumerate(items.tolist(), start=1):
                oracle[item] = oracle.get(item, 0.0) + weights[name] / (60 + rank)
        f = fuse(r, weights, k=60)
        assert sorted(f.items.tolist()) == sorted(oracle)
        assert f.scores == pytest.approx([oracle[i] for i in f.items.tolist()], rel=1e-5)
        # best first (float32 sums), equal scores by the lower item
        pairs = list(zip(-f.scores.astype(np.float64), f.items.tolist(), strict=True))
        assert pairs == sorted(pairs)
        assert f.contributions.sum(axis=0) == pytest.approx(f.scores, rel=1e-5)


def test_mmr_trades_relevance_for_genre_variety() -> None:
    genres = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], np.float32)
    rel = np.array([1.0, 0.95, 0.9, 0.5], np.float32)
    genres = jaccard_matrix(genres)
    assert mmr(rel, genres, k=2, lam=1.0).tolist() == [0, 1]  # relevance only
    assert mmr(rel, genres, k=2, lam=0.5).tolist() == [0, 3]
    assert mmr(rel, genres, k=4, lam=0.0)[:2].tolist() == [0, 3]


def test_mmr_raises_genre_diversity_on_real_lists(service: LiveService) -> None:
    from liverec.eval.metrics import intra_list_diversity

    pipeline = service.runtime.pipeline
    plain, diverse = [], []
    for u in range(0, 200, 10):
        pipeline.config = pipeline.config.model_copy(update={"mmr_lambda": 1.0})
        plain.append([r.item for r in pipeline.recommend(u, 10, with_reasons=False).items])
        pipeline.config = pipeline.config.model_copy(update={"mmr_lambda": 0.5})
        diverse.append([r.item for r in pipeline.recommend(u, 10, with_reasons=False).items])
    g = service.runtime.snapshot.data.genre_matrix
    assert intra_list_diversity(diverse, g, 10) > intra_list_diversity(plain, g, 10) + 0.02


def test_misspelt_channel_names_are_refused_not_weighted_zero() -> None:
    with pytest.raises(ConfigError, match="unknown channel 'itemfc'"):
        PipelineConfig(weights={"itemfc": 1.0})
    with pytest.raises(ConfigError, match="unknown stage 'mmr'"):
        PipelineConfig(stage_budget_ms={"mmr": 1.0})
    with pytest.raises(ConfigError, match="unknown ranking feature"):
        PipelineConfig(feature_weights={"txt": 0.1})
