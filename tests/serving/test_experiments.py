"""Experiments in the live service: assignment, arms' pipelines, exposures, interleaving."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import ValidationError

from liverec.core.errors import ConfigError
from liverec.core.privacy import Pseudonyms
from liverec.events.exposures import Exposure, MemoryExposureLog
from liverec.events.store import EventLogError, open_event_log
from liverec.serving.erasure import erase_user
from liverec.serving.experiments import (
    ActiveExperiment,
    ArmConfig,
    ExperimentConfig,
    ExperimentStore,
    bucket,
    resolve_pipeline,
)
from liverec.serving.interleave import team_draft
from liverec.serving.pipeline import PipelineConfig
from liverec.serving.service import LiveService, ServiceConfig
from liverec.serving.snapshot import Snapshot
from tests.conftest import UNHURRIED_PIPELINE


def two_arms(name: str = "e", mode: str = "ab", **b_pipeline: object) -> ExperimentConfig:
    return ExperimentConfig(
        name=name,
        mode=mode,  # type: ignore[arg-type]
        arms=(ArmConfig(name="control"), ArmConfig(name="b", pipeline=b_pipeline)),
        salt="s",
    )


def test_users_split_by_the_shares_and_keep_their_arm() -> None:
    config = ExperimentConfig(
        name="e", arms=(ArmConfig(name="a", share=0.2), ArmConfig(name="b", share=0.8)), salt="x"
    )
    active = ActiveExperiment.of(config, PipelineConfig())
    arms = [active.assign(f"user{n}") for n in range(10_000)]
    # binomial(10,000, 0.2): sd 40, so 3 sd either side
    assert 1880 <= arms.count("a") <= 2120
    assert arms == [active.assign(f"user{n}") for n in range(10_000)]


def test_a_new_salt_redraws_the_split() -> None:
    users = [f"user{n}" for n in range(1000)]
    first = [bucket("one", u) < 0.5 for u in users]
    second = [bucket("two", u) < 0.5 for u in users]
    agree = sum(a == b for a, b in zip(first, second, strict=True))
    assert 430 <= agree <= 570  # independent splits agree half the time


def test_arm_overrides_merge_dict_fields_key_by_key() -> None:
    arm = ArmConfig(name="b", pipeline={"mmr_lambda": 0.5, "weights": {"pop": 1.0}})
    merged = resolve_pipeline(PipelineConfig(), arm)
    assert merged.mmr_lambda == 0.5
    assert merged.weights == {**PipelineConfig().weights, "pop": 1.0}


@pytest.mark.parametrize(
    ("arms", "message"),
    [
        ([{"name": "a", "pipeline": {"mmr_lamda": 0.5}}, {"name": "b"}], "mmr_lamda"),
        ([{"name": "a", "pipeline": {"weights": {"itemfc": 1}}}, {"name": "b"}], "itemfc"),
        ([{"name": "a", "share": 0.5}, {"name": "b", "share": 0.6}], "add up to 1"),
        ([{"name": "a", "share": 0.5}, {"name": "b"}], "every arm or to none"),
        ([{"name": "a"}, {"name": "a"}], "names must differ"),
    ],
)
def test_a_bad_definition_names_what_is_wrong(arms: list[dict[str, object]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ExperimentConfig.model_validate({"name": "e", "arms": arms})


def test_interleaving_needs_exactly_two_arms() -> None:
    arms = [{"name": n} for n in "abc"]
    with pytest.raises(ValidationError, match="exactly 2"):
        ExperimentConfig.model_validate({"name": "e", "mode": "interleave", "arms": arms})


def test_the_store_runs_one_experiment_at_a_time_and_keeps_stopped_ones(tmp_path: Path) -> None:
    store = ExperimentStore(tmp_path / "experiments.json")
    store.create(two_arms("first"))
    with pytest.raises(ConfigError, match="stop it first"):
        store.create(two_arms("second"))
    store.stop("first")
    store.create(two_arms("second"))
    again = ExperimentStore(tmp_path / "experiments.json")  # another process
    assert [(e.name, e.running) for e in again.all()] == [("first", False), ("second", True)]
    assert again.running() == store.get("second")


def test_team_draft_keeps_each_rankers_order_and_balances_the_teams() -> None:
    rng = random.Random(1)
    for _ in range(200):
        a = rng.sample(range(30), 10)
        b = rng.sample(range(30), 10)
        merged, teams = team_draft(a, b, 10, rng)
        assert len(merged) == len(set(merged)) == 10
        for team, ranked in ((0, a), (1, b)):
            picked = [i for i, t in zip(merged, teams, strict=True) if t == team]
            assert picked == sorted(picked, key=ranked.index)  # each team in its own order
        assert abs(teams.count(0) - teams.count(1)) <= 1


@pytest.fixture
def lab(snapshot: Snapshot, pseudonyms: Pseudonyms) -> LiveService:
    """A service over the session snapshot whose exposures and experiments stay in memory."""
    config = ServiceConfig(pipeline=UNHURRIED_PIPELINE)
    return LiveService.open(snapshot, config=config, pseudonyms=pseudonyms)


def test_without_an_experiment_answers_carry_a_request_id_and_log_nothing(lab: LiveService) -> None:
    first, second = lab.recommend("196"), lab.recommend("196")
    assert first.request_id and first.request_id != second.request_id
    assert (first.experiment, first.arm, second.cached) == (None, None, True)
    assert lab.exposures.counts() == {}


def test_each_arm_answers_as_a_service_configured_like_it(
    lab: LiveService, snapshot: Snapshot, pseudonyms: Pseudonyms
) -> None:
    lab.experiments.define(two_arms(mmr_lambda=0.3, weights={"pop": 2.0}))
    arm_b = {
        **UNHURRIED_PIPELINE,
        "mmr_lambda": 0.3,
        "weights": {**PipelineConfig().weights, "pop": 2.0},
    }
    oracle = {
        arm: LiveService.open(snapshot, config=ServiceConfig(pipeline=p), pseudonyms=pseudonyms)
        for arm, p in (("control", UNHURRIED_PIPELINE), ("b", arm_b))
    }
    users = [str(u) for u in range(1, 41)]
    answers = [lab.recommend(u) for u in users]
    assert {a.arm for a in answers} == {"control", "b"}
    assert not any(a.cold_start for a in answers)
    # the arms differ, so the comparison below can tell them apart
    assert oracle["control"].recommend("1").items != oracle["b"].recommend("1").items
    for user, answer in zip(users, answers, strict=True):
        expected = [r.item_id for r in oracle[answer.arm or ""].recommend(user).items]
        assert [r.item_id for r in answer.items] == expected
    logged = lab.exposures.read("e")
    assert [(x.request_id, x.arm, list(x.items)) for x in logged] == [
        (a.request_id, a.arm, [r.item_id for r in a.items]) for a in answers
    ]


def test_cached_answers_are_exposures_too_and_stay_in_their_arm(lab: LiveService) -> None:
    lab.experiments.define(two_arms(mmr_lambda=0.3))
    first, again = lab.recommend("196"), lab.recommend("196")
    assert again.cached and again.arm == first.arm and again.items == first.items
    assert len(lab.exposures.read("e")) == 2
    lab.experiments.stop("e")
    after = lab.recommend("196")
    assert (after.arm, after.experiment) == (None, None)
    assert len(lab.exposures.read("e")) == 2


def test_an_interleaved_answer_merges_both_arms_and_logs_each_items_team(
    lab: LiveService,
) -> None:
    lab.experiments.define(two_arms(mode="interleave", mmr_lambda=0.0))
    answer = lab.recommend("196")
    pipelines = lab.experiments.current().pipelines  # type: ignore[union-attr]
    uidx = lab.user_index("196")
    lists = {
        arm: [r.item for r in lab.runtime.pipeline_for(cfg).recommend(uidx, 10).items]
        for arm, cfg in pipelines.items()
    }
    (logged,) = lab.exposures.read("e")
    assert answer.arm == "interleave:control+b" and len(answer.items) == 10
    assert lists["control"] != lists["b"] and set(logged.teams) == {"control", "b"}
    ids = lab.runtime.state.catalog.ids
    for item, team in zip(logged.items, logged.teams, strict=True):
        assert ids.index(item) in lists[team]


class BrokenExposureLog(MemoryExposureLog):
    def append(self, exposures: Sequence[Exposure]) -> None:
        raise EventLogError("exposures.db is locked")


@pytest.mark.parametrize("mode", ["ab", "interleave"])
def test_a_failing_exposure_log_costs_the_experiment_data_not_the_answer(
    snapshot: Snapshot, pseudonyms: Pseudonyms, mode: str
) -> None:
    config = ServiceConfig(pipeline=UNHURRIED_PIPELINE)
    broken = LiveService.open(
        snapshot, config=config, pseudonyms=pseudonyms, exposures=BrokenExposureLog()
    )
    broken.experiments.define(two_arms(mode=mode, mmr_lambda=0.3))
    answer = broken.recommend("196")
    assert answer.items and answer.request_id and answer.experiment == "e"
    assert broken.exposure_failures == 1


def test_erasing_a_user_deletes_their_exposures(tmp_path: Path) -> None:
    exposures = MemoryExposureLog()
    lab_log = open_event_log("memory://")
    exposures.append(
        [Exposure("r", "e", "a", "p1", 1.0, ("i",)), Exposure("s", "e", "a", "p2", 1.0, ("i",))]
    )
    (tmp_path / "snaps").mkdir()
    erase_user(
        "p1",
        home=tmp_path,
        dataset="none",
        log=lab_log,
        snapshots=tmp_path / "snaps",
        exposures=exposures,
    )
    assert [e.user_id for e in exposures.read("e")] == ["p2"]
