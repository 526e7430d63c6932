"""``cluster up`` / ``down`` / ``status``: start the supervisor detached, stop exactly it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from liverec.cluster.haproxy import haproxy_binary
from liverec.cluster.process import alive, free_port, http_ok, stop_pid
from liverec.cluster.redis_server import Fsync, redis_binary
from liverec.cluster.supervisor import STATE, ClusterPlan, ClusterState
from liverec.core.errors import LiverecError
from liverec.core.privacy import Pseudonyms


@dataclass(frozen=True)
class ClusterStatus:
    """A running cluster as ``status`` reports it."""

    state: ClusterState
    plan: ClusterPlan
    replicas_ready: list[bool]
    frontend_ready: bool


def cluster_dir(home: Path, dataset: str) -> Path:
    """Where a dataset's cluster keeps its Redis data, config, logs and pids."""
    return home / "cluster" / dataset


def read_state(directory: Path) -> ClusterState | None:
    """The running cluster's state, or None when none runs from ``directory``."""
    path = directory / STATE
    if not path.exists():
        return None
    state = ClusterState(**json.loads(path.read_text()))
    return state if alive(state.supervisor_pid) else None


def up(
    home: Path,
    dataset: str,
    replicas: int,
    port: int,
    appendfsync: Fsync = "always",
    timeout: float = 600.0,
) -> ClusterState:
    """Start Redis, ``replicas`` API replicas and HAProxy on ``port``; return once it serves.

    Raises
    ------
    LiverecError
        If redis-server or haproxy is missing, a cluster already runs here, or the cluster
        does not become ready (with the supervisor log's tail).
    """
    redis_binary(), haproxy_binary()  # fail before starting anything
    directory = cluster_dir(home, dataset)
    if (running := read_state(directory)) is not None:
        raise LiverecError(
            f"a cluster for {dataset} already runs (supervisor pid {running.supervisor_pid}, "
            f"port {running.port}); stop it with: liverec cluster down --dataset {dataset}"
        )
    directory.mkdir(parents=True, exist_ok=True)
    Pseudonyms.for_home(home)  # the secret exists before N replicas race to create it
    plan = ClusterPlan(
        home=str(home),
        dataset=dataset,
        port=port,
        stats_port=free_port(),
        redis_port=free_port(),
        replica_ports=tuple(free_port() for _ in range(replicas)),
        appendfsync=appendfsync,
    )
    plan.save(directory)
    (directory / STATE).unlink(missing_ok=True)
    with (directory / "supervisor.log").open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "liverec.cluster.supervisor", str(directory)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command; `down` stops it by pid
        )
    deadline = time.monotonic() + timeout
    while True:
        state = read_state(directory)
        if state is not None and state.ready:
            return state
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_pid(proc.pid, "liverec.cluster.supervisor")
            tail = (directory / "supervisor.log").read_text(errors="replace").splitlines()[-3:]
            raise LiverecError(f"the cluster did not start: {' | '.join(tail)}")
        time.sleep(0.2)


def down(home: Path, dataset: str) -> ClusterState | None:
    """Stop the cluster the supervisor runs (it stops its children); None if none ran."""
    directory = cluster_dir(home, dataset)
    state = read_state(directory)
    if state is None:
        return None
    stop_pid(state.supervisor_pid, "liverec.cluster.supervisor", timeout=60)
    # Should the supervisor have been killed without cleaning up, stop its children by pid.
    stop_pid(state.haproxy_pid, "haproxy")
    for pid in state.replica_pids:
        stop_pid(pid, "liverec.cli serve")
    stop_pid(state.redis_pid, "redis-server")
    return state


def status(home: Path, dataset: str) -> ClusterStatus | None:
    """The running cluster's pids and health; None when none runs."""
    directory = cluster_dir(home, dataset)
    state = read_state(directory)
    if state is None:
        return None
    plan = ClusterPlan.load(directory)
    ready = [http_ok(f"http://127.0.0.1:{p}/readyz") for p in plan.replica_ports]
    frontend = http_ok(f"http://127.0.0.1:{plan.port}/readyz")
    return ClusterStatus(state, plan, ready, frontend)
