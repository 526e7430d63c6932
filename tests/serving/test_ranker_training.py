"""Training the learned ranker inside a snapshot: held-out events, examples, the served stage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from liverec.core.privacy import Pseudonyms
from liverec.data.dataset import Dataset, Item
from liverec.data.idmap import IdMap
from liverec.data.interactions import Interactions
from liverec.models.ranker import ExampleSpec
from liverec.serving.ranker_examples import window_split
from liverec.serving.service import LiveService, ServiceConfig
from liverec.serving.snapshot import load_snapshot
from liverec.serving.training import TrainConfig, train_snapshot
from tests.conftest import UNHURRIED_PIPELINE, tiny_successors


def spec(window_share: float = 0.25, user_events: int = 0) -> ExampleSpec:
    return ExampleSpec(window_share, user_events, 1000, 5, 10, 50, 0)


def small() -> Dataset:
    # user 0: times 1, 4, 7; user 1: times 2, 5; user 2: time 3 (alone)
    it = Interactions.from_arrays([0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 7])
    catalog = [Item(f"i{k}", f"Item {k}") for k in range(6)]
    return Dataset("s", IdMap(["a", "b", "c"]), IdMap([f"i{k}" for k in range(6)]), it, catalog)


def test_the_time_window_holds_out_the_latest_events_in_time_order() -> None:
    before, window = window_split(small(), spec(window_share=0.5))
    assert window.tolist() == [3, 4, 5]  # times 4, 5, 7
    assert sorted(before.interactions.ts.tolist()) == [1, 2, 3]


def test_the_per_user_window_holds_out_each_users_last_events_keeping_one_before() -> None:
    before, window = window_split(small(), spec(user_events=2))
    assert window.tolist() == [3, 4, 5]  # u0: times 4 and 7; u1: time 5; u2 keeps its only one
    assert sorted(before.interactions.ts.tolist()) == [1, 2, 3]
    _, window = window_split(small(), spec(user_events=1))
    assert window.tolist() == [4, 5]


@pytest.fixture(scope="module")
def ranked_snapshot(
    tiny: Dataset, tmp_path_factory: pytest.TempPathFactory, models_dir: Path
) -> Path:
    config = TrainConfig(
        params={
            "ranker": {"window_share": 0.3, "min_data_in_leaf": 5, "rounds": 60, "negatives": 8}
        }
    ).with_optional(["ranker"])
    root = tmp_path_factory.mktemp("ranked") / "tiny"
    return train_snapshot(tiny, [], root, config, log=lambda *_: None, models_dir=models_dir)


@pytest.mark.slow  # trains a snapshot with the ranker: 4.6 s measured
def test_a_snapshot_with_the_ranker_records_how_it_was_chosen(ranked_snapshot: Path) -> None:
    meta = load_snapshot(ranked_snapshot).components["ranker"].meta
    assert meta["head"] in ("lightgbm", "logistic")
    scores = {kind: head["valid_ndcg@10"] for kind, head in meta["heads"].items()}
    assert meta["head"] == max(scores, key=lambda kind: scores[kind])
    assert meta["valid_ndcg@10"] == scores[meta["head"]]
    assert meta["train_groups"] >= 3 * meta["valid_groups"] > 0  # valid_share 0.25
    assert 0.5 < meta["candidate_recall"] <= 1.0  # a 40-item catalog: mostly proposed
    # the earlier groups: the chosen item and 8 sampled; the later: every candidate
    assert meta["rows_per_group"]["train"] <= 9 < 20 < meta["rows_per_group"]["valid"]


def successor_first(service: LiveService) -> int:
    """Users whose first pick is the planted successor of their last item."""
    successors = tiny_successors()
    hits = 0
    for user in (f"u{u}" for u in range(60)):
        answer = service.recommend(user, 10, explain=False)
        assert not answer.degraded
        last = service.profile(user).recent[0].item_id
        hits += answer.items[0].item_id == successors[last]
    return hits


@pytest.mark.slow  # trains a snapshot with the ranker: 4.6 s measured
def test_the_served_ranker_puts_the_planted_successor_first(
    ranked_snapshot: Path, pseudonyms: Pseudonyms
) -> None:
    def served(learned: bool) -> LiveService:
        pipeline = {**UNHURRIED_PIPELINE, "learned_ranker": learned, "mmr_lambda": 1.0}
        return LiveService.open(
            ranked_snapshot, config=ServiceConfig(pipeline=pipeline), pseudonyms=pseudonyms
        )

    ranked, fused = served(True), served(False)
    assert ranked.runtime.pipeline.ranking is not None
    # measured: 34 of 60 with the ranker, 22 with fusion's order
    learned, baseline = successor_first(ranked), successor_first(fused)
    assert learned >= 30 and learned >= baseline + 6


@pytest.mark.slow  # trains a snapshot with the ranker: 4.6 s measured
def test_a_snapshot_whose_ranker_reads_other_features_serves_fusion(
    ranked_snapshot: Path, pseudonyms: Pseudonyms, tmp_path: Path
) -> None:
    copy = tmp_path / ranked_snapshot.name
    shutil.copytree(ranked_snapshot, copy)
    names = tmp_path / copy.name / "ranker" / "features.json"
    names.write_text(json.dumps([*json.loads(names.read_text()), "session_gap"]))
    service = LiveService.open(
        copy, config=ServiceConfig(pipeline=UNHURRIED_PIPELINE), pseudonyms=pseudonyms
    )
    assert service.runtime.pipeline.ranking is None
    answer = service.recommend("u1", 10)
    assert len(answer.items) == 10 and not answer.degraded
