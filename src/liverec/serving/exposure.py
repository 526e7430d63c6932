"""What serving an experiment adds to an answer: a request id, interleaving, an exposure.

Every answer is named by a request id; under an experiment the service logs what it showed
(an ``Exposure``) so that clicks can be credited to the arm that answered them
(``liverec.eval.attribution``). In ``interleave`` mode one list is merged from both arms' by
team draft (``liverec.serving.interleave``) and the exposure says which arm placed each item.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from random import Random

from liverec.events.exposures import Exposure, ExposureLog
from liverec.events.store import EventLogError
from liverec.serving.experiments import ActiveExperiment
from liverec.serving.interleave import interleave_arms
from liverec.serving.results import Recommendation, RecommendationResult, shown_items
from liverec.serving.runtime import Runtime

log = logging.getLogger(__name__)


class ExperimentExposure:
    """Request ids, interleaved answers and the exposure log of one service."""

    def __init__(self, exposures: ExposureLog, clock: Callable[[], float]) -> None:
        self.log = exposures
        # Exposures are on the events' clock: attribution compares their times with clicks'.
        # A replay sets its own.
        self.clock = clock
        self.failures = 0  # exposures lost to a failing exposure log
        # A random prefix per service and a counter: unique across processes and restarts
        # for practical purposes, at a fifth of the cost of 8 fresh random bytes per answer.
        self._id_prefix = secrets.token_hex(4)
        self._id_counter = itertools.count()

    def request_id(self) -> str:
        """A new id to name one answer."""
        return f"{self._id_prefix}{next(self._id_counter) & 0xFFFFFFFF:08x}"

    def interleaved(
        self,
        experiment: ActiveExperiment,
        rt: Runtime,
        user_id: str,
        pseudonym: str,
        k: int,
        explain: bool,
        exclude: Sequence[int],
        genres: Sequence[str],
    ) -> RecommendationResult:
        """Both arms' lists merged by team draft, logged as an exposure; not cached, since
        every answer draws anew."""
        t0 = time.perf_counter()
        arms = [a.name for a in experiment.config.arms]
        request_id = self.request_id()
        out, teams = interleave_arms(
            [(a, rt.pipeline_for(experiment.pipelines[a])) for a in arms],
            rt.state.users.get(pseudonym),
            k,
            exclude,
            genres,
            explain,
            Random(request_id),
        )
        items = shown_items(rt.state.catalog, out.items)
        self.record(request_id, experiment.name, "+".join(arms), pseudonym, items, teams)
        return RecommendationResult(
            user_id,
            items,
            rt.version,
            out.degraded,
            out.cold_start,
            False,
            round((time.perf_counter() - t0) * 1e3, 3),
            out.stage_ms,
            request_id,
            experiment.name,
            "interleave:" + "+".join(arms),
        )

    def record(
        self,
        request_id: str,
        experiment: str,
        arm: str,
        pseudonym: str,
        items: Sequence[Recommendation],
        teams: tuple[str, ...] = (),
    ) -> None:
        """Log what was shown; a failing exposure log costs the experiment data, not the answer."""
        exposure = Exposure(
            request_id,
            experiment,
            arm,
            pseudonym,
            self.clock(),
            tuple(r.item_id for r in items),
            teams,
        )
        try:
            self.log.append([exposure])
        except EventLogError:
            self.failures += 1
            log.warning("exposure of request %s not logged", request_id, exc_info=True)
