"""The result cache stays bounded: in users, in answers per user and in bytes."""

from __future__ import annotations

from liverec.serving.cache import CacheConfig, ResultCache


def test_a_user_keeps_at_most_max_variants_answers_newest_kept() -> None:
    cache: ResultCache[str] = ResultCache(CacheConfig(max_variants=3), size_of=len)
    for n in range(10):
        cache.put("u", ("exclude", n), 5, "v1", f"answer-{n}")
    kept = [n for n in range(10) if cache.get("u", ("exclude", n), 5, "v1") is not None]
    assert kept == [7, 8, 9]
    assert cache.bytes == 3 * len("answer-0")


def test_bytes_stay_under_the_bound_by_evicting_least_recent_users() -> None:
    cache: ResultCache[bytes] = ResultCache(CacheConfig(max_bytes=1 << 16), size_of=len)
    for u in range(100):
        cache.put(f"user-{u}", "k10", 1, "v1", b"x" * 4096)
        assert cache.bytes <= 1 << 16
    assert len(cache) == 16 and cache.stats.evictions == 84
    assert cache.get("user-99", "k10", 1, "v1") is not None
    assert cache.get("user-0", "k10", 1, "v1") is None


def test_a_new_event_count_replaces_the_users_answers_and_their_bytes() -> None:
    cache: ResultCache[bytes] = ResultCache(CacheConfig(), size_of=len)
    cache.put("u", "a", 1, "v1", b"x" * 100)
    cache.put("u", "b", 1, "v1", b"x" * 100)
    cache.put("u", "a", 2, "v1", b"x" * 10)
    assert cache.bytes == 10 and cache.get("u", "b", 2, "v1") is None
    cache.invalidate({"u"})
    assert cache.bytes == 0 and len(cache) == 0
