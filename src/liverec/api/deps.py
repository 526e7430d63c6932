"""How a route reaches the live service.

Routes take the ``Request`` and call ``service_of`` rather than declaring an ``Annotated``
dependency: FastAPI's dependency resolution measured ~70 us per request here (a plain ``def``
dependency ~290 us, since it runs in the threadpool), a third of a cached recommendation.
"""

from __future__ import annotations

from fastapi import Request

from liverec.serving.service import LiveService


def service_of(request: Request) -> LiveService:
    """The app's live service (set up by the lifespan hook)."""
    service: LiveService = request.app.state.service
    return service


async def reading_service(request: Request) -> LiveService:
    """The live service, caught up with a shared log for this request's read: every event
    acknowledged by any replica is in the answer (one awaited round trip, shared by
    concurrent requests; nothing with a log of this process alone)."""
    service = service_of(request)
    await service.catch_up_async()
    return service
