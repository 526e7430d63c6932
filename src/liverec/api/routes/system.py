"""Health, metrics, model reload and the web page."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response

from liverec.api.deps import service_of
from liverec.api.errors import error_response
from liverec.api.schemas import PROTECTED_ERRORS, ErrorOut, HealthOut, ReadyOut, ReloadOut
from liverec.core.errors import LiverecError
from liverec.eval.experiment_report import ExperimentReport, experiment_report
from liverec.serving.dashboard import Dashboard, dashboard
from liverec.serving.overview import Overview, overview
from liverec.serving.service import LiveService

router = APIRouter()
REPORT_EVERY_S = 30.0


@dataclass(frozen=True)
class DashboardOut(Dashboard):
    """The dashboard with the running experiment's report (None when none runs)."""

    # As GET /v1/admin/experiments/{name}/report answers: a free-form object, since figures
    # the data cannot give yet (an arm without users) are null where numbers stand.
    experiment: dict[str, Any] | None = None


STATIC = Path(__file__).resolve().parent.parent / "static"


@router.get(
    "/healthz",
    tags=["system"],
    summary="Liveness and the model being served",
    responses={200: {"model": HealthOut}},
)
async def healthz(request: Request) -> Response:
    """``{"status": "ok", ...}`` once a model is loaded."""
    service = service_of(request)
    body = {
        "status": "ok",
        "model_version": service.version,
        "applied_seq": service.applied_seq,
    }
    return Response(orjson.dumps(body), media_type="application/json")


@router.get(
    "/readyz",
    tags=["system"],
    summary="Readiness: can this process take writes now?",
    responses={200: {"model": ReadyOut}, 503: {"model": ReadyOut}},
)
async def readyz(request: Request) -> Response:
    """``{"status": "ready"}``, or 503 ``{"status": "failing"}`` while the event log fails
    (a load balancer takes the process out until it recovers)."""
    problem = await run_in_threadpool(service_of(request).readiness_problem)
    if problem is None:
        return Response(orjson.dumps({"status": "ready"}), media_type="application/json")
    body = {"status": "failing", "reason": "the event log cannot be written or read"}
    return Response(orjson.dumps(body), status_code=503, media_type="application/json")


@router.get(
    "/metrics",
    tags=["system"],
    summary="Prometheus metrics",
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **PROTECTED_ERRORS,
    },
)
async def metrics(request: Request) -> Response:
    """Latency histograms per route, cache hit ratio, events ingested, model version."""
    return Response(
        request.app.state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


@router.get(
    "/v1/dashboard",
    tags=["system"],
    summary="What the operator dashboard shows: model, live counts, the last minutes",
    responses={200: {"model": DashboardOut}, **PROTECTED_ERRORS},
)
async def dashboard_data(request: Request) -> Response:
    """The model card (version, trained at, training data, validation figures), live counts
    (catalog, users, log position), traffic (requests and events per second, latency
    p50/p99 per route and per pipeline stage, cache hit and degraded-answer rates) and the
    running experiment's report (refreshed at most every 30 s: it reads the event log)."""
    service = service_of(request)
    report = await _report(request, service)
    experiment = asdict(report) if report is not None else None
    board = DashboardOut(**vars(dashboard(service)), experiment=experiment)
    return Response(orjson.dumps(board), media_type="application/json")


async def _report(request: Request, service: LiveService) -> ExperimentReport | None:
    active = service.experiments.current()
    if active is None:
        return None
    now = time.time()
    cached = getattr(request.app.state, "dashboard_report", None)
    if cached is None or cached[1] != active.config.name or now - cached[0] > REPORT_EVERY_S:
        # As of the events' clock, which the exposures and events it reads are stamped on.
        report = await run_in_threadpool(
            experiment_report, active.config, service.exposures, service.log, service.now()
        )
        cached = request.app.state.dashboard_report = (now, active.config.name, report)
    found: ExperimentReport = cached[2]
    return found


@router.get(
    "/v1/overview",
    tags=["system"],
    summary="The dataset behind the model and sample users to try (the page's landing view)",
    responses={200: {"model": Overview}, **PROTECTED_ERRORS},
)
async def overview_data(request: Request) -> Response:
    """Dataset size and time span, and for public datasets a few users to start with (most
    active, typical, light); imported datasets list none, as their raw ids are not kept."""
    service = service_of(request)
    cached = getattr(request.app.state, "overview", None)
    if cached is None or cached.model_version != service.version:
        home = request.app.state.settings.home
        cached = request.app.state.overview = await run_in_threadpool(overview, service, home)
    return Response(orjson.dumps(cached), media_type="application/json")


@router.get("/dashboard", include_in_schema=False)
async def dashboard_page() -> FileResponse:
    """The operator dashboard (its data needs a read key)."""
    return FileResponse(STATIC / "dashboard.html")


@router.post(
    "/v1/admin/reload",
    tags=["system"],
    summary="Swap to the newest snapshot",
    responses={
        200: {"model": ReloadOut},
        **PROTECTED_ERRORS,
        503: {"model": ErrorOut, "description": "no newer snapshot loads; still serving"},
    },
)
async def reload(request: Request) -> Response:
    """Load the newest snapshot in the background of serving, then swap atomically; a
    snapshot that does not load leaves the current one serving (503, naming it)."""
    service = service_of(request)
    try:
        swapped = await run_in_threadpool(service.reload)
    except LiverecError as e:
        return error_response(503, "reload_failed", str(e)[:2000])
    body = {"swapped": swapped, "model_version": service.version}
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The web page."""
    return FileResponse(STATIC / "index.html")
