"""``liverec cluster up|down|status``: Redis, N replicas and HAProxy on this machine."""

from __future__ import annotations

import argparse
from typing import Any

from liverec.cli_options import add_command, add_dataset_option, add_group, positive, settings
from liverec.cli_serve import check_port_free, check_snapshots, train_first_snapshot
from liverec.cluster.process import alive
from liverec.core.markdown import markdown_table


def cmd_up(args: argparse.Namespace) -> int:
    """Check what the replicas need, train a first snapshot if none, then start the cluster."""
    from liverec.cluster import control
    from liverec.cluster.haproxy import haproxy_binary
    from liverec.cluster.redis_server import redis_binary
    from liverec.data.sources import check_dataset

    home_settings = settings(dataset=args.dataset)
    redis_binary(), haproxy_binary()  # a missing engine fails before anything is written
    check_dataset(args.dataset, home_settings.home)
    if not check_snapshots(home_settings.snapshots):
        train_first_snapshot(home_settings)  # once, rather than once per replica
    check_port_free("127.0.0.1", args.port)
    print(
        f"liverec: starting Redis, {args.replicas} replicas and HAProxy "
        f"(logs under {control.cluster_dir(home_settings.home, args.dataset)})",
        flush=True,
    )
    state = control.up(home_settings.home, args.dataset, args.replicas, args.port, args.appendfsync)
    print(f"liverec: serving http://127.0.0.1:{state.port}/ through HAProxy")
    print(f"  HAProxy statistics: http://127.0.0.1:{state.stats_port}/")
    print(f"  stop it with: liverec cluster down --dataset {args.dataset}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    """Stop the dataset's cluster: the supervisor, and by pid anything it left behind."""
    from liverec.cluster import control
    from liverec.data.sources import check_dataset

    home_settings = settings(dataset=args.dataset)
    check_dataset(args.dataset, home_settings.home)
    state = control.down(home_settings.home, args.dataset)
    if state is None:
        print(f"no cluster runs for {args.dataset}")
        return 0
    pids = [state.supervisor_pid, state.redis_pid, *state.replica_pids, state.haproxy_pid]
    print(f"stopped the {args.dataset} cluster (pids {', '.join(str(p) for p in pids if p)})")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Print each part of the running cluster with its pid and health."""
    from liverec.cluster import control
    from liverec.data.sources import check_dataset

    home_settings = settings(dataset=args.dataset)
    check_dataset(args.dataset, home_settings.home)
    status = control.status(home_settings.home, args.dataset)
    if status is None:
        print(f"no cluster runs for {args.dataset}")
        return 3  # like `systemctl status` of a stopped unit: scripts can test it
    state = status.state
    rows = [
        ["supervisor", str(state.supervisor_pid), "", "running"],
        ["redis-server", str(state.redis_pid), str(status.plan.redis_port), _up(state.redis_pid)],
        ["haproxy", str(state.haproxy_pid), str(state.port), _ready(status.frontend_ready)],
    ]
    for k, (pid, ready) in enumerate(zip(state.replica_pids, status.replicas_ready, strict=True)):
        port = str(status.plan.replica_ports[k])
        rows.append([f"replica r{k + 1}", str(pid), port, _ready(ready)])
    print(markdown_table(["part", "pid", "port", "state"], rows, left=4))
    print(f"\nreplica restarts so far: {state.restarts}")
    return 0


def _up(pid: int) -> str:
    return "running" if pid and alive(pid) else "down"


def _ready(ready: bool) -> str:
    return "ready" if ready else "not ready"


def add_commands(sub: Any) -> None:
    """Add the ``cluster`` command group."""
    csub = add_group(sub, "cluster", "run Redis, N replicas and HAProxy on this machine", "cluster")
    up = add_command(
        csub,
        "up",
        "start Redis (the shared log), N replicas and HAProxy in front",
        ["liverec cluster up --replicas 2", "liverec cluster up --replicas 4 --port 9000"],
        notes="Everything binds to 127.0.0.1 and runs under a supervisor that restarts what "
        "dies; HAProxy's health checks keep a replica out until it answers /readyz. Data, "
        "config, pids and logs live under $LIVEREC_HOME/cluster/DATASET.",
    )
    add_dataset_option(up)
    up.add_argument("--replicas", type=positive, default=2, help="liverec serve processes")
    up.add_argument("--port", type=int, default=8000, help="HAProxy's port (the API's address)")
    up.add_argument(
        "--appendfsync",
        choices=("always", "everysec"),
        default="always",
        help="Redis AOF fsync policy: always loses no acknowledged event even on power loss; "
        "everysec can lose the last second then",
    )
    up.set_defaults(func=cmd_up)
    down = add_command(
        csub, "down", "stop the cluster cluster up started (by pid)", ["liverec cluster down"]
    )
    add_dataset_option(down)
    down.set_defaults(func=cmd_down)
    st = add_command(
        csub, "status", "show the cluster's parts, pids and health", ["liverec cluster status"]
    )
    add_dataset_option(st)
    st.set_defaults(func=cmd_status)
