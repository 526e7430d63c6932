"""An experiment's report: per-arm exposures, CTR and conversion with intervals, effects
against the control, the sample-ratio check and the sequential decision.

The decision is made on CTR, the primary metric; conversion is reported beside it. With more
than one treatment arm, alpha is split equally between the comparisons (Bonferroni). A look
counts once its planned users have arrived and the attribution window after the last of
them has passed, so a look's data never change after it is taken: reading the report early
or often cannot change what it decides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from liverec.core.markdown import markdown_table
from liverec.eval.attribution import Outcomes, attribute
from liverec.eval.experiment_stats import (
    SRM_ALPHA,
    Comparison,
    Interval,
    compare_ratio,
    ratio_interval,
    sign_test,
    spending_boundaries,
    srm_pvalue,
)
from liverec.events.exposures import ExposureLog
from liverec.events.schema import LoggedEvent
from liverec.events.store import EventLog, read_all
from liverec.serving.experiments import ExperimentConfig

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class UserTotals:
    """Per exposed user: arm, answers shown, answers clicked, answers converted, team credit."""

    arm: NDArray[np.int64]
    exposures: FloatArray
    clicks: FloatArray
    conversions: FloatArray
    credit: FloatArray  # (users, arms)


def user_totals(
    outcomes: Outcomes,
    arm_of_user: NDArray[np.int64],
    upto: float = math.inf,
    clicked: NDArray[np.bool_] | None = None,
    cap: int | None = None,
) -> UserTotals:
    """Sum each user's exposures up to time ``upto`` (users with none are left out).

    ``clicked`` replaces ``outcomes.clicked`` (the simulation injects effects this way);
    ``cap`` scales a user's totals down to at most that many answers (same ratio, less
    weight), the same rule in every arm.
    """
    keep = outcomes.ts <= upto
    user = outcomes.user[keep]
    n = len(outcomes.users)
    shown = np.bincount(user, minlength=n).astype(np.float64)
    clicks = clicked if clicked is not None else outcomes.clicked
    clicked_n = np.bincount(user, weights=clicks[keep], minlength=n).astype(np.float64)
    converted = np.bincount(user, weights=outcomes.converted[keep], minlength=n).astype(np.float64)
    teams = outcomes.credit[keep]
    credit = np.stack(
        [np.bincount(user, weights=teams[:, a], minlength=n) for a in range(teams.shape[1])], 1
    ).astype(np.float64)
    if cap is not None:
        weight = np.minimum(1.0, cap / np.maximum(shown, 1.0))
        shown, clicked_n, converted = shown * weight, clicked_n * weight, converted * weight
    exposed = shown > 0
    return UserTotals(
        arm_of_user[exposed],
        shown[exposed],
        clicked_n[exposed],
        converted[exposed],
        credit[exposed],
    )


def arm_of_users(outcomes: Outcomes) -> NDArray[np.int64]:
    """The arm each user was assigned (the arm of their first exposure; -1: interleaved)."""
    arm = np.full(len(outcomes.users), -1, np.int64)
    first = np.unique(outcomes.user, return_index=True)[1]  # rows are in time order
    arm[outcomes.user[first]] = outcomes.arm[first]
    return arm


def look_z(totals: UserTotals, mode: str, n_arms: int) -> list[float]:
    """The test statistic of each treatment arm against the control on CTR (or, for
    interleaving, of the second arm's team against the first's)."""
    if mode == "interleave":
        wins = _wins(totals)
        return [sign_test(wins[0], wins[1])[0]]
    control = totals.arm == 0
    out = []
    for a in range(1, n_arms):
        treated = totals.arm == a
        c = (totals.clicks[control], totals.exposures[control])
        t = (totals.clicks[treated], totals.exposures[treated])
        out.append(compare_ratio(c, t).z)
    return out


def _wins(totals: UserTotals) -> tuple[int, int]:
    first, second = totals.credit[:, 0], totals.credit[:, 1]
    return int((first > second).sum()), int((second > first).sum())


@dataclass(frozen=True)
class Look:
    """One planned look of the decision rule."""

    number: int
    users_needed: int
    boundary: float
    at: float | None = None  # when its last planned user arrived (None: not yet)
    complete: bool = False  # its attribution window has passed too
    z: list[float] = field(default_factory=list)


def plan_looks(
    config: ExperimentConfig,
    outcomes: Outcomes,
    now: float,
    arm_of_user: NDArray[np.int64],
    clicked: NDArray[np.bool_] | None = None,
) -> list[Look]:
    """Every planned look, with the statistics of those that are complete."""
    comparisons = 1 if config.mode == "interleave" else len(config.arms) - 1
    bounds = spending_boundaries(config.looks, config.alpha / comparisons)
    arrivals = np.sort(outcomes.first_seen)
    looks = []
    for k, bound in enumerate(bounds, start=1):
        needed = math.ceil(k * config.planned_users / config.looks)
        if len(arrivals) < needed:
            looks.append(Look(k, needed, bound))
            continue
        at = float(arrivals[needed - 1])
        complete = now >= at + config.window_s
        z: list[float] = []
        if complete:
            totals = user_totals(outcomes, arm_of_user, at, clicked, config.max_user_exposures)
            z = look_z(totals, config.mode, len(config.arms))
        looks.append(Look(k, needed, bound, at, complete, z))
    return looks


def decide(config: ExperimentConfig, looks: list[Look]) -> tuple[str, int | None]:
    """What the rule says now, and the look that decided (None while it waits)."""
    arms = [a.name for a in config.arms]
    for look in looks:
        if not look.complete:
            break
        crossed = [(n, z) for n, z in enumerate(look.z) if abs(z) >= look.boundary]
        if crossed:
            if config.mode == "interleave":
                z = crossed[0][1]
                better = arms[1] if z > 0 else arms[0]
                return f"stop: users prefer {better} (look {look.number})", look.number
            said = [
                f"{arms[n + 1]} {'beats' if z > 0 else 'is worse than'} {arms[0]}"
                for n, z in crossed
            ]
            return f"stop: {'; '.join(said)} on CTR (look {look.number})", look.number
        if look.number == len(looks):
            return "stop: no difference at the planned sample; keep the control", look.number
    done = sum(look.complete for look in looks)
    if not config.running:
        return f"inconclusive: stopped after {done} of {len(looks)} looks", None
    waiting = next(look for look in looks if not look.complete)
    return (
        f"continue: look {waiting.number} of {len(looks)} needs {waiting.users_needed} users",
        None,
    )


@dataclass(frozen=True)
class ArmSummary:
    """One arm's traffic and metrics."""

    name: str
    share: float
    users: int
    exposures: int
    clicks: int
    conversions: int
    ctr: Interval
    conversion: Interval
    ctr_effect: Comparison | None = None
    conversion_effect: Comparison | None = None
    clicks_credited: int = 0  # interleaving: clicks on items this arm placed
    users_preferring: int = 0


