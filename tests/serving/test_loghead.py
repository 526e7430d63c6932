"""LogHead: concurrent readers share a probe only when it cannot predate their arrival."""

from __future__ import annotations

import asyncio

from liverec.events.memory import MemoryEventLog
from liverec.events.schema import Event
from liverec.serving.loghead import LogHead


class GatedLog(MemoryEventLog):
    """A memory log whose head probe reads the head when sent and answers when let go."""

    def __init__(self) -> None:
        super().__init__()
        self.probes = 0
        self.gate = asyncio.Event()

    async def last_seq_async(self) -> int:
        self.probes += 1
        head = self.last_seq()  # what a remote log would see when the request reaches it
        await self.gate.wait()
        return head


def test_readers_share_an_unsent_probe_and_a_later_reader_sees_a_later_write() -> None:
    async def scenario() -> tuple[list[int], int]:
        log = GatedLog()
        head = LogHead(log)
        early = [asyncio.ensure_future(head.read()) for _ in range(3)]
        while log.probes == 0:  # until the shared probe is sent, seeing head 0
            await asyncio.sleep(0)
        log.append([Event("u1", "i1", "click", 1.0, None)])  # acknowledged after it was sent
        late = asyncio.ensure_future(head.read())  # arrived after the write: may not share
        while log.probes == 1:
            await asyncio.sleep(0)
        log.gate.set()
        return [*(await asyncio.gather(*early)), await late], log.probes

    heads, probes = asyncio.run(scenario())
    assert heads == [0, 0, 0, 1]  # the late reader sees the write
    assert probes == 2  # three early readers shared one round trip


def test_a_failed_probe_fails_every_reader_sharing_it_and_the_next_read_asks_again() -> None:
    class FailingOnce(MemoryEventLog):
        failures = 1

        async def last_seq_async(self) -> int:
            await asyncio.sleep(0)
            if self.failures:
                self.failures -= 1
                raise OSError("redis went away")
            return self.last_seq()

    async def scenario() -> tuple[list[object], int]:
        head = LogHead(FailingOnce())
        shared = await asyncio.gather(head.read(), head.read(), return_exceptions=True)
        return list(shared), await head.read()

    shared, after = asyncio.run(scenario())
    assert all(isinstance(r, OSError) for r in shared)
    assert after == 0
