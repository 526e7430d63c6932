"""Micro-batching of concurrent requests' transformer work into one forward pass.

Requests handled by one event loop that become ready in the same loop iteration register
their user here; one callback, scheduled with ``call_soon`` by the first of them, runs after
all of them have registered and brings every registered user's encoding up to date in batched
``step`` calls. Each request then finds its encoding cached. There is no timer: an idle server
adds no wait, and a loaded one batches whatever arrived together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence


class MicroBatcher:
    """Collects keys from coroutines of one loop iteration and processes them in one call."""

    def __init__(self, process: Callable[[Sequence[str]], object], max_batch: int = 64) -> None:
        self.process = process
        self.max_batch = max_batch
        self._keys: list[str] = []
        self._waiters: list[asyncio.Future[None]] = []
        self.batches = 0
        self.batched = 0

    async def ready(self, key: str) -> None:
        """Wait until ``key`` was processed together with its concurrent peers."""
        loop = asyncio.get_running_loop()
        if not self._keys:
            loop.call_soon(self._flush)
        future: asyncio.Future[None] = loop.create_future()
        self._keys.append(key)
        self._waiters.append(future)
        if len(self._keys) >= self.max_batch:
            self._flush()
        await future

    def _flush(self) -> None:
        keys, waiters = self._keys, self._waiters
        self._keys, self._waiters = [], []
        if not keys:
            return
        try:
            self.process(list(dict.fromkeys(keys)))
            self.batches += 1
            self.batched += len(keys)
        except Exception as e:  # every waiter learns; the request then runs unbatched
            for w in waiters:
                if not w.done():
                    w.set_exception(e)
            return
        for w in waiters:
            if not w.done():
                w.set_result(None)
