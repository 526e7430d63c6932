"""The Ray engine: each chunk of an offline job is a Ray task, on a running cluster or on a
local Ray instance started for the job and stopped after it.

Ray stays off the request path: starting it costs about 7 s and 1 GB here, so only offline
jobs (training a snapshot, offline evaluation) use it. Ray is an optional extra
(``pip install 'liverec[ray]'``), imported only when this engine is asked for.

Measured with Ray 2.60 on Linux: a local instance resolves 127.0.0.1 to the machine's
address and its gRPC servers (GCS, raylet, workers) listen on every interface. With
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (Ray's single-machine mode, the default on laptops)
the node address is 127.0.0.1 and nothing listens beyond loopback; a driver connecting to a
head on 127.0.0.1 needs the same mode, or Ray rewrites the address it dials. Both variables
are read when ``ray`` is imported, so they are set before that.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from liverec.core.errors import ConfigError, LiverecError
from liverec.core.progress import ProgressFn
from liverec.engine.base import Executor

S = TypeVar("S")
C = TypeVar("C")
R = TypeVar("R")

LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
CONNECT_TIMEOUT_S = 3.0
START_HINT = (
    "start one with: RAY_USAGE_STATS_ENABLED=0 ray start --head --node-ip-address=127.0.0.1 "
    "--port={port} --include-dashboard=false, or leave out --address to start a local Ray "
    "for this run"
)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise LiverecError(
            "--engine ray needs Ray, which is not installed; install it with: "
            "pip install 'liverec[ray]'"
        ) from e
    return ray


def split_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` of a cluster's head (what ``ray start --head`` prints) as a pair.

    Raises
    ------
    ConfigError
        If ``address`` is not ``HOST:PORT`` (``ray://`` client addresses included).
    """
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or "://" in address:
        raise ConfigError(
            f"--address {address!r}: expected HOST:PORT of a Ray head (ray start --head "
            f"prints it), e.g. 127.0.0.1:6379"
        )
    return host.strip("[]"), int(port)


def check_reachable(address: str) -> None:
    """Fail fast, in one line, when nothing listens at ``address`` (Ray itself retries for
    tens of seconds before it gives up).

    Raises
    ------
    LiverecError
        If no TCP connection to ``address`` can be made within a few seconds.
    """
    host, port = split_address(address)
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        reason = e.strerror or str(e) or type(e).__name__
        raise LiverecError(
            f"no Ray cluster answers at {address} ({reason}); {START_HINT.format(port=port)}"
        ) from None


def _worker_env() -> dict[str, str]:
    """What Ray's worker processes need from this process's environment."""
    env = {}
    if "OPENBLAS_NUM_THREADS" in os.environ:  # one BLAS thread per task, as here
        env["OPENBLAS_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"]
    import liverec

    package_root = Path(liverec.__file__).resolve().parent.parent
    if package_root.name not in ("site-packages", "dist-packages"):
        # a source checkout: the workers import this liverec, not another installed one
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(package_root), os.environ.get("PYTHONPATH", "")) if p
        )
    return env


def _call(fn: Callable[[S, C], R], shared: S, chunk: C) -> R:
    """One chunk, in a Ray worker (``shared`` arrives from the object store, read-only)."""
    return fn(shared, chunk)


