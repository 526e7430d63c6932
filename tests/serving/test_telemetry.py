"""Telemetry: the dashboard's last minutes, on an injected clock (known answers)."""

from __future__ import annotations

import pytest

from liverec.serving.telemetry import Telemetry

REC = "GET /v1/users/{user_id}/recommendations"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_route_percentiles_resolve_to_the_latency_bin() -> None:
    clock = Clock()
    t = Telemetry(window_s=60, clock=clock)
    for _ in range(98):
        t.request(REC, 0.002, 200)
    t.request(REC, 0.100, 200)
    t.request(REC, 0.100, 503)
    (route,) = t.report(recent_s=60, step_s=10).routes
    assert (route.name, route.calls, route.errors) == (REC, 100, 1)
    assert route.p50_ms == pytest.approx(2.0, rel=0.09)  # bins are ~17% wide
    assert route.p99_ms == pytest.approx(100.0, rel=0.09)


def test_series_rates_are_per_second_of_each_step_and_leave_out_health_checks() -> None:
    clock = Clock()
    t = Telemetry(window_s=60, clock=clock)
    for _ in range(20):
        t.request("POST /v1/events", 0.001, 200, events=5)
        t.request("GET /healthz", 0.0001, 200)
    clock.now += 10  # the next step
    t.request(REC, 0.001, 200)
    series = t.report(recent_s=60, step_s=10).series
    assert len(series) == 6 and series[-1].t == clock.now
    assert (series[-2].requests_per_s, series[-2].events_per_s) == (2.0, 10.0)
    assert (series[-1].requests_per_s, series[-1].events_per_s) == (0.1, 0.0)
    assert series[0].p99_ms is None  # nothing happened then


def test_seconds_older_than_the_window_are_forgotten_and_their_slots_reused() -> None:
    clock = Clock()
    t = Telemetry(window_s=60, clock=clock)
    t.request(REC, 0.001, 200)
    t.answer(cached=True, degraded=False)
    clock.now += 60  # the same ring slot, a minute later
    t.request(REC, 0.001, 200)
    report = t.report(recent_s=60)
    assert [r.calls for r in report.routes] == [1]
    assert report.answers == 0 and report.cache_hit_ratio is None


def test_answers_give_the_cache_hit_and_degraded_rates_and_stages_their_percentiles() -> None:
    t = Telemetry(window_s=60, clock=Clock())
    for k in range(10):
        t.answer(cached=k < 4, degraded=k == 9)
        if k >= 4:
            t.stages({"itemcf": 0.5, "total": 2.0})
    report = t.report(recent_s=60)
    assert report.cache_hit_ratio == 0.4 and report.degraded_rate == 0.1
    stages = {s.name: s for s in report.stages}
    assert stages["itemcf"].calls == 6
    assert stages["total"].p50_ms == pytest.approx(2.0, rel=0.09)
