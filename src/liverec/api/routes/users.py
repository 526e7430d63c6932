"""A user's recommendations and recent history."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from liverec.api.deps import reading_service, service_of
from liverec.api.schemas import PROTECTED_ERRORS, WRITE_ERRORS, PathId
from liverec.serving.results import RecommendationResult, UserErasure, UserProfile

router = APIRouter(tags=["users"])
UserId = PathId


def _csv(text: str | None) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()] if text else []


@router.get(
    "/v1/users/{user_id}/recommendations",
    summary="Recommendations for a user, with reasons",
    responses={200: {"model": RecommendationResult}, **PROTECTED_ERRORS},
)
async def recommendations(
    user_id: UserId,
    request: Request,
    k: Annotated[int, Query(ge=1, le=100, description="how many items")] = 10,
    explain: Annotated[bool, Query(description="include reasons")] = True,
    exclude: Annotated[
        str | None, Query(description="comma-separated item ids to leave out")
    ] = None,
    genres: Annotated[
        str | None, Query(description="comma-separated genres; any may match")
    ] = None,
) -> Response:
    """Items the user has not seen, best first; an unknown user gets a cold-start list.

    ``Cache-Control: no-cache`` asks for a freshly computed answer.
    """
    fresh = "no-cache" in request.headers.get("cache-control", "")
    service = await reading_service(request)
    batcher = request.app.state.batcher
    if batcher is not None and service.batches_users:
        await batcher.ready(user_id)
    r = service.recommend(user_id, k, explain, _csv(exclude), _csv(genres), fresh)
    return Response(orjson.dumps(r), media_type="application/json")


@router.get(
    "/v1/users/{user_id}",
    summary="A user's recent history, newest first",
    responses={200: {"model": UserProfile}, **PROTECTED_ERRORS},
)
async def user_profile(
    user_id: UserId,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> Response:
    """Recent events and the total event count; 404 for a user never seen."""
    service = await reading_service(request)
    return Response(orjson.dumps(service.profile(user_id, limit)), media_type="application/json")


@router.delete(
    "/v1/users/{user_id}",
    summary="Erase a user: events, state and what was learned from them (admin)",
    responses={200: {"model": UserErasure}, **PROTECTED_ERRORS, 503: WRITE_ERRORS[503]},
)
async def delete_user(user_id: UserId, request: Request) -> Response:
    """Remove the user from the event log, the dataset, every snapshot and every worker's
    state; answers when the snapshot without them is served (a retrain of its components)."""
    settings = request.app.state.settings
    service = service_of(request)
    report = await run_in_threadpool(
        service.erase_user, user_id, settings.home, settings.dataset, settings.models_dir
    )
    request.state.audit_count = report.log_events + report.dataset_events
    return Response(orjson.dumps(report), media_type="application/json")
