"""`bench cluster`'s Redis memory fit, on a real redis-server."""

from __future__ import annotations

from liverec.bench.cluster import redis_memory


def test_redis_memory_fit_gives_plausible_bytes_per_event_and_user() -> None:
    doc = redis_memory(events=4_000)
    # Each event is a stream entry plus one field of its user's hash: tens of bytes at
    # least (the payload alone is ~30), far below a kilobyte.
    assert 30 < doc["bytes_per_event"] < 1_000
    assert doc["used_memory_by_users"].keys() == {"40", "400"}
    assert doc["access_us"]["last_seq"] > 0 and doc["access_us"]["user_history_100"] > 0
