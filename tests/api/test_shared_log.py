"""Two API processes' worth of apps on one shared Redis log: read-your-writes across them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from liverec.api.app import create_app
from liverec.config import Settings
from liverec.core.privacy import Pseudonyms
from liverec.events.store import open_event_log
from liverec.serving.service import LiveService, ServiceConfig
from liverec.serving.snapshot import Snapshot
from tests.conftest import UNHURRIED_PIPELINE


@pytest.fixture
def replicas(
    snapshot: Snapshot, pseudonyms: Pseudonyms, redis_url: str, tmp_path: Path
) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps, each with its own service and state, on one Redis log (shared_log on)."""
    config = ServiceConfig(pipeline=UNHURRIED_PIPELINE, shared_log=True)
    settings = Settings(home=tmp_path, watch_snapshots_s=0)
    clients = []
    for _ in range(2):
        service = LiveService.open(snapshot, open_event_log(redis_url), config, pseudonyms)
        app = create_app(settings, service=service)
        clients.append(TestClient(app, client=("127.0.0.1", 50000)).__enter__())
    yield clients[0], clients[1]
    for c in clients:
        c.__exit__(None, None, None)


def test_an_event_acknowledged_by_one_replica_is_in_the_other_replicas_next_answer(
    replicas: tuple[TestClient, TestClient],
) -> None:
    writer, reader = replicas
    top = reader.get("/v1/users/196/recommendations?k=10").json()["items"][0]["item_id"]
    clicked = writer.post("/v1/events", json={"user_id": "196", "item_id": top, "type": "click"})
    assert clicked.status_code == 200
    profile = reader.get("/v1/users/196?limit=1").json()
    assert profile["recent"][0]["item_id"] == top
    after = reader.get("/v1/users/196/recommendations?k=10").json()
    assert top not in [x["item_id"] for x in after["items"]]


def test_an_item_added_through_one_replica_is_served_by_the_other(
    replicas: tuple[TestClient, TestClient],
) -> None:
    writer, reader = replicas
    body = {"title": "A Film Added Through Replica One", "genres": ["Drama"]}
    assert writer.put("/v1/items/added-1", json=body).status_code == 201
    got = reader.get("/v1/items/added-1")
    assert got.status_code == 200 and got.json()["title"] == body["title"]
