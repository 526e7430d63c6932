from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from liverec.api.app import create_app
from liverec.config import Settings
from liverec.serving.service import LiveService


@pytest.fixture
def client(service: LiveService, tmp_path: Path) -> Iterator[TestClient]:
    """The real app around a per-test service (in-memory log), without a snapshot watcher."""
    settings = Settings(home=tmp_path, watch_snapshots_s=0)
    # A loopback client: with no API keys the app answers loopback callers only.
    with TestClient(create_app(settings, service=service), client=("127.0.0.1", 50000)) as c:
        yield c
