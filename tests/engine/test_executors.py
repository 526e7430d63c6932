"""The executor contract on the local engine, and the Ray engine's errors before Ray starts:
each is one line saying what to do."""

from __future__ import annotations

import socket
import sys

import pytest

from liverec.core.errors import ConfigError, LiverecError
from liverec.engine import LocalExecutor, open_executor
from liverec.engine.ray_cluster import split_address


def power(base: int, exponent: int) -> int:
    return int(base**exponent)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("workers", [1, 2])
def test_local_map_returns_results_in_chunk_order_with_progress(workers: int) -> None:
    seen: list[tuple[int, int]] = []
    with LocalExecutor(workers) as ex:
        out = ex.map(power, 2, list(range(12)), lambda done, total: seen.append((done, total)))
    assert out == [2**c for c in range(12)]
    assert seen == [(d, 12) for d in range(1, 13)]


def test_local_map_of_no_chunks_is_empty() -> None:
    assert LocalExecutor(2).map(power, 2, []) == []


def test_engine_and_address_are_checked() -> None:
    with pytest.raises(ConfigError, match="unknown engine 'spark'; expected one of local, ray"):
        open_executor("spark")
    with pytest.raises(ConfigError, match="needs --engine ray"):
        open_executor("local", "127.0.0.1:6379")
    with pytest.raises(ConfigError, match="expected HOST:PORT of a Ray head"):
        split_address("ray://127.0.0.1:10001")
    assert split_address("[::1]:6379") == ("::1", 6379)


def test_an_unreachable_cluster_is_one_line_saying_how_to_start_one() -> None:
    port = closed_port()
    with pytest.raises(LiverecError) as info:
        open_executor("ray", f"127.0.0.1:{port}")
    message = str(info.value)
    assert message.startswith(f"no Ray cluster answers at 127.0.0.1:{port} (")
    assert "ray start --head --node-ip-address=127.0.0.1" in message


def test_a_missing_ray_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(LiverecError, match=r"pip install 'liverec\[ray\]'"):
        open_executor("ray")
