"""Experiment statistics against known answers: scipy's Welch test, ldbounds' boundaries,
hand-attributed clicks, and a decision rule whose A/A false-positive rate is alpha."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from liverec.core.types import EventType
from liverec.eval.attribution import Outcomes, attribute
from liverec.eval.experiment_report import build_report, decide, format_report, plan_looks
from liverec.eval.experiment_sim import aa_config, rerandomised_runs
from liverec.eval.experiment_stats import compare_ratio, ratio_interval, spending_boundaries
from liverec.events.exposures import Exposure
from liverec.events.schema import Event
from liverec.serving.experiments import ArmConfig, ExperimentConfig


def test_with_one_answer_per_user_the_ratio_test_is_welchs_test() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.binomial(1, 0.10, 400).astype(float), rng.binomial(1, 0.13, 300).astype(float)
    ones_a, ones_b = np.ones(400), np.ones(300)
    found = compare_ratio((a, ones_a), (b, ones_b))
    welch = scipy.stats.ttest_ind(b, a, equal_var=False)
    assert found.z == pytest.approx(welch.statistic, rel=1e-9)
    assert found.rel_effect.value == pytest.approx(b.mean() / a.mean() - 1)
    interval = ratio_interval(a, ones_a)
    half = 1.959964 * a.std(ddof=1) / math.sqrt(400)
    assert (interval.lower, interval.upper) == pytest.approx((a.mean() - half, a.mean() + half))


def test_heavy_users_widen_the_ratio_interval_beyond_the_naive_one() -> None:
    # 10 users: nine with 1 answer unclicked, one with 100 answers all clicked
    clicks, shown = np.array([0.0] * 9 + [100.0]), np.array([1.0] * 9 + [100.0])
    delta = ratio_interval(clicks, shown)
    p, n = clicks.sum() / shown.sum(), shown.sum()
    naive = 1.96 * math.sqrt(p * (1 - p) / n)
    assert delta.upper - delta.value > 3 * naive


def test_users_with_one_ratio_give_a_zero_width_interval() -> None:
    # Every user clicked a fifth of what they were shown: the delta-method variance is zero,
    # which floating point computes here as -9e-19 (this input failed CI once).
    shown = np.array([1.0, 3, 2, 4, 1, 3, 4, 3, 4, 1, 2, 4, 4, 3, 1, 4, 4, 2, 2, 3])
    interval = ratio_interval(shown / 5, shown)
    assert (interval.lower, interval.value, interval.upper) == pytest.approx((0.2, 0.2, 0.2))


@pytest.mark.parametrize(
    ("looks", "expected"),
    [(2, [2.963, 1.969]), (4, [4.333, 2.963, 2.359, 2.014])],  # R ldbounds, alpha 0.05
)
def test_spending_boundaries_match_ldbounds(looks: int, expected: list[float]) -> None:
    assert spending_boundaries(looks, 0.05) == pytest.approx(expected, abs=2e-3)


def shown(
    n: int, user: str, ts: float, items: tuple[str, ...], teams: tuple[str, ...] = ()
) -> Exposure:
    return Exposure(f"r{n}", "e", "a" if not teams else "a+b", user, ts, items, teams)


def test_clicks_and_purchases_go_to_the_latest_exposure_in_the_window() -> None:
    exposures = [
        shown(0, "u", 100.0, ("x", "y")),
        shown(1, "u", 200.0, ("y", "z")),
        shown(2, "v", 100.0, ("x",)),
    ]
    events = [
        Event("u", "x", EventType.CLICK, 250.0),  # only exposure 0 showed x
        Event("u", "y", EventType.CLICK, 260.0),  # both showed y: the later one
        Event("u", "y", EventType.CLICK, 261.0),  # the same click again counts once
        Event("u", "q", EventType.PURCHASE, 270.0),  # any purchase: the latest exposure
        Event("v", "x", EventType.CLICK, 100.0 + 3600),  # out of the 1,800 s window
        Event("v", "x", EventType.VIEW, 150.0),  # views are no outcome
        Event("w", "x", EventType.CLICK, 150.0),  # never exposed
    ]
    out = attribute(exposures, events, ["a"], window_s=1800.0)
    assert out.users == ("u", "v")
    # rows in time order: u at 100, v at 100, u at 200
    assert out.user.tolist() == [0, 1, 0]
    assert out.clicked.tolist() == [True, False, True]
    assert out.converted.tolist() == [False, False, True]


def test_interleaved_clicks_are_credited_to_the_team_that_placed_the_item() -> None:
    exposures = [shown(0, "u", 1.0, ("x", "y", "z"), ("a", "b", "a"))]
    events = [Event("u", i, EventType.CLICK, 2.0) for i in ("x", "z", "y")]
    out = attribute(exposures, events, ["a", "b"], window_s=10.0)
    assert out.credit.tolist() == [[2, 1]]


def synthetic(
    users: int, ctr: tuple[float, float], seed: int = 0
) -> tuple[ExperimentConfig, Outcomes]:
    """Users arriving one a second, 1-20 answers each, in arm a or b by the config's split."""
    config = ExperimentConfig(
        name="e",
        arms=(ArmConfig(name="a"), ArmConfig(name="b")),
        salt="s",
        planned_users=users,
        looks=4,
        window_s=10.0,
    )
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 21, users)
    user = np.repeat(np.arange(users), counts)
    from liverec.serving.experiments import bucket

    arm_of_user = np.asarray([int(bucket("s", f"u{u}") >= 0.5) for u in range(users)])
    arm = arm_of_user[user]
    p = np.where(arm == 1, ctr[1], ctr[0])
    outcomes = Outcomes(
        ("a", "b"),
        tuple(f"u{u}" for u in range(users)),
        user,
        arm,
        user.astype(np.float64) + rng.random(len(user)) * 0.5,
        rng.random(len(user)) < p,
        np.zeros(len(user), np.bool_),
        np.zeros((len(user), 2), np.int64),
    )
    return config, outcomes


