"""Offline experiments on the streaming replay: try an experiment before users see it.

Train on the events before a time cut, then walk the later events in time order through a
live service that runs the experiment: before each event the user asks for recommendations
(their arm answers, or both arms interleaved, and the exposure is logged as in production),
the simulated user clicks the item they actually chose next if it was shown, and only then
is the real event ingested, so every arm's state moves on exactly as it would have. A purchase
in the data, or a rating of 4 or more of a shown item (ML-100K has only ratings), counts as a
conversion. The exposures and simulated clicks then go through the same attribution and
report as live traffic.

A/A runs check the decision rule itself: one replay with two identical arms gives the
exposures; each run re-draws the user split with a fresh salt (users, not answers, are
re-randomised, as a real split would be) and applies the whole sequential rule; the share of
runs that declare a difference is the false-positive rate. For power, each run also adds
clicks to the second arm's unclicked answers with the probability that raises its expected
CTR by ``effect`` (relative), and counts the runs that detect it.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.stats

from liverec.core.types import EventType
from liverec.data.dataset import Dataset
from liverec.eval.attribution import Outcomes, attribute
from liverec.eval.experiment_report import plan_looks
from liverec.eval.replay import ReplaySplit, replay_config
from liverec.events.exposures import Exposure, MemoryExposureLog
from liverec.events.schema import Event
from liverec.events.store import open_event_log
from liverec.serving.experiments import ArmConfig, ExperimentConfig, ExperimentStore, bucket
from liverec.serving.service import LiveService, ServiceConfig
from liverec.serving.training import TrainConfig, train_snapshot

LIKED = 4.0  # a rating at least this high of a shown item counts as a conversion


@dataclass(frozen=True)
class Simulated:
    """What a replayed experiment showed and what the simulated users did."""

    config: ExperimentConfig
    exposures: list[Exposure]
    events: list[Event]
    """Simulated clicks and conversions, with the exposures' clock."""
    end: float

    def outcomes(self) -> Outcomes:
        """The exposures with their attributed clicks and conversions."""
        arms = [a.name for a in self.config.arms]
        return attribute(self.exposures, self.events, arms, self.config.window_s)


def simulate(
    dataset: Dataset,
    split: ReplaySplit,
    config: ExperimentConfig,
    *,
    k: int = 10,
    service_config: ServiceConfig | None = None,
    train_config: TrainConfig | None = None,
    workdir: Path | None = None,
    models_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Simulated:
    """Replay ``split.stream`` through a live service running ``config``."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        snap = train_snapshot(
            split.train,
            [],
            Path(tmp) / "snapshots",
            train_config,
            log=lambda *_: None,
            models_dir=models_dir,
        )
        exposures = MemoryExposureLog()
        service = LiveService.open(
            snap,
            open_event_log("memory://"),
            service_config or replay_config(),
            exposures=exposures,
            experiments=ExperimentStore(),
        )
        service.experiments.define(config)
        events, end = _walk(dataset, split, service, k, progress)
        return Simulated(config, exposures.read(config.name), events, end)


def _walk(
    dataset: Dataset,
    split: ReplaySplit,
    service: LiveService,
    k: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[list[Event], float]:
    it = dataset.interactions
    users, items = dataset.users.raw_ids, dataset.items.raw_ids
    clock = [0.0]
    service.clock = lambda: clock[0]
    simulated: list[Event] = []
    for n, row in enumerate(split.stream.tolist()):
        user, item = users[it.uidx[row]], items[it.iidx[row]]
        etype, value, ts = EventType(int(it.etype[row])), float(it.value[row]), float(it.ts[row])
        # the data's times tie often: a microsecond per step keeps exposures in stream order
        clock[0] = ts + n * 1e-6
        answer = service.recommend(user, k, explain=False)
        shown = any(r.item_id == item for r in answer.items)
        if shown:
            simulated.append(Event(user, item, EventType.CLICK, clock[0]))
        if etype == EventType.PURCHASE or (shown and etype == EventType.RATING and value >= LIKED):
            simulated.append(Event(user, item, EventType.PURCHASE, clock[0]))
        service.ingest([Event(user, item, etype, ts, value)])
        if progress is not None and (n + 1) % 1000 == 0:
            progress(n + 1, split.n_stream)
    return simulated, clock[0]


def aa_config(
    users: int, looks: int = 4, alpha: float = 0.05, max_user_exposures: int | None = None
) -> ExperimentConfig:
    """Two identical arms, 50/50, planned for every user of the replay."""
    return ExperimentConfig(
        name="aa",
        arms=(ArmConfig(name="a"), ArmConfig(name="b")),
        planned_users=users,
        looks=looks,
        alpha=alpha,
        window_s=1.0,
        max_user_exposures=max_user_exposures,
    )


@dataclass(frozen=True)
class RunsResult:
    """How often the decision rule declared a difference over re-randomised runs."""

    runs: int
    effect: float
    users: int
    exposures: int
    ctr: float
    detected: int
    """Runs that stopped for a difference (for ``effect > 0``: in the right direction)."""
    wrong_sign: int
    by_look: list[int]
    """Runs that stopped at each look."""

    @property
    def rate(self) -> float:
        """``detected / runs``: the false-positive rate (A/A) or the power."""
        return self.detected / self.runs

    def interval(self) -> tuple[float, float]:
        """95% Clopper-Pearson interval of ``rate``."""
        ci = scipy.stats.binomtest(self.detected, self.runs).proportion_ci(0.95, "exact")
        return float(ci.low), float(ci.high)


def rerandomised_runs(
    config: ExperimentConfig, outcomes: Outcomes, runs: int, effect: float = 0.0, seed: int = 0
) -> RunsResult:
    """Apply the decision rule to ``runs`` fresh user splits of one set of exposures,
    optionally with a relative CTR ``effect`` injected into the second arm."""
    rng = np.random.default_rng(seed)
    ctr = float(outcomes.clicked.mean()) if outcomes.n else 0.0
    # P(extra click | unclicked) that lifts the expected CTR from ctr to ctr * (1 + effect)
    lift = min(1.0, effect * ctr / (1 - ctr)) if effect > 0 and 0 < ctr < 1 else 0.0
    now = math.inf  # every look complete
    detected = wrong = 0
    by_look = [0] * config.looks
    for r in range(runs):
        salt = f"sim-{seed}-{r}"
        shares = config.shares[0]
        arm_of_user = np.asarray([int(bucket(salt, u) >= shares) for u in outcomes.users], np.int64)
        clicked = outcomes.clicked
        if lift:
            treated = arm_of_user[outcomes.user] == 1
            clicked = clicked | (treated & (rng.random(outcomes.n) < lift))
        for look in plan_looks(config, outcomes, now, arm_of_user, clicked):
            if look.z and abs(look.z[0]) >= look.boundary:
                by_look[look.number - 1] += 1
                if effect > 0 and look.z[0] < 0:
                    wrong += 1
                else:
                    detected += 1
                break
    users = len(outcomes.users)
    return RunsResult(runs, effect, users, outcomes.n, ctr, detected, wrong, by_look)
