"""Prometheus metrics: per-route latency histograms plus the service's own counters."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServiceCollector(Collector):
    """Reads the live service's counters at scrape time (nothing extra on the request path)."""

    def __init__(self, get_service: Callable[[], Any]) -> None:
        self.get_service = get_service

    def collect(self) -> Iterator[Any]:
        """Yield the current values."""
        svc = self.get_service()
        if svc is None:
            return
        stats = svc.cache.stats
        yield CounterMetricFamily(
            "liverec_events_ingested",
            "events durably logged by this process",
            value=svc.events_ingested,
        )
        hits = CounterMetricFamily(
            "liverec_cache_lookups", "result cache lookups", labels=["result"]
        )
        hits.add_metric(["hit"], stats.hits)
        hits.add_metric(["miss"], stats.misses)
        yield hits
        yield GaugeMetricFamily("liverec_cache_hit_ratio", "hits / lookups", value=stats.hit_ratio)
        yield GaugeMetricFamily(
            "liverec_cache_users", "users with cached answers", value=len(svc.cache)
        )
        yield GaugeMetricFamily(
            "liverec_applied_seq",
            "last event-log entry applied",
            value=svc.applied_seq,
        )
        yield CounterMetricFamily(
            "liverec_model_swaps", "hot swaps to a new snapshot", value=svc.swaps
        )
        yield CounterMetricFamily(
            "liverec_answers", "recommendation lists computed (cache misses)", value=svc.answers
        )
        yield CounterMetricFamily(
            "liverec_degraded_answers",
            "lists computed with a stage skipped (failed, over budget or breaker open)",
            value=svc.degraded_answers,
        )
        info = InfoMetricFamily("liverec_model", "model snapshot being served")
        info.add_metric([], {"version": svc.version})
        yield info


class Metrics:
    """A registry of its own per app, so several apps (tests) never share counters."""

    def __init__(self, get_service: Callable[[], Any]) -> None:
        self.get_service = get_service
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "liverec_request_seconds",
            "request latency by route",
            ["method", "route", "status"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.registry.register(ServiceCollector(get_service))

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)


def _unrouted(path: str) -> str:
    """A request no route matched, named by what it asked for (static files are mounted)."""
    return "/static/*" if path.startswith("/static/") else "unmatched"


class StatusRecorder:
    """A ``send`` that passes every message on and remembers the response status."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 500  # until a response starts: what an unhandled error becomes

    async def __call__(self, message: Message) -> None:
        """Forward ``message``, noting the status of ``http.response.start``."""
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)


class LatencyMiddleware:
    """Pure ASGI middleware (no per-request task like BaseHTTPMiddleware) timing each route."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._children: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and label it with the matched route template."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        recorder = StatusRecorder(send)
        try:
            await self.app(scope, receive, recorder)
        finally:
            took = time.perf_counter() - start
            route = scope.get("route")
            status = recorder.status
            key = (scope["method"], getattr(route, "path", None) or "unmatched", status)
            child = self._children.get(key)
            if child is None:  # labels() takes a lock and builds a key: do it once per series
                child = self._children[key] = self.metrics.latency.labels(*key[:2], str(status))
            child.observe(took)
            service = self.metrics.get_service()
            if service is not None:
                events = scope.get("state", {}).get("events_logged", 0)  # set by POST /v1/events
                name = key[1] if route is not None else _unrouted(scope["path"])
                service.telemetry.request(f"{key[0]} {name}", took, status, events)
