"""A private redis-server for the session (the real engine; fakeredis never stands in for it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from liverec.cluster.process import free_port
from liverec.cluster.redis_server import RedisConfig, RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """redis-server on a free loopback port with its own dir and an fsync-always AOF."""
    config = RedisConfig(free_port(), tmp_path_factory.mktemp("redis"), appendfsync="always")
    with RedisServer(config) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """An event log URL on the session's Redis under a key prefix of this test's own."""
    return f"{redis_server.url}?prefix=test-{uuid.uuid4().hex[:12]}"
