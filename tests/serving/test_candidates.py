"""The learned ranking stage: candidate features with known values, ordering, fallback."""

from __future__ import annotations

import numpy as np
import pytest

from liverec.core.errors import LiverecError
from liverec.data.dataset import Dataset
from liverec.models.itemcf import RELATED_SOURCES, ItemCFChannel, recency_weights
from liverec.models.ranker import LearnedRanker
from liverec.models.ranker.heads import LogisticHead
from liverec.serving.candidates import CandidateSet
from liverec.serving.pipeline import PipelineResult
from liverec.serving.service import LiveService


def proposed(service: LiveService, user: str, n: int = 300) -> CandidateSet:
    pipeline = service.runtime.pipeline
    uidx = service.user_index(user)
    assert uidx is not None
    ctx = pipeline.context(uidx)
    cs = pipeline.candidates(ctx, 10, PipelineResult(items=[]), float("inf"))
    return CandidateSet(ctx, cs.fused.head(n), cs.retrieved)


def itemcf_channel(service: LiveService) -> ItemCFChannel:
    found = [c for c in service.runtime.pipeline.channels if isinstance(c, ItemCFChannel)]
    assert len(found) == 1
    return found[0]


def one_feature_ranker(names: tuple[str, ...], feature: str) -> LearnedRanker:
    """A logistic head that scores by one feature alone (the order is then known)."""
    weights = np.zeros(len(names), np.float32)
    weights[names.index(feature)] = 1.0
    zeros, ones = np.zeros(len(names), np.float32), np.ones(len(names), np.float32)
    return LearnedRanker(LogisticHead(zeros, ones, weights, 0.0), names)


