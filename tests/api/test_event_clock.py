"""POST /v1/events on a historical dataset: events without a time get the data's clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from liverec.api.app import create_app
from liverec.config import Settings
from liverec.core.privacy import Pseudonyms
from liverec.serving.clock import EventClock
from liverec.serving.service import LiveService, ServiceConfig
from liverec.serving.snapshot import Snapshot
from tests.conftest import UNHURRIED_PIPELINE

WALL_2026 = 1_767_225_600.0
ELAPSED = [0.0]  # the injected monotonic counter, moved by the test


@pytest.fixture
def latest(snapshot: Snapshot) -> float:
    """ML-100K's last training event (April 1998)."""
    return float(snapshot.data.interactions.ts.max())


@pytest.fixture
def client(
    snapshot: Snapshot, pseudonyms: Pseudonyms, latest: float, tmp_path: Path
) -> Iterator[TestClient]:
    """The app over ML-100K with the default ("auto") clock on injected time sources."""
    ELAPSED[0] = 0.0
    config = ServiceConfig(pipeline=UNHURRIED_PIPELINE)
    clock = EventClock(
        config.event_clock, latest, wall=lambda: WALL_2026, elapsed=lambda: ELAPSED[0]
    )
    service = LiveService.open(snapshot, config=config, pseudonyms=pseudonyms, event_clock=clock)
    app = create_app(Settings(home=tmp_path, watch_snapshots_s=0), service=service)
    with TestClient(app, client=("127.0.0.1", 50000)) as c:
        yield c


def last_ts(client: TestClient, user: str) -> float:
    ts: float = client.get(f"/v1/users/{user}").json()["recent"][0]["ts"]
    return ts


def test_an_event_without_ts_is_stamped_seconds_after_the_datas_last_event(
    client: TestClient, latest: float
) -> None:
    assert client.get("/v1/overview").json()["event_clock"] == "data"
    ELAPSED[0] = 4.0  # seconds since the service opened
    event = {"user_id": "196", "item_id": "50", "type": "click"}
    assert client.post("/v1/events", json=event).status_code == 200
    assert last_ts(client, "196") == latest + 4.0


@pytest.mark.parametrize("given", [0.0, 893_000_000.5, 1_700_000_000.25])
def test_a_timestamp_the_client_sends_is_kept_exactly(client: TestClient, given: float) -> None:
    event = {"user_id": "196", "item_id": "50", "type": "click", "ts": given}
    assert client.post("/v1/events", json=event).status_code == 200
    assert last_ts(client, "196") == given
