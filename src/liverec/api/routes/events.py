"""POST /v1/events: one event or a batch, acknowledged once durably logged."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.responses import Response

from liverec.api.deps import service_of
from liverec.api.schemas import MAX_BATCH, WRITE_ERRORS, EventBatch, EventIn
from liverec.serving.results import IngestResult

router = APIRouter(tags=["events"])

_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/EventIn"},
                        {"$ref": "#/components/schemas/EventBatch"},
                        {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/EventIn"},
                            "maxItems": MAX_BATCH,
                        },
                    ]
                },
                "example": {"user_id": "196", "item_id": "242", "type": "click"},
            }
        },
    }
}


def parse_events(raw: bytes) -> list[EventIn]:
    """One event object, ``{"events": [...]}`` or a JSON array of events.

    Raises
    ------
    RequestValidationError
        Listing every bad field (the whole batch is rejected).
    """
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise RequestValidationError(
            [{"loc": ("body",), "msg": f"not valid JSON ({e})", "type": "json_invalid"}]
        ) from None
    try:
        if isinstance(doc, list):
            return EventBatch.model_validate({"events": doc}).events
        if isinstance(doc, dict) and "events" in doc:
            return EventBatch.model_validate(doc).events
        return [EventIn.model_validate(doc)]
    except ValidationError as e:
        # A bare array was validated as {"events": [...]}: its locations already say events[i].
        errors = [{**err, "loc": ("body", *err["loc"])} for err in e.errors()]
        raise RequestValidationError(errors) from None


@router.post(
    "/v1/events",
    summary="Log user events (one, or a batch applied all-or-nothing)",
    responses={200: {"model": IngestResult}, **WRITE_ERRORS},
    openapi_extra=_BODY_SCHEMA,
)
async def post_events(request: Request) -> Response:
    """Durably log the events, then answer; the next recommendation reflects them."""
    events = parse_events(await request.body())
    result = service_of(request).ingest([e.to_event() for e in events])
    request.state.audit_count = result.accepted
    request.state.events_logged = result.accepted  # the dashboard's events/s
    return Response(orjson.dumps(result), media_type="application/json")
