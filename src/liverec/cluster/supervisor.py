"""The cluster supervisor: starts Redis, N replicas and HAProxy, restarts what dies, stops all.

``liverec cluster up`` runs this module as a detached process (``python -m
liverec.cluster.supervisor DIR``) and ``liverec cluster down`` sends it SIGTERM; it writes
what it runs to ``DIR/cluster.json`` so both commands and operators can see the pids.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from liverec.cluster.haproxy import HAProxyConfig, haproxy_binary
from liverec.cluster.process import http_ok
from liverec.cluster.redis_server import Fsync, RedisConfig, RedisServer
from liverec.core.errors import LiverecError

PLAN = "plan.json"
STATE = "cluster.json"


@dataclass(frozen=True)
class ClusterPlan:
    """Everything the supervisor needs, fixed by ``cluster up`` (ports chosen free there)."""

    home: str
    dataset: str
    port: int
    stats_port: int
    redis_port: int
    replica_ports: tuple[int, ...]
    appendfsync: Fsync = "always"

    @property
    def event_log(self) -> str:
        """The replicas' shared event log: this cluster's Redis, keys under the dataset."""
        return f"redis://127.0.0.1:{self.redis_port}/0?prefix=liverec:{self.dataset}"

    def save(self, directory: Path) -> None:
        """Write the plan as JSON into ``directory``."""
        (directory / PLAN).write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, directory: Path) -> ClusterPlan:
        """Read the plan ``save`` wrote."""
        raw = json.loads((directory / PLAN).read_text())
        return cls(**{**raw, "replica_ports": tuple(raw["replica_ports"])})


@dataclass
class ClusterState:
    """What runs now (``cluster.json``): pids by part, and how often replicas were restarted."""

    supervisor_pid: int
    port: int
    stats_port: int
    redis_pid: int = 0
    haproxy_pid: int = 0
    replica_pids: list[int] = field(default_factory=list)
    restarts: int = 0
    ready: bool = False


class Supervisor:
    """Owns the cluster's processes; ``run`` returns after SIGTERM, once all are stopped."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.plan = ClusterPlan.load(directory)
        self.redis = RedisServer(
            RedisConfig(self.plan.redis_port, directory / "redis", self.plan.appendfsync)
        )
        self.replicas: list[subprocess.Popen[bytes] | None] = [None] * len(self.plan.replica_ports)
        self.started_at = [0.0] * len(self.replicas)
        self.haproxy: subprocess.Popen[bytes] | None = None
        self.state = ClusterState(os.getpid(), self.plan.port, self.plan.stats_port)
        self.stopping = False

    def run(self, poll_s: float = 0.25) -> None:
        """Start everything, then keep it running until SIGTERM or SIGINT."""
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        try:
            self.redis.start()
            for k in range(len(self.replicas)):
                self._start_replica(k)
            for port in self.plan.replica_ports:
                self._wait_ready(f"http://127.0.0.1:{port}/readyz")
            self._start_haproxy()
            self.state.ready = True
            self._save_state()
            while not self.stopping:
                self._revive()
                time.sleep(poll_s)
        finally:
            self._stop_all()

    def _revive(self) -> None:
        """Restart whatever exited; HAProxy's checks keep a replica out until it is ready."""
        if self.redis.process is not None and self.redis.process.poll() is not None:
            log(f"redis-server exited ({self.redis.process.returncode}); restarting")
            self.redis.start()  # replays its AOF
            self._save_state()
        for k, proc in enumerate(self.replicas):
            # A replica that keeps crashing is restarted at most once a second.
            recent = time.monotonic() - self.started_at[k] < 1.0
            if proc is not None and proc.poll() is not None and not recent:
                log(f"replica r{k + 1} exited ({proc.returncode}); restarting")
                self.state.restarts += 1
                self._start_replica(k)
        if self.haproxy is not None and self.haproxy.poll() is not None:
            log(f"haproxy exited ({self.haproxy.returncode}); restarting")
            self._start_haproxy()

    def _start_replica(self, k: int) -> None:
        port = self.plan.replica_ports[k]
        env = {
            **os.environ,
            "LIVEREC_HOME": self.plan.home,
            "LIVEREC_EVENT_LOG": self.plan.event_log,
            # Every replica tails the shared log before it reads: read-your-writes anywhere.
            "LIVEREC_SERVICE__SHARED_LOG": "true",
            "OPENBLAS_NUM_THREADS": "1",
        }
        cmd = [sys.executable, "-m", "liverec.cli", "serve", "--dataset", self.plan.dataset]
        cmd += ["--port", str(port), "--log-level", "warning"]
        self.started_at[k] = time.monotonic()
        with self._log_file(f"replica-{k + 1}.log") as out:
            self.replicas[k] = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        self._save_state()

    def _start_haproxy(self) -> None:
        config = HAProxyConfig(self.plan.port, self.plan.replica_ports, self.plan.stats_port)
        path = self.directory / "haproxy.cfg"
        path.write_text(config.text())
        with self._log_file("haproxy.log") as out:
            self.haproxy = subprocess.Popen(
                [haproxy_binary(), "-db", "-f", str(path)], stdout=out, stderr=subprocess.STDOUT
            )
        self._wait_ready(f"http://127.0.0.1:{self.plan.port}/readyz")
        self._save_state()

    def _wait_ready(self, url: str, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while not http_ok(url):
            if self.stopping or time.monotonic() > deadline:
                raise LiverecError(f"{url} did not answer 200 within {timeout:.0f} s")
            if any(p is not None and p.poll() is not None for p in self.replicas):
                raise LiverecError(f"a replica exited while starting; see {self.directory}")
            time.sleep(0.1)

    def _stop_all(self) -> None:
        for proc in [self.haproxy, *self.replicas]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in [self.haproxy, *self.replicas]:
            if proc is not None:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.redis.stop()
        (self.directory / STATE).unlink(missing_ok=True)
        log("stopped")

    def _save_state(self) -> None:
        self.state.redis_pid = self.redis.pid or 0
        self.state.haproxy_pid = self.haproxy.pid if self.haproxy else 0
        self.state.replica_pids = [p.pid if p else 0 for p in self.replicas]
        tmp = self.directory / f"{STATE}.tmp"
        tmp.write_text(json.dumps(asdict(self.state), indent=1))
        tmp.replace(self.directory / STATE)

    def _log_file(self, name: str) -> IO[bytes]:
        logs = self.directory / "logs"
        logs.mkdir(exist_ok=True)
        return (logs / name).open("ab")

    def _request_stop(self, *_: object) -> None:
        self.stopping = True


def log(message: str) -> None:
    """One timestamped line on the supervisor's log (its stdout)."""
    print(f"{time.strftime('%H:%M:%S')} supervisor: {message}", flush=True)


if __name__ == "__main__":
    Supervisor(Path(sys.argv[1])).run()
