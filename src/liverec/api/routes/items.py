"""Catalog items: add or update, read, and find similar ones."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from liverec.api.deps import reading_service, service_of
from liverec.api.schemas import (
    PROTECTED_ERRORS,
    WRITE_ERRORS,
    ItemIn,
    ItemOut,
    PathId,
)
from liverec.serving.overview import search_items
from liverec.serving.results import ItemSearchResult, SimilarResult

router = APIRouter(tags=["items"])
ItemId = PathId


@router.put(
    "/v1/items/{item_id}",
    summary="Add or update a catalog item (recommendable on the next request)",
    responses={200: {"model": ItemOut}, 201: {"model": ItemOut}, **WRITE_ERRORS},
)
async def put_item(item_id: ItemId, body: ItemIn, request: Request) -> Response:
    """201 when the item is new, 200 when it replaced an existing one."""
    service = service_of(request)
    existed = service.has_item(item_id)
    item = body.to_item(item_id)
    # Upserting encodes the item's text (milliseconds to tens of them): never on the loop,
    # where it would hold up every other request, /healthz included.
    await run_in_threadpool(service.upsert_item, item)
    return Response(
        orjson.dumps(item.to_json()),
        status_code=200 if existed else 201,
        media_type="application/json",
    )


@router.get(
    "/v1/items",
    summary="Search the catalog by title",
    responses={200: {"model": ItemSearchResult}, **PROTECTED_ERRORS},
)
async def search(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=200, description="part of a title")],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    """Titles containing ``q`` (any case): those starting with it first, then the popular."""
    service = await reading_service(request)
    # Off the loop: matching a million titles takes tens of milliseconds (Arrow frees the GIL).
    found = await run_in_threadpool(search_items, service, q, k)
    return Response(orjson.dumps(found), media_type="application/json")


@router.get(
    "/v1/items/{item_id}",
    summary="A catalog item",
    responses={200: {"model": ItemOut}, **PROTECTED_ERRORS},
)
async def get_item(item_id: ItemId, request: Request) -> Response:
    """The item's text fields; 404 when it is not in the catalog."""
    service = await reading_service(request)
    return Response(orjson.dumps(service.item(item_id).to_json()), media_type="application/json")


@router.get(
    "/v1/items/{item_id}/similar",
    summary="Items similar to this one",
    responses={200: {"model": SimilarResult}, **PROTECTED_ERRORS},
)
async def similar(
    item_id: ItemId, request: Request, k: Annotated[int, Query(ge=1, le=100)] = 10
) -> Response:
    """Blend of co-occurrence, ALS-vector and genre similarity."""
    service = await reading_service(request)
    return Response(orjson.dumps(service.similar(item_id, k)), media_type="application/json")