def test_candidate_features_hold_what_each_channel_and_the_state_say(
    service: LiveService, ml100k: Dataset
) -> None:
    cs = proposed(service, "196")
    builder = service.runtime.candidate_features()
    x = builder.matrix(cs)
    col = {name: x[:, j] for j, name in enumerate(builder.names)}
    items = cs.fused.items.tolist()
    proposers = np.zeros(len(items))
    for name, got in cs.retrieved.items():
        where = {item: p for p, item in enumerate(got.items.tolist())}
        expected_rrank = [1 / (1 + where[i]) if i in where else 0.0 for i in items]
        np.testing.assert_allclose(col[f"{name}_rrank"], expected_rrank, rtol=1e-6)
        expected_score = [got.scores[where[i]] if i in where else np.nan for i in items]
        np.testing.assert_allclose(col[f"{name}_score"], expected_score, rtol=1e-6)
        proposers += np.asarray(expected_rrank) > 0
    np.testing.assert_array_equal(col["channels"], proposers)
    np.testing.assert_allclose(col["fused_score"], cs.fused.scores)
    stats = service.runtime.state.stats
    np.testing.assert_allclose(
        col["popularity"], np.log1p(stats.item_weight(cs.fused.items)), rtol=1e-6
    )
    vectors = service.runtime.pipeline.vectors
    assert vectors is not None
    # oracle: cosines with the newest item and the last five distinct items, by hand
    recent = list(dict.fromkeys(cs.ctx.history.items[::-1].tolist()))[:5]
    sims = vectors.rows(cs.fused.items) @ vectors.rows(np.array(recent)).T
    np.testing.assert_allclose(col["text_last"], sims[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(col["text_recent_max"], sims.max(axis=1), rtol=1e-5, atol=1e-6)
    steps_back = [int(np.flatnonzero(row == row.max())[0]) for row in sims]
    np.testing.assert_allclose(col["text_recency"], 1 / (1 + np.array(steps_back)), rtol=1e-6)
    assert ((col["genre_overlap"] >= 0) & (col["genre_overlap"] <= 1)).all()
    # oracle: each item's first rating in the data, to the user's newest one, in days
    it = ml100k.interactions
    first = {i: it.ts[it.iidx == i].min() for i in set(items)}
    newest_ts = it.ts[it.uidx == cs.ctx.uidx].max()
    expected_age = [(newest_ts - first[i]) / 86_400 for i in items]
    np.testing.assert_allclose(col["item_age"], expected_age, rtol=1e-5)
    assert np.ptp(col["item_age"]) > 30  # the candidates span months
    np.testing.assert_allclose(col["user_events"], np.log1p(service.profile("196").event_count))
    # oracle: the items' years from the catalog's own records, and the gaps to the mean of
    # the user's last 20 events
    year = np.array([it.year or np.nan for it in ml100k.catalog.take(items)], np.float64)
    np.testing.assert_allclose(col["year"], year)
    recent = cs.ctx.history.items[-20:]
    recent_years = [ml100k.catalog.take([i])[0].year for i in recent.tolist()]
    np.testing.assert_allclose(col["year_gap"], year - np.mean(recent_years), atol=1e-3)
    recent_pop = np.log1p(stats.item_weight(recent)).mean()
    np.testing.assert_allclose(col["popularity_gap"], col["popularity"] - recent_pop, atol=1e-5)
    assert np.ptp(col["year_gap"]) > 10  # candidates from different decades


def test_the_learned_ranker_orders_the_candidates(service: LiveService) -> None:
    names = service.runtime.candidate_features().names
    runtime = service.runtime
    from liverec.serving.candidates import LearnedRanking

    # a ranker reading some of the features, in its own order (item age left out)
    reads = tuple(reversed([n for n in names if n != "item_age"]))
    runtime.pipeline.ranking = LearnedRanking(
        one_feature_ranker(reads, "popularity"), runtime.candidate_features()
    )
    pipeline = runtime.pipeline.with_config(
        runtime.pipeline.config.model_copy(update={"mmr_lambda": 1.0, "dedupe_max_bits": -1})
    )
    uidx = service.user_index("196")
    result = pipeline.recommend(uidx, 10)
    cs = proposed(service, "196", pipeline.config.ranker_candidates)
    popularity = runtime.state.stats.item_weight(cs.fused.items)
    expected = cs.fused.items[np.argsort(-popularity, kind="stable")[:10]]
    assert [r.item for r in result.items] == expected.tolist()
    assert "ranker" in result.stage_ms and not result.degraded
    off = pipeline.with_config(pipeline.config.model_copy(update={"learned_ranker": False}))
    assert [r.item for r in off.recommend(uidx, 10).items] == cs.fused.items[:10].tolist()


class FailingHead:
    kind = "lightgbm"

    def score(self, features: np.ndarray) -> np.ndarray:
        raise MemoryError("model file unreadable")

    def save(self, directory: object) -> None:
        raise NotImplementedError


def test_a_failing_ranker_falls_back_to_fusion_and_says_so(service: LiveService) -> None:
    from liverec.serving.candidates import LearnedRanking

    runtime = service.runtime
    before = service.recommend("196", 10)
    names = runtime.candidate_features().names
    runtime.pipeline.ranking = LearnedRanking(
        LearnedRanker(FailingHead(), names), runtime.candidate_features()
    )
    after = runtime.pipeline.recommend(service.user_index("196"), 10)
    assert after.degraded == ["ranker: failed (MemoryError)"]
    ids = runtime.state.catalog.ids
    assert [r.item for r in after.items] == [ids.get(i.item_id) for i in before.items]


def test_a_ranker_trained_on_other_features_is_refused(service: LiveService) -> None:
    from liverec.serving.candidates import LearnedRanking

    features = service.runtime.candidate_features()
    stale = one_feature_ranker((*features.names[:-1], "session_gap"), "popularity")
    with pytest.raises(LiverecError, match=r"does not build \(session_gap\)"):
        LearnedRanking(stale, features)


def test_positions_in_an_empty_list_find_nothing() -> None:
    from liverec.core.arrays import positions_in

    pos, found = positions_in(np.zeros(0, np.int64), np.array([3, 1]))
    assert found.tolist() == [False, False] and len(pos) == 2


def test_item_cf_features_agree_with_the_neighbour_lists_and_the_live_pairs(
    service: LiveService,
) -> None:
    from liverec.events.schema import Event

    cs = proposed(service, "196")
    features = {f.name: f for f in service.runtime.pipeline.features}
    recency, newest_sim = features["itemcf_recency"], features["itemcf_newest"]
    channel = itemcf_channel(service)
    # another user pairs 196's newest item with two of its candidates: live pair increments
    # the features must add to the lists' weights
    catalog = service.runtime.state.catalog
    pair = [int(cs.ctx.history.items[-1]), *cs.fused.items[[100, 150]].tolist()]
    before = newest_sim(cs.ctx, cs.fused.items)[[100, 150]]
    later = [Event("200", catalog.item(i).item_id, ts=893e6 + n) for n, i in enumerate(pair)]
    service.ingest(later)
    cs = proposed(service, "196")
    items = cs.fused.items
    # oracle: every (source, neighbour) similarity the channel's lists and increments give
    newest_first = list(dict.fromkeys(cs.ctx.history.items[::-1].tolist()))[:RELATED_SOURCES]
    src, nbr, sims = channel.contributions(np.array(newest_first))
    table = {(int(s), int(n)): float(v) for s, n, v in zip(src, nbr, sims, strict=True)}
    expected_newest, expected_recency = [], []
    for item in items.tolist():
        row = [table.get((s, item), 0.0) for s in range(len(newest_first))]
        top = max(row)
        older = max(s for s, v in enumerate(row) if v == top)  # exact ties: the older
        expected_newest.append(row[0])
        expected_recency.append(1 / (1 + older) if top > 0 else 0.0)
    newest = newest_sim(cs.ctx, items)
    np.testing.assert_allclose(newest, expected_newest, rtol=1e-5)
    np.testing.assert_allclose(recency(cs.ctx, items), expected_recency, rtol=1e-6)
    assert 0 < np.count_nonzero(newest) < len(items)  # the test can tell right from wrong
    assert len(set(expected_recency)) > 2
    assert (newest[np.isin(items, pair[1:])] > before).all()
    # both features read one pass per request: another user's request in between is its own
    other = proposed(service, "186")
    assert not np.array_equal(newest_sim(other.ctx, other.fused.items)[:50], newest[:50])
    np.testing.assert_array_equal(newest_sim(cs.ctx, items), newest)


def test_reasons_cite_the_most_similar_recent_item(service: LiveService) -> None:
    cs = proposed(service, "196")
    recency = {f.name: f for f in service.runtime.pipeline.features}["itemcf_recency"]
    channel = itemcf_channel(service)
    recent = cs.ctx.history.items[-channel.window :]
    sources, weights = recency_weights(recent, channel.config.recency_decay)
    picks = cs.fused.items[:40]
    cited = channel.most_similar_source(sources, weights, picks)
    newest_first = sources[np.argsort(-weights, kind="stable")].tolist()
    # the reason's item is the one the recency feature counts back to
    got = [0.0 if c is None else 1 / (1 + newest_first.index(c)) for c in cited]
    np.testing.assert_allclose(got, recency(cs.ctx, cs.fused.items)[:40], rtol=1e-6)
