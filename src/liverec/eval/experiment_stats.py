"""The statistics of an online experiment, on per-user totals, through tea-tasting and scipy.

- **Ratio metrics over users** (CTR = clicked answers / answers, conversion = answers followed
  by a purchase / answers): the user is the unit of randomisation, so the per-user numerator
  and denominator are summed per arm and their ratio's variance comes from the delta method
  (tea-tasting's ``RatioOfMeans`` for the difference between arms, its ``Aggregates.ratio_var``
  for one arm's interval). Treating answers as independent would understate the variance of
  heavy users and overstate significance.
- **Sample-ratio mismatch**: a chi-square goodness-of-fit test (scipy) of users per arm
  against the configured shares; a p-value under 0.001 means the split is broken and the
  effects cannot be trusted.
- **Decision rule**: a group-sequential test with Lan-DeMets O'Brien-Fleming alpha spending
  over ``looks`` equally spaced looks at the planned number of users; see
  ``spending_boundaries`` for why this one.
- **Interleaving**: per user, the arm whose team got more clicks wins; a sign test
  (scipy's exact binomial test) over users with a winner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.stats
from numpy.typing import NDArray
from tea_tasting.aggr import Aggregates
from tea_tasting.metrics import RatioOfMeans

FloatArray = NDArray[np.float64]
SRM_ALPHA = 0.001  # an SRM check runs on every report: a strict level keeps false alarms rare


@dataclass(frozen=True)
class Interval:
    """An estimate with a two-sided confidence interval."""

    value: float
    lower: float
    upper: float


@dataclass(frozen=True)
class Comparison:
    """Treatment against control on one ratio metric."""

    control: float
    treatment: float
    rel_effect: Interval
    pvalue: float
    z: float


def ratio_aggregates(numer: FloatArray, denom: FloatArray) -> Aggregates:
    """Count, means, variances and covariance of per-user numerators and denominators."""
    n = len(numer)
    cov = np.cov(numer, denom, ddof=1) if n > 1 else np.zeros((2, 2))
    return Aggregates(
        count_=n,
        mean_={
            "numer": float(numer.mean()) if n else 0.0,
            "denom": float(denom.mean()) if n else 0.0,
        },
        var_={"numer": float(cov[0, 0]), "denom": float(cov[1, 1])},
        cov_={("denom", "numer"): float(cov[0, 1])},
    )


def ratio_interval(numer: FloatArray, denom: FloatArray, alpha: float = 0.05) -> Interval:
    """sum(numer) / sum(denom) over users, with its delta-method interval.

    >>> r = ratio_interval(np.array([1.0, 0, 2, 1]), np.array([2.0, 2, 4, 2]))
    >>> round(r.value, 3), r.lower < r.value < r.upper
    (0.4, True)
    """
    if len(numer) < 2 or not denom.sum():
        return Interval(math.nan, math.nan, math.nan)
    aggr = ratio_aggregates(numer, denom)
    value = aggr.mean("numer") / aggr.mean("denom")
    # Users whose ratios are all equal have zero variance, which the delta formula can
    # round to a tiny negative number.
    var = max(0.0, aggr.ratio_var("numer", "denom"))
    half = scipy.stats.norm.isf(alpha / 2) * math.sqrt(var / len(numer))
    return Interval(float(value), float(value - half), float(value + half))


def compare_ratio(
    control: tuple[FloatArray, FloatArray],
    treatment: tuple[FloatArray, FloatArray],
    alpha: float = 0.05,
) -> Comparison:
    """Relative effect of treatment on sum(numer)/sum(denom) per arm (delta method, z test)."""
    usable = (
        min(len(control[0]), len(treatment[0])) >= 2 and control[1].any() and treatment[1].any()
    )
    if not usable or not (control[0].any() or treatment[0].any()):  # no data, or all zero
        nan = math.nan
        return Comparison(nan, nan, Interval(nan, nan, nan), nan, 0.0)
    pair = ratio_aggregates(*control), ratio_aggregates(*treatment)
    if not any(a.ratio_var("numer", "denom") > 0 for a in pair):  # no variance: no test
        nan = math.nan
        return Comparison(nan, nan, Interval(nan, nan, nan), nan, 0.0)
    metric = RatioOfMeans("numer", "denom", confidence_level=1 - alpha, use_t=False)
    r = metric.analyze_aggregates(*pair)
    z = float(r.statistic) if math.isfinite(r.statistic) else 0.0
    rel = Interval(
        float(r.rel_effect_size),
        float(r.rel_effect_size_ci_lower),
        float(r.rel_effect_size_ci_upper),
    )
    return Comparison(float(r.control), float(r.treatment), rel, float(r.pvalue), z)


def srm_pvalue(users_per_arm: list[int], shares: list[float]) -> float:
    """Chi-square test of the users per arm against the configured shares.

    >>> round(srm_pvalue([500, 500], [0.5, 0.5]), 3), srm_pvalue([600, 400], [0.5, 0.5]) < 1e-9
    (1.0, True)
    """
    total = sum(users_per_arm)
    if total == 0:
        return 1.0
    expected = [total * s for s in shares]
    return float(scipy.stats.chisquare(users_per_arm, expected).pvalue)


def obrien_fleming_spent(t: float, alpha: float) -> float:
    """Two-sided alpha spent by information fraction ``t``: Lan-DeMets O'Brien-Fleming-type
    spending of ``alpha / 2`` on each side (as R's ldbounds and gsDesign compute it).

    >>> round(obrien_fleming_spent(1.0, 0.05), 6)
    0.05
    """
    side = 2 * scipy.stats.norm.sf(scipy.stats.norm.isf(alpha / 4) / math.sqrt(t))
    return float(2 * side)


@lru_cache(maxsize=64)
def spending_boundaries(looks: int, alpha: float) -> tuple[float, ...]:
    """Two-sided |z| boundaries for ``looks`` equally spaced looks, spending ``alpha`` in all.

    Why this rule: reports are read whenever someone opens them, and re-testing a
    fixed-horizon test at every peek inflates the false-positive rate several-fold. The
    O'Brien-Fleming shape spends almost nothing early (a first look of four needs |z| > 4.3),
    so a clear win or harm can still stop an experiment early while the last look is close
    to the fixed-horizon test (2.01 vs 1.96) and loses little power. Peeking between looks
    changes nothing: a look's data are fixed once its users have arrived. A mixture SPRT
    would allow stopping at any moment, but it pays for that with a false-positive rate
    well under alpha at the planned size, i.e. less power for the same users.

    >>> [round(b, 2) for b in spending_boundaries(4, 0.05)]
    [4.33, 2.96, 2.36, 2.01]
    >>> round(spending_boundaries(1, 0.05)[0], 3)
    1.96
    """
    fractions = [(k + 1) / looks for k in range(looks)]
    bounds: list[float] = []
    for k, t in enumerate(fractions):
        target = 1 - obrien_fleming_spent(t, alpha)  # P(no crossing up to and including k)
        if k == 0:
            bounds.append(float(scipy.stats.norm.isf((1 - target) / 2)))
            continue
        ts = np.asarray(fractions[: k + 1])
        cov = np.sqrt(np.minimum.outer(ts, ts) / np.maximum.outer(ts, ts))
        dist = scipy.stats.multivariate_normal(
            np.zeros(k + 1), cov, seed=0, maxpts=50_000, abseps=1e-6, releps=1e-6
        )
        args = (bounds, dist, target)
        bounds.append(float(scipy.optimize.brentq(_stay_gap, 0.5, 12.0, args, xtol=1e-4)))
    return tuple(bounds)


def _stay_gap(c: float, bounds: list[float], dist: Any, target: float) -> float:
    """P(no look up to this one crosses, this one at ``c``) minus what may be left unspent."""
    upper = np.asarray([*bounds, c])
    return float(dist.cdf(upper, lower_limit=-upper)) - target


def sign_test(wins_first: int, wins_second: int) -> tuple[float, float]:
    """(z, two-sided p-value) of users preferring the second arm over the first.

    >>> z, p = sign_test(40, 60)
    >>> round(z, 2), round(p, 3)
    (2.0, 0.057)
    """
    n = wins_first + wins_second
    if n == 0:
        return 0.0, 1.0
    z = (wins_second - wins_first) / math.sqrt(n)
    return z, float(scipy.stats.binomtest(wins_second, n, 0.5).pvalue)
