"""The last minutes of a service, for the operator dashboard: traffic, latency, answers.

Every request, pipeline stage and answer is counted into a one-second bucket of a ring that
covers ``window_s`` seconds; a bucket whose second has passed out of the window is reused,
so memory stays flat and nothing runs in the background. Latencies go into log-spaced
histogram bins (each about 17% wide), which is what the reported percentiles resolve to.
Recording costs a lock and a few dict operations: a few microseconds per request.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Counts = NDArray[np.int64]  # one histogram: calls per latency bin

LOWEST_S = 1e-5  # latencies below 10 us count in the first bin, above 30 s in the last
HIGHEST_S = 30.0
BINS = 96
_LOG_STEP = math.log(HIGHEST_S / LOWEST_S) / BINS
# A bin reports its geometric middle: within ~8% of any latency that fell into it.
MIDDLES_MS: NDArray[np.float64] = 1e3 * LOWEST_S * np.exp(_LOG_STEP * (np.arange(BINS) + 0.5))
# The traffic series counts the API users call; the dashboard's own polling is left out,
# as are health checks, metrics scrapes, pages and static files (not under /v1/).
DASHBOARD_ROUTE = "GET /v1/dashboard"


def is_api_traffic(route: str) -> bool:
    """Whether a route (``METHOD /path``) counts in the traffic series.

    >>> is_api_traffic("POST /v1/events"), is_api_traffic("GET /healthz")
    (True, False)
    """
    return " /v1/" in route and route != DASHBOARD_ROUTE


def latency_bin(seconds: float) -> int:
    """The histogram bin of a latency.

    >>> latency_bin(1e-6), latency_bin(HIGHEST_S * 2)
    (0, 95)
    """
    if seconds <= LOWEST_S:
        return 0
    return min(BINS - 1, int(math.log(seconds / LOWEST_S) / _LOG_STEP))


@dataclass
class _Second:
    """What happened during one second."""

    at: int
    latency: dict[str, Counts] = field(default_factory=dict)  # route -> bin counts
    errors: dict[str, int] = field(default_factory=dict)  # route -> 5xx answers
    stages: dict[str, Counts] = field(default_factory=dict)
    events: int = 0
    answers: int = 0
    cached: int = 0
    degraded: int = 0


@dataclass(frozen=True)
class LatencySummary:
    """Calls, server errors and latency percentiles of one route or pipeline stage."""

    name: str
    calls: int
    errors: int
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class TrafficPoint:
    """One step of the traffic series (rates per second; None where nothing happened)."""

    t: float
    requests_per_s: float
    events_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    degraded_rate: float | None


@dataclass(frozen=True)
class TelemetryReport:
    """The series over the window and the summaries over the recent part of it."""

    window_s: int
    step_s: int
    recent_s: int
    series: list[TrafficPoint]
    routes: list[LatencySummary]
    stages: list[LatencySummary]
    answers: int
    cache_hit_ratio: float | None
    degraded_rate: float | None


def percentile_ms(counts: Counts, q: float) -> float:
    """The ``q``-th percentile (0-100) of a latency histogram, in milliseconds.

    >>> counts = np.zeros(BINS, dtype=np.int64); counts[latency_bin(0.002)] = 10
    >>> abs(percentile_ms(counts, 99) / 2.0 - 1) < 0.09  # within half a bin of 2 ms
    True
    """
    total = int(counts.sum())
    if total == 0:
        return 0.0
    rank = max(1, math.ceil(total * q / 100))
    return float(MIDDLES_MS[int(np.searchsorted(np.cumsum(counts), rank))])


class Telemetry:
    """The ring of seconds; ``report`` summarises it (``clock``: epoch seconds)."""

    def __init__(self, window_s: int = 900, clock: Callable[[], float] = time.time) -> None:
        self.window_s = window_s
        self.clock = clock
        self._ring: list[_Second | None] = [None] * window_s
        self._lock = threading.Lock()

    def request(self, route: str, seconds: float, status: int, events: int = 0) -> None:
        """Count one HTTP request (``events``: events it logged)."""
        with self._lock:
            second = self._now()
            _add(second.latency, route, seconds)
            if status >= 500:
                second.errors[route] = second.errors.get(route, 0) + 1
            second.events += events

    def stages(self, stage_ms: Mapping[str, float]) -> None:
        """Count one pipeline run's time per stage."""
        with self._lock:
            second = self._now()
            for name, ms in stage_ms.items():
                _add(second.stages, name, ms / 1e3)

    def answer(self, cached: bool, degraded: bool) -> None:
        """Count one recommendation answer."""
        with self._lock:
            second = self._now()
            second.answers += 1
            second.cached += cached
            second.degraded += degraded

    def report(self, recent_s: int = 300, step_s: int = 10) -> TelemetryReport:
        """The series over the whole window and summaries over the last ``recent_s``."""
        with self._lock:
            now = int(self.clock())
            seconds = [s for s in self._ring if s is not None and now - s.at < self.window_s]
        recent = [s for s in seconds if now - s.at < recent_s]
        answers = sum(s.answers for s in recent)
        return TelemetryReport(
            window_s=self.window_s,
            step_s=step_s,
            recent_s=recent_s,
            series=_series(seconds, now, self.window_s, step_s),
            routes=_summaries(recent, "latency"),
            stages=_summaries(recent, "stages"),
            answers=answers,
            cache_hit_ratio=sum(s.cached for s in recent) / answers if answers else None,
            degraded_rate=sum(s.degraded for s in recent) / answers if answers else None,
        )

    def _now(self) -> _Second:
        at = int(self.clock())
        slot = at % self.window_s
        second = self._ring[slot]
        if second is None or second.at != at:
            second = self._ring[slot] = _Second(at)
        return second


