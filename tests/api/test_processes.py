"""The service as a real process: kill -9 during ingest, hot swap under load, workers."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from liverec.bench.durability import DurabilityBench, run_durability
from liverec.bench.server import Server, call
from liverec.core.paths import Paths

pytestmark = pytest.mark.slow


@pytest.fixture
def server_home(session_home: Path, snapshot_dir: Path, tmp_path: Path) -> Path:
    """A home with the fetched dataset and a copy of the session snapshot."""
    home = tmp_path / "home"
    shutil.copytree(session_home / "datasets", home / "datasets")
    # where serving looks (else every replica trains a snapshot of its own first)
    shutil.copytree(snapshot_dir, Paths(home).snapshots("ml-100k") / snapshot_dir.name)
    # `liverec train` in these tests reuses the session's exported encoder and embeddings
    (home / "models").symlink_to(session_home / "models", target_is_directory=True)
    return home


def SNAPSHOTS(home: Path) -> dict[str, str]:  # noqa: N802 - reads like a constant
    return {"LIVEREC_SNAPSHOTS_DIR": str(home / "snapshots")}


@pytest.mark.parametrize("workers", [1, 2])
def test_kill_9_under_concurrent_ingest_loses_no_acknowledged_event(
    server_home: Path, workers: int
) -> None:
    log_url = f"sqlite:///{server_home / 'events.db'}"
    bench = DurabilityBench(cycles=3, workers=workers, writers=3, min_s=0.3, max_s=0.8)
    result = run_durability(server_home, log_url, bench, log=lambda _: None)
    assert result.batches_acked > 20  # the crashes hit a server under load
    assert result.lost_acked == [] and result.partial == []


def test_hot_swap_under_http_load_drops_no_request(server_home: Path, tmp_path: Path) -> None:
    log_url = f"sqlite:///{server_home / 'events.db'}"
    server = Server(server_home, log_url, env=SNAPSHOTS(server_home)).start()
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()

    def load(user: str) -> None:
        while not stop.is_set():
            try:
                status, body = call(f"{server.url}/v1/users/{user}/recommendations?k=10")
            except OSError:
                statuses.append(-1)
                continue
            statuses.append(status)
            if status == 200:
                versions.add(body["model_version"])

    try:
        old = call(server.url + "/healthz")[1]["model_version"]
        call(
            server.url + "/v1/events", "POST", {"user_id": "swap", "item_id": "50", "type": "click"}
        )
        threads = [threading.Thread(target=load, args=(u,)) for u in ("1", "196", "swap", "nobody")]
        for t in threads:
            t.start()
        subprocess.run(
            # the classic models only: the transformer takes minutes (tested elsewhere)
            [sys.executable, "-m", "liverec.cli", "train", "--models", "none"],
            env=server.env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        status, body = call(server.url + "/v1/admin/reload", "POST", timeout=60)
        assert status == 200 and body["swapped"] is True and body["model_version"] != old
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        assert len(statuses) > 50
        assert set(statuses) == {200}
        assert versions == {old, body["model_version"]}
        # the click logged before training is in the new snapshot and not double counted
        assert call(server.url + "/v1/users/swap")[1]["event_count"] == 1
    finally:
        stop.set()
        server.stop()


def test_two_workers_share_the_log_and_read_their_writes(server_home: Path) -> None:
    log_url = f"sqlite:///{server_home / 'events.db'}"
    server = Server(server_home, log_url, workers=2, env=SNAPSHOTS(server_home)).start()
    try:
        for n in range(40):  # requests land on either worker
            item = str(1 + n)
            status, _ = call(
                server.url + "/v1/events",
                "POST",
                {"user_id": "two-workers", "item_id": item, "type": "click"},
            )
            assert status == 200
            body = call(server.url + "/v1/users/two-workers/recommendations?k=20")[1]
            assert item not in [i["item_id"] for i in body["items"]]
            assert call(server.url + "/v1/users/two-workers")[1]["event_count"] == n + 1
    finally:
        server.stop()
