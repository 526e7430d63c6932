"""Micro-batching: concurrent requests of one loop iteration are processed in one call."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from liverec.serving.batching import MicroBatcher

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a fresh thread: the browser tests' sync API may leave a loop
    running in the main thread, where ``asyncio.run`` refuses to start."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_concurrent_requests_share_one_call() -> None:
    calls: list[list[str]] = []
    batcher = MicroBatcher(lambda keys: calls.append(list(keys)))

    async def main() -> None:
        await asyncio.gather(*(batcher.ready(k) for k in ["a", "b", "a", "c"]))
        await batcher.ready("d")  # alone: its own batch, without waiting for company

    run(main())
    assert calls == [["a", "b", "c"], ["d"]]
    assert batcher.batches == 2 and batcher.batched == 5


def test_a_full_batch_is_processed_without_waiting_for_the_rest() -> None:
    calls: list[Sequence[str]] = []
    batcher = MicroBatcher(lambda keys: calls.append(list(keys)), max_batch=2)

    async def main() -> None:
        await asyncio.gather(*(batcher.ready(str(k)) for k in range(5)))

    run(main())
    assert [len(c) for c in calls] == [2, 2, 1]


def test_a_failed_batch_reaches_every_waiter() -> None:
    def fail(keys: Sequence[str]) -> None:
        raise RuntimeError(f"boom for {len(keys)}")

    batcher = MicroBatcher(fail)

    async def main() -> list[object]:
        return await asyncio.gather(*(batcher.ready(k) for k in "xy"), return_exceptions=True)

    results = run(main())
    assert all(isinstance(r, RuntimeError) for r in results)
    with pytest.raises(RuntimeError):
        run(batcher.ready("z"))
