"""The executor contract, the local engine (a fork-based process pool) and ``open_executor``.

An offline job hands an executor a function, one read-only object every call shares (the
matrices of the item-neighbour blocks, a fitted model) and a list of chunks; it gets back
``fn(shared, chunk)`` for each chunk, in chunk order. Where the calls run is the executor's
business: here, in worker processes forked from this one (the shared object is inherited,
never copied), or as Ray tasks (``liverec.engine.ray_cluster``). A chunk's result depends
only on the chunk and the shared object, so every engine gives the same answer.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

from liverec.core.errors import ConfigError
from liverec.core.progress import ProgressFn

S = TypeVar("S")
C = TypeVar("C")
R = TypeVar("R")

ENGINES = ("local", "ray")


def cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0))


class Executor(ABC):
    """Runs ``fn(shared, chunk)`` over chunks, possibly in parallel; results in chunk order."""

    name: str
    # True where the calls run in processes that start cold (load their own model, receive
    # their arguments over a socket): worth it only for coarse chunks.
    remote: bool = False

    @property
    @abstractmethod
    def workers(self) -> int:
        """How many calls can run at once."""

    @abstractmethod
    def map(
        self,
        fn: Callable[[S, C], R],
        shared: S,
        chunks: Sequence[C],
        progress: ProgressFn | None = None,
    ) -> list[R]:
        """``[fn(shared, c) for c in chunks]``; ``progress(done, total)`` after each chunk.

        ``fn`` must be a module-level function (it is called by name in other processes).
        """

    def describe(self) -> str:
        """A short label for logs and the snapshot manifest."""
        return f"{self.name} ({self.workers} workers)"

    @abstractmethod
    def close(self) -> None:
        """Release what the executor started."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_TASK: tuple[Callable[[Any, Any], Any], Any] | None = None  # set before the pool forks


def _run_chunk(item: tuple[int, Any]) -> tuple[int, Any]:
    index, chunk = item
    assert _TASK is not None  # set by LocalExecutor.map before the pool forks
    fn, shared = _TASK
    return index, fn(shared, chunk)


class LocalExecutor(Executor):
    """This machine: a fork-based process pool of ``workers`` (0: one per core), or this
    process when there is one worker or one chunk."""

    name = "local"

    def __init__(self, workers: int = 0) -> None:
        if workers < 0:
            raise ConfigError(f"workers must be >= 0 (0: one per core), got {workers}")
        self._workers = workers

    @property
    def workers(self) -> int:
        """Processes the pool has (``workers``, or one per core)."""
        return self._workers or cores()

    def map(
        self,
        fn: Callable[[S, C], R],
        shared: S,
        chunks: Sequence[C],
        progress: ProgressFn | None = None,
    ) -> list[R]:
        """In this process, or over a pool forked now (``shared`` is inherited, not copied)."""
        global _TASK
        n = len(chunks)
        if self.workers <= 1 or n <= 1:
            out = []
            for done, chunk in enumerate(chunks, 1):
                out.append(fn(shared, chunk))
                if progress is not None:
                    progress(done, n)
            return out
        import multiprocessing as mp

        results: dict[int, R] = {}
        _TASK = (fn, shared)
        try:
            with mp.get_context("fork").Pool(min(self.workers, n)) as pool:
                for done, (index, result) in enumerate(
                    pool.imap_unordered(_run_chunk, enumerate(chunks), chunksize=1), 1
                ):
                    results[index] = result
                    if progress is not None:
                        progress(done, n)
        finally:
            _TASK = None
        return [results[i] for i in range(n)]

    def close(self) -> None:
        """Nothing to release: a pool lives only inside ``map``."""


def open_executor(engine: str = "local", address: str | None = None, workers: int = 0) -> Executor:
    """The executor ``engine`` names: ``local`` (``workers`` processes, 0: one per core), or
    ``ray`` (the cluster at ``address``, or a local Ray instance started for this executor).

    Raises
    ------
    ConfigError
        If the engine is unknown, or ``address`` is given for the local engine.
    LiverecError
        If Ray is not installed or the cluster cannot be reached.
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if engine == "local":
        if address is not None:
            raise ConfigError("--address is the Ray cluster's; it needs --engine ray")
        return LocalExecutor(workers)
    from liverec.engine.ray_cluster import RayExecutor

    return RayExecutor(address, num_cpus=workers or None)