class RayExecutor(Executor):
    """Chunks as Ray tasks (one CPU each); the shared object goes to the object store once
    per ``map``. Connects to ``address``, or starts a local Ray on 127.0.0.1 (usage stats
    off, no dashboard) and stops it on ``close``."""

    name = "ray"
    remote = True

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        if address is not None:
            check_reachable(address)
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if address is None or split_address(address)[0] in LOOPBACK_HOSTS:
            os.environ.setdefault(LOOPBACK_ONLY, "0")
        ray = _import_ray()
        self._ray = ray
        self.address = address
        self._owns = not ray.is_initialized()  # a caller's own ray.init is left to them
        if self._owns:
            options: dict[str, Any] = {
                "runtime_env": {"env_vars": _worker_env()},
                "logging_level": logging.WARNING,
            }
            if address is None:
                options.update(address="local", num_cpus=num_cpus, include_dashboard=False)
            else:
                options["address"] = address
            try:
                ray.init(**options)
            except Exception as e:
                raise LiverecError(_init_failure(address, e)) from e
        self._task = ray.remote(num_cpus=1)(_call)

    @property
    def workers(self) -> int:
        """CPUs of the cluster (a task takes one)."""
        return max(1, int(self._ray.cluster_resources().get("CPU", 1)))

    def describe(self) -> str:
        """``ray (ADDRESS, N CPUs)``, or ``ray (local, N CPUs)``."""
        return f"ray ({self.address or 'local'}, {self.workers} CPUs)"

    def map(
        self,
        fn: Callable[[S, C], R],
        shared: S,
        chunks: Sequence[C],
        progress: ProgressFn | None = None,
    ) -> list[R]:
        """One task per chunk; results in chunk order, progress as tasks finish.

        Raises
        ------
        LiverecError
            If the cluster lost a task (a worker or node died, the object store is full); an
            exception raised by ``fn`` itself is raised here as it was there.
        """
        ray = self._ray
        n = len(chunks)
        if not n:
            return []
        shared_ref = ray.put(shared)
        refs = [self._task.remote(fn, shared_ref, chunk) for chunk in chunks]
        try:
            pending, done = refs, 0
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                done += len(ready)
                if progress is not None:
                    progress(done, n)
            return list(ray.get(refs))
        except ray.exceptions.RayTaskError as e:
            cause = e.cause
            if isinstance(cause, Exception):
                raise cause from e
            raise
        except ray.exceptions.RayError as e:
            first = (str(e).strip().splitlines() or [""])[0]
            raise LiverecError(f"the Ray cluster lost a task: {type(e).__name__}: {first}") from e
        finally:
            del shared_ref, refs  # the object store frees what nothing refers to

    def close(self) -> None:
        """Stop the local Ray this executor started, or disconnect from the cluster."""
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns = False


def _init_failure(address: str | None, error: Exception) -> str:
    """One line saying why ``ray.init`` failed, and what to do."""
    reason = " ".join(str(error).split())[:300] or type(error).__name__
    if type(error).__name__ == "AuthenticationError" or "AuthenticationError" in repr(
        error.__cause__
    ):
        return (
            f"the Ray cluster at {address} wants an authentication token: set "
            "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) as the cluster has"
        )
    if address is None:
        return f"could not start a local Ray instance: {reason}"
    return f"could not connect to the Ray cluster at {address}: {reason}"


@contextmanager
def local_head(
    num_cpus: int | None = None, timeout_s: float = 60.0
) -> Iterator[tuple[str, dict[str, str]]]:
    """A Ray head on 127.0.0.1 for the block (``ray start --head --block``: usage stats off,
    no dashboard, loopback only, its own token and temp folder), as a user would start one.

    Yields its address and the variables a driver connecting to it needs (the token); on
    exit SIGTERM stops it and every process it started.

    Raises
    ------
    LiverecError
        If the ``ray`` command is missing or the head does not come up in ``timeout_s``.
    """
    ray_cmd = shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray")
    if ray_cmd is None:
        raise LiverecError("the ray command is not installed: pip install 'liverec[ray]'")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    driver_env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env = {**os.environ, **driver_env, "RAY_USAGE_STATS_ENABLED": "0", LOOPBACK_ONLY: "0"}
    temp = tempfile.mkdtemp(prefix="lr-ray-")  # short: Ray's socket paths live under it
    cmd = [ray_cmd, "start", "--head", "--block", f"--port={port}"]
    cmd += ["--node-ip-address=127.0.0.1", "--include-dashboard=false", "--disable-usage-stats"]
    cmd += [f"--temp-dir={temp}"] + ([f"--num-cpus={num_cpus}"] if num_cpus else [])
    head = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if head.poll() is not None or time.monotonic() > deadline:
                    raise LiverecError(f"ray start --head did not come up on port {port}") from None
                time.sleep(0.2)
        yield f"127.0.0.1:{port}", driver_env
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        shutil.rmtree(temp, ignore_errors=True)