@dataclass(frozen=True)
class ExperimentReport:
    """Everything ``liverec experiment report`` shows, JSON-able with dataclasses.asdict."""

    name: str
    mode: str
    status: str
    users: int
    exposures: int
    arms: list[ArmSummary]
    srm_pvalue: float
    srm_ok: bool
    looks: list[Look]
    decision: str
    preference_pvalue: float | None = None  # interleaving: sign test over users


def build_report(config: ExperimentConfig, outcomes: Outcomes, now: float) -> ExperimentReport:
    """The report of ``config`` on its attributed exposures as of ``now``."""
    arm_of_user = arm_of_users(outcomes)
    totals = user_totals(outcomes, arm_of_user, cap=config.max_user_exposures)
    looks = plan_looks(config, outcomes, now, arm_of_user)
    decision, _ = decide(config, looks)
    alpha = config.alpha
    if config.mode == "interleave":
        arms, pvalue = _interleave_arms(config, totals), sign_test(*_wins(totals))[1]
        srm = 1.0
    else:
        arms = [_arm_summary(config, totals, a, alpha) for a in range(len(config.arms))]
        srm = srm_pvalue([a.users for a in arms], config.shares)
        pvalue = None
    return ExperimentReport(
        config.name,
        config.mode,
        "running" if config.running else "stopped",
        len(totals.arm),
        outcomes.n,
        arms,
        srm,
        srm >= SRM_ALPHA,
        looks,
        decision,
        pvalue,
    )


