"""Run ``liverec serve`` in a subprocess on a free loopback port with its own home and log."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from liverec.cluster.process import free_port
from liverec.core.errors import LiverecError
from liverec.core.paths import Paths
from liverec.core.privacy import Pseudonyms


def call(url: str, method: str = "GET", body: Any = None, timeout: float = 10) -> tuple[int, Any]:
    """(status, parsed JSON) of one request; connection errors raise OSError."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def prepare_home(source_home: Path, home: Path, dataset: str = "ml-100k") -> Path:
    """A fresh home holding a copy of ``dataset`` from ``source_home`` (no log, no snapshot)
    and its pseudonym secret, so the copy's user ids stay reachable by their raw ids."""
    src = Paths(source_home).dataset(dataset)
    if not (src / "meta.json").exists():
        raise LiverecError(f"dataset {dataset!r} is not under {source_home}; fetch it first")
    shutil.copytree(src, Paths(home).dataset(dataset), dirs_exist_ok=True)
    Pseudonyms.for_home(source_home)  # created if the source has none yet
    shutil.copy2(Paths(source_home).secret, Paths(home).secret)
    return home


class Server:
    """One ``liverec serve`` process; ``env`` overrides settings (``LIVEREC_*``)."""

    def __init__(
        self,
        home: Path,
        event_log: str,
        workers: int = 1,
        env: dict[str, str] | None = None,
        dataset: str = "ml-100k",
    ) -> None:
        self.env = {
            **os.environ,
            "LIVEREC_HOME": str(home),
            "LIVEREC_EVENT_LOG": event_log,
            "LIVEREC_WATCH_SNAPSHOTS_S": "0",
            **(env or {}),
        }
        self.workers = workers
        self.dataset = dataset
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> Server:
        """Start the process and wait until /healthz answers."""
        self.port = free_port()
        cmd = [sys.executable, "-m", "liverec.cli", "serve", "--port", str(self.port)]
        cmd += ["--dataset", self.dataset]
        cmd += ["--workers", str(self.workers), "--log-level", "warning"]
        self.proc = subprocess.Popen(
            cmd,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise LiverecError(f"server exited with {self.proc.returncode}: {err[-2000:]}")
            try:
                if call(self.url + "/healthz", timeout=1)[0] == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise LiverecError(f"server did not answer /healthz within {timeout:.0f} s")

    def pid(self) -> int:
        """Process id of the server (the parent, with --workers)."""
        assert self.proc is not None
        return self.proc.pid

    def kill9(self) -> None:
        """SIGKILL the whole process group, as a crash would."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop gracefully, escalating to SIGKILL after 10 s."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
