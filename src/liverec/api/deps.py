"""Request dependencies as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from liverec.serving.service import LiveService


def get_service(request: Request) -> LiveService:
    """The app's live service (set up by the lifespan hook)."""
    service: LiveService = request.app.state.service
    return service


ServiceDep = Annotated[LiveService, Depends(get_service)]