def _arm_summary(config: ExperimentConfig, t: UserTotals, a: int, alpha: float) -> ArmSummary:
    mine, control = t.arm == a, t.arm == 0
    effects: list[Comparison | None] = [None, None]
    if a > 0:
        effects = [
            compare_ratio(
                (num[control], t.exposures[control]), (num[mine], t.exposures[mine]), alpha
            )
            for num in (t.clicks, t.conversions)
        ]
    return ArmSummary(
        config.arms[a].name,
        config.shares[a],
        int(mine.sum()),
        int(t.exposures[mine].sum()),
        int(t.clicks[mine].sum()),
        int(t.conversions[mine].sum()),
        ratio_interval(t.clicks[mine], t.exposures[mine], alpha),
        ratio_interval(t.conversions[mine], t.exposures[mine], alpha),
        effects[0],
        effects[1],
    )


def _interleave_arms(config: ExperimentConfig, t: UserTotals) -> list[ArmSummary]:
    wins = _wins(t)
    everyone = (t.clicks, t.exposures)
    return [
        ArmSummary(
            arm.name,
            1.0,
            len(t.arm),
            int(t.exposures.sum()),
            int(t.clicks.sum()),
            int(t.conversions.sum()),
            ratio_interval(*everyone, config.alpha),
            ratio_interval(t.conversions, t.exposures, config.alpha),
            clicks_credited=int(t.credit[:, n].sum()),
            users_preferring=wins[n],
        )
        for n, arm in enumerate(config.arms)
    ]


def _pct(x: Interval) -> str:
    if math.isnan(x.value):
        return "-"
    return f"{100 * x.value:.2f}% [{100 * x.lower:.2f}, {100 * x.upper:.2f}]"


def _effect(c: Comparison | None) -> str:
    if c is None or math.isnan(c.rel_effect.value):
        return "-"
    r = c.rel_effect
    return f"{100 * r.value:+.1f}% [{100 * r.lower:+.1f}, {100 * r.upper:+.1f}] p={c.pvalue:.3g}"


def format_report(report: ExperimentReport) -> str:
    """The report as text: a summary line, the arms table, the checks and the decision."""
    lines = [
        f"experiment {report.name} ({report.mode}, {report.status}): {report.users:,} users, "
        f"{report.exposures:,} exposures",
        "",
    ]
    if report.mode == "interleave":
        cols = ["arm", "clicks credited", "users preferring"]
        rows = [[a.name, f"{a.clicks_credited:,}", f"{a.users_preferring:,}"] for a in report.arms]
        lines += [markdown_table(cols, rows), ""]
        lines.append(f"preference (sign test over users): p={report.preference_pvalue:.3g}")
    else:
        cols = ["arm", "share", "users", "exposures", "CTR [95% CI]", "CTR vs control"]
        cols += ["conversion [95% CI]", "conversion vs control"]
        rows = [
            [
                *(a.name, f"{a.share:.0%}", f"{a.users:,}", f"{a.exposures:,}", _pct(a.ctr)),
                *(_effect(a.ctr_effect), _pct(a.conversion), _effect(a.conversion_effect)),
            ]
            for a in report.arms
        ]
        lines += [markdown_table(cols, rows), ""]
        verdict = "ok" if report.srm_ok else "MISMATCH: the split is broken, do not trust effects"
        lines.append(f"sample ratio (chi-square vs shares): p={report.srm_pvalue:.3g}, {verdict}")
    looks = [
        f"{k.number}: {k.users_needed:,} users, |z|>={k.boundary:.2f}"
        + (f", z={', '.join(f'{z:+.2f}' for z in k.z)}" if k.complete else " (pending)")
        for k in report.looks
    ]
    lines.append("looks (O'Brien-Fleming spending): " + "; ".join(looks))
    lines.append(f"decision: {report.decision}")
    return "\n".join(lines)


def experiment_report(
    config: ExperimentConfig, exposures: ExposureLog, log: EventLog, now: float
) -> ExperimentReport:
    """Read ``config``'s exposures, attribute the users' later clicks and purchases from the
    event log, and build the report as of ``now``."""
    shown = exposures.read(config.name)
    users = {e.user_id for e in shown}
    start = min((e.ts for e in shown), default=math.inf)
    events = [
        entry.event
        for entry in read_all(log)
        if isinstance(entry, LoggedEvent)
        and entry.event.user_id in users
        and entry.event.ts >= start
    ]
    arms = [a.name for a in config.arms]
    return build_report(config, attribute(shown, events, arms, config.window_s), now)