def test_a_clear_win_stops_at_the_first_complete_look_and_the_report_says_so() -> None:
    config, outcomes = synthetic(2000, (0.10, 0.30))
    report = build_report(config, outcomes, now=math.inf)
    assert report.decision == "stop: b beats a on CTR (look 1)"
    assert report.srm_ok and 950 < report.arms[1].users < 1050
    assert report.arms[1].ctr_effect is not None and report.arms[1].ctr_effect.rel_effect.lower > 1
    assert "decision: stop: b beats a" in format_report(report)


def test_the_rule_waits_for_users_and_for_the_window_after_them() -> None:
    config, outcomes = synthetic(2000, (0.10, 0.10))
    half = np.sort(outcomes.first_seen)[999]  # arrival of the 1,000th user: look 2's time
    looks = plan_looks(
        config,
        outcomes,
        now=half + 5.0,
        arm_of_user=outcomes.arm[np.unique(outcomes.user, return_index=True)[1]],
    )
    assert [(k.users_needed, k.complete) for k in looks] == [
        (500, True),
        (1000, False),
        (1500, False),
        (2000, False),
    ]
    assert decide(config, looks)[0] == "continue: look 2 of 4 needs 1000 users"
    stopped = config.model_copy(update={"stopped": 1.0})
    assert decide(stopped, looks)[0] == "inconclusive: stopped after 1 of 4 looks"


@pytest.mark.slow
def test_over_re_randomised_a_a_runs_the_false_positive_rate_is_near_alpha() -> None:
    _, outcomes = synthetic(1000, (0.10, 0.10), seed=1)
    runs = rerandomised_runs(aa_config(1000), outcomes, 200)
    low, high = runs.interval()
    assert low <= 0.05 <= high  # 200 runs: the 95% interval is about +-3 points
    lifted = rerandomised_runs(aa_config(1000), outcomes, 20, effect=0.5, seed=2)
    assert lifted.rate > 0.9 and lifted.wrong_sign == 0


def test_an_interleaved_experiment_is_decided_by_users_preferring_a_team() -> None:
    config = ExperimentConfig(
        name="i",
        mode="interleave",
        arms=(ArmConfig(name="a"), ArmConfig(name="b")),
        planned_users=100,
        looks=1,
        window_s=1.0,
    )
    users = 100
    credit = np.zeros((users, 2), np.int64)
    credit[:70, 1] = 1  # 70 users clicked only what b placed, 30 only what a placed
    credit[70:, 0] = 1
    outcomes = Outcomes(
        ("a", "b"),
        tuple(f"u{u}" for u in range(users)),
        np.arange(users),
        np.full(users, -1),
        np.arange(users, dtype=np.float64),
        np.ones(users, np.bool_),
        np.zeros(users, np.bool_),
        credit,
    )
    report = build_report(config, outcomes, now=math.inf)
    assert [(a.name, a.users_preferring, a.clicks_credited) for a in report.arms] == [
        ("a", 30, 30),
        ("b", 70, 70),
    ]
    assert report.preference_pvalue == pytest.approx(scipy.stats.binomtest(70, 100).pvalue)
    assert report.decision == "stop: users prefer b (look 1)"  # z = 40 / sqrt(100) = 4


def test_a_cap_weighs_a_heavy_user_as_at_most_cap_answers_with_the_same_ratio() -> None:
    from liverec.eval.experiment_report import user_totals

    user = np.asarray([0] * 100 + [1] * 4)
    clicked = np.asarray([True] * 30 + [False] * 70 + [True, False, False, False])
    outcomes = Outcomes(
        ("a",),
        ("heavy", "light"),
        user,
        np.zeros(104, np.int64),
        np.arange(104, dtype=np.float64),
        clicked,
        np.zeros(104, np.bool_),
        np.zeros((104, 1), np.int64),
    )
    totals = user_totals(outcomes, np.zeros(2, np.int64), cap=10)
    assert totals.exposures.tolist() == [10.0, 4.0]
    assert totals.clicks.tolist() == pytest.approx([3.0, 1.0])