def _add(histograms: dict[str, Counts], name: str, seconds: float) -> None:
    counts = histograms.get(name)
    if counts is None:
        counts = histograms[name] = np.zeros(BINS, dtype=np.int64)
    counts[latency_bin(seconds)] += 1


def _merged(seconds: Iterable[_Second], kind: str) -> dict[str, Counts]:
    out: dict[str, Counts] = {}
    for second in seconds:
        for name, counts in getattr(second, kind).items():
            if name in out:
                out[name] = out[name] + counts
            else:
                out[name] = counts.copy()
    return out


def _summaries(seconds: list[_Second], kind: str) -> list[LatencySummary]:
    merged = _merged(seconds, kind)
    errors = {n: sum(s.errors.get(n, 0) for s in seconds) for n in merged}
    rows = [
        LatencySummary(name, int(c.sum()), errors[name], percentile_ms(c, 50), percentile_ms(c, 99))
        for name, c in merged.items()
    ]
    return sorted(rows, key=lambda r: -r.calls)


def _series(seconds: list[_Second], now: int, window_s: int, step_s: int) -> list[TrafficPoint]:
    steps: dict[int, list[_Second]] = {}
    for second in seconds:
        steps.setdefault((now - second.at) // step_s, []).append(second)
    points = []
    for back in range(window_s // step_s - 1, -1, -1):
        group = steps.get(back, [])
        using = {
            name: counts
            for name, counts in _merged(group, "latency").items()
            if is_api_traffic(name)
        }
        total = sum((c for c in using.values()), np.zeros(BINS, dtype=np.int64))
        answers = sum(s.answers for s in group)
        points.append(
            TrafficPoint(
                t=float(now - back * step_s),
                requests_per_s=float(total.sum()) / step_s,
                events_per_s=sum(s.events for s in group) / step_s,
                p50_ms=percentile_ms(total, 50) if total.any() else None,
                p99_ms=percentile_ms(total, 99) if total.any() else None,
                degraded_rate=sum(s.degraded for s in group) / answers if answers else None,
            )
        )
    return points
