"""The cluster as users run it: real redis-server, N `liverec serve` processes and HAProxy."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from liverec.bench.server import call
from liverec.cli import main
from liverec.cluster import control
from liverec.cluster.process import alive, free_port, http_ok
from liverec.cluster.supervisor import ClusterPlan, ClusterState
from liverec.core.errors import LiverecError
from liverec.core.paths import Paths
from liverec.core.privacy import Pseudonyms
from liverec.events.redis_log import RedisEventLog
from liverec.events.schema import LoggedEvent
from liverec.events.store import read_all

pytestmark = pytest.mark.slow  # each cluster start loads a snapshot in every replica

DATASET = "ml-100k"


@pytest.fixture(scope="module")
def cluster_home(
    session_home: Path, snapshot_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A home with the fetched dataset and a copy of the session snapshot."""
    home = tmp_path_factory.mktemp("cluster-home")
    shutil.copytree(session_home / "datasets", home / "datasets")
    # where serving looks (else every replica trains a snapshot of its own first)
    shutil.copytree(snapshot_dir, Paths(home).snapshots(DATASET) / snapshot_dir.name)
    return home


@pytest.fixture(scope="module")
def cluster(cluster_home: Path) -> Iterator[ClusterState]:
    """Two replicas behind HAProxy on a private Redis, stopped after the module."""
    state = control.up(cluster_home, DATASET, replicas=2, port=free_port(), appendfsync="always")
    yield state
    control.down(cluster_home, DATASET)


def _plan(home: Path) -> ClusterPlan:
    return ClusterPlan.load(control.cluster_dir(home, DATASET))


def _url(port: int, path: str) -> str:
    return f"http://127.0.0.1:{port}{path}"


def _click(port: int, user: str, item: str) -> int:
    """The status of one click; -1 when the connection failed."""
    body = json.dumps({"user_id": user, "item_id": item, "type": "click"}).encode()
    request = urllib.request.Request(_url(port, "/v1/events"), body, method="POST")
    request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:  # HAProxy's own 502/503 pages are HTML
        return int(e.code)
    except OSError:
        return -1


def test_an_event_posted_to_one_replica_is_in_the_next_answer_of_the_other(
    cluster: ClusterState, cluster_home: Path
) -> None:
    first, second = _plan(cluster_home).replica_ports
    user = f"ryw-{uuid.uuid4().hex[:8]}"
    before = call(_url(second, f"/v1/users/{user}/recommendations?k=20"))[1]
    shown = before["items"][0]["item_id"]
    assert _click(first, user, shown) == 200
    status, profile = call(_url(second, f"/v1/users/{user}"))
    assert status == 200 and [e["item_id"] for e in profile["recent"]] == [shown]
    after = call(_url(second, f"/v1/users/{user}/recommendations?k=20"))[1]
    assert shown not in [x["item_id"] for x in after["items"]]  # seen items are left out


def test_haproxy_spreads_requests_over_every_replica(
    cluster: ClusterState, cluster_home: Path
) -> None:
    for k in range(20):
        assert call(_url(cluster.port, f"/v1/users/{k + 1}/recommendations?k=5"))[0] == 200
    with urllib.request.urlopen(_url(cluster.stats_port, "/;csv"), timeout=5) as r:
        rows = list(csv.DictReader(io.StringIO(r.read().decode().lstrip("# "))))
    served = {row["svname"]: int(row["stot"]) for row in rows if row["pxname"] == "replicas"}
    assert served["r1"] > 0 and served["r2"] > 0


def test_a_killed_replica_is_restarted_and_loses_no_acknowledged_event(
    cluster: ClusterState, cluster_home: Path
) -> None:
    plan = _plan(cluster_home)
    victim = control.read_state(control.cluster_dir(cluster_home, DATASET))
    assert victim is not None
    acked: list[str] = []
    failed: list[int] = []
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            user = f"kill-{n}"
            status = _click(plan.port, user, "50")
            (acked.append(user) if status == 200 else failed.append(status))
            n += 1

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(0.5)
    os.kill(victim.replica_pids[0], signal.SIGKILL)
    deadline = time.monotonic() + 120
    while not http_ok(_url(plan.replica_ports[0], "/readyz")):
        assert time.monotonic() < deadline, "the killed replica was not restarted"
        time.sleep(0.1)
    time.sleep(0.5)
    stop.set()
    writer.join()
    now = control.read_state(control.cluster_dir(cluster_home, DATASET))
    assert now is not None and now.replica_pids[0] != victim.replica_pids[0]
    assert now.restarts >= 1
    assert len(failed) <= 1, failed  # at most the one in flight on the killed replica
    with RedisEventLog.from_url(plan.event_log) as log:
        logged = {e.event.user_id for e in read_all(log) if isinstance(e, LoggedEvent)}
    assert len(acked) > 10
    of = Pseudonyms.for_home(cluster_home).of  # the log holds pseudonyms
    assert {of(user) for user in acked} <= logged


def test_redis_killed_under_ingest_comes_back_with_every_acknowledged_event(
    cluster: ClusterState, cluster_home: Path
) -> None:
    plan = _plan(cluster_home)
    state = control.read_state(control.cluster_dir(cluster_home, DATASET))
    assert state is not None
    with RedisEventLog.from_url(plan.event_log) as log:
        before = log.last_seq()
    acked: list[str] = []
    statuses: set[int] = set()
    killed_at = time.monotonic()
    os.kill(state.redis_pid, signal.SIGKILL)
    while time.monotonic() - killed_at < 3:
        user = f"redis-kill-{len(acked)}-{uuid.uuid4().hex[:6]}"
        status = _click(plan.port, user, "50")
        statuses.add(status)
        if status == 200:
            acked.append(user)
    assert statuses <= {200, 503}  # 503 while Redis restarts: an honest "try again"
    assert acked  # Redis came back within the 3 s and writes resumed
    of = Pseudonyms.for_home(cluster_home).of
    with RedisEventLog.from_url(plan.event_log) as log:
        logged = {e.event.user_id for e in log.read(before) if isinstance(e, LoggedEvent)}
    assert {of(user) for user in acked} <= logged


def test_up_refuses_a_second_cluster_for_the_same_dataset(
    cluster: ClusterState, cluster_home: Path
) -> None:
    with pytest.raises(LiverecError, match="already runs"):
        control.up(cluster_home, DATASET, replicas=1, port=free_port())


def test_status_lists_every_part_and_down_stops_exactly_what_up_started(
    cluster_home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "home"
    shutil.copytree(cluster_home / "datasets", home / "datasets")
    shutil.copytree(cluster_home / "snapshots", home / "snapshots")
    monkeypatch.setenv("LIVEREC_HOME", str(home))
    try:
        port = free_port()
        assert main(["cluster", "up", "--replicas", "1", "--port", str(port)]) == 0
        state = control.read_state(control.cluster_dir(home, DATASET))
        assert state is not None
        pids = [state.supervisor_pid, state.redis_pid, state.haproxy_pid, *state.replica_pids]
        assert all(alive(p) for p in pids)
        capsys.readouterr()
        assert main(["cluster", "status"]) == 0
        table = capsys.readouterr().out
        assert "replica r1" in table and "redis-server" in table and "not ready" not in table
        assert main(["cluster", "down"]) == 0
        assert not any(alive(p) for p in pids)
        assert main(["cluster", "status"]) == 3
    finally:
        control.down(home, DATASET)
