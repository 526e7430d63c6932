"""Health, metrics, model reload and the web page."""

from __future__ import annotations

from pathlib import Path

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response

from liverec.api.deps import service_of

router = APIRouter()
STATIC = Path(__file__).resolve().parent.parent / "static"


@router.get("/healthz", tags=["system"], summary="Liveness and the model being served")
async def healthz(request: Request) -> Response:
    """``{"status": "ok", ...}`` once a model is loaded."""
    service = service_of(request)
    body = {
        "status": "ok",
        "model_version": service.version,
        "applied_seq": service.runtime.state.applied_seq,
    }
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/metrics", tags=["system"], summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    """Latency histograms per route, cache hit ratio, events ingested, model version."""
    return Response(
        request.app.state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


@router.post("/v1/admin/reload", tags=["system"], summary="Swap to the newest snapshot")
async def reload(request: Request) -> Response:
    """Load the newest snapshot in the background of serving, then swap atomically."""
    service = service_of(request)
    swapped = await run_in_threadpool(service.reload)
    body = {"swapped": swapped, "model_version": service.version}
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The web page."""
    return FileResponse(STATIC / "index.html")
