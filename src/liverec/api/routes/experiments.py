"""Online experiments over HTTP (admin scope): define, list, stop, report."""

from __future__ import annotations

import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from liverec.api.deps import service_of
from liverec.api.schemas import PROTECTED_ERRORS, ErrorOut
from liverec.eval.experiment_report import experiment_report
from liverec.serving.experiments import NAME_PATTERN, ExperimentConfig

router = APIRouter(tags=["experiments"])
REFUSED: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "the name is taken or another one runs"}
}
Name = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64)]


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


@router.get(
    "/v1/admin/experiments",
    summary="Every experiment, oldest first, with its exposure count",
    responses={**PROTECTED_ERRORS},
)
async def list_experiments(request: Request) -> Response:
    """The definitions as stored, each with ``exposures``: answers logged under it."""
    service = service_of(request)
    counts = await run_in_threadpool(service.exposures.counts)
    found = service.experiments.store.all()
    return _json([{**e.model_dump(mode="json"), "exposures": counts.get(e.name, 0)} for e in found])


@router.post(
    "/v1/admin/experiments",
    summary="Define and start an experiment (one runs at a time)",
    status_code=201,
    responses={201: {"model": ExperimentConfig}, **PROTECTED_ERRORS, **REFUSED},
)
async def create_experiment(body: ExperimentConfig, request: Request) -> Response:
    """Arms are pipeline overrides, the first one the control; every serving process starts
    assigning users within a second. ``created`` and ``stopped`` are set by the server;
    400 when the name is taken or another experiment runs."""
    config = body.model_copy(update={"created": time.time(), "stopped": None})
    created = service_of(request).experiments.define(config)
    return _json(created.model_dump(mode="json"), 201)


@router.post(
    "/v1/admin/experiments/{name}/stop",
    summary="Stop assigning answers to an experiment",
    responses={200: {"model": ExperimentConfig}, **PROTECTED_ERRORS},
)
async def stop_experiment(name: Name, request: Request) -> Response:
    """Its exposures stay, for the report; 404 for an unknown name."""
    return _json(service_of(request).experiments.stop(name).model_dump(mode="json"))


@router.get(
    "/v1/admin/experiments/{name}/report",
    summary="Per-arm CTR and conversion with intervals, effects, SRM check and decision",
    responses={
        200: {
            "description": "the report as 'liverec experiment report NAME --json' prints it; "
            "figures the data cannot give yet (an arm without users) are null",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        **PROTECTED_ERRORS,
    },
)
async def report(name: Name, request: Request) -> Response:
    """What ``liverec experiment report NAME --json`` prints, as of now."""
    service = service_of(request)
    config = service.experiments.store.get(name)
    found = await run_in_threadpool(
        experiment_report, config, service.exposures, service.log, service.now()
    )
    return _json(found)
