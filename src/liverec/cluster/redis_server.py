"""Run a private ``redis-server`` (the Debian package) on loopback with its own dir and AOF."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from liverec.cluster.process import debian_binary
from liverec.core.errors import LiverecError

Fsync = Literal["always", "everysec", "no"]


@dataclass(frozen=True)
class RedisConfig:
    """What the generated redis.conf says."""

    port: int
    directory: Path
    appendfsync: Fsync = "always"
    # Users with up to this many events keep a compact listpack hash (see RedisEventLog).
    hash_listpack_entries: int = 512

    def text(self) -> str:
        """The redis.conf contents: loopback only, AOF on, no RDB snapshots."""
        return "\n".join(
            [
                "bind 127.0.0.1",
                "protected-mode yes",
                f"port {self.port}",
                f"dir {self.directory}",
                "daemonize no",
                'save ""',
                "appendonly yes",
                f"appendfsync {self.appendfsync}",
                "aof-load-truncated yes",
                f"hash-max-listpack-entries {self.hash_listpack_entries}",
                "hash-max-listpack-value 256",
                "logfile redis.log",
                "",
            ]
        )


def redis_binary() -> str:
    """Path of redis-server (raises LiverecError naming the package when it is missing)."""
    return debian_binary("redis-server", "redis-server")


def ping(port: int, timeout: float = 0.5) -> bool:
    """Whether a Redis answers PING on 127.0.0.1:port (raw RESP, no client library)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process; ``start`` waits until it answers, ``stop`` ends exactly it."""

    def __init__(self, config: RedisConfig) -> None:
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The ``redis://`` URL of database 0."""
        return f"redis://127.0.0.1:{self.config.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's pid while it runs."""
        return self.process.pid if self.process else None

    def start(self, timeout: float = 20.0) -> RedisServer:
        """Write redis.conf into the directory and start the server on it.

        Raises
        ------
        LiverecError
            If it exits or does not answer within ``timeout`` seconds (with its log's tail).
        """
        directory = self.config.directory
        directory.mkdir(parents=True, exist_ok=True)
        conf = directory / "redis.conf"
        conf.write_text(self.config.text())
        self.process = subprocess.Popen(
            [redis_binary(), str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not ping(self.config.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise LiverecError(
                    f"redis-server on port {self.config.port} did not start: {self.log_tail()}"
                )
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        """kill -9, as a crash would (for durability tests)."""
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Redis flushes the AOF and exits), SIGKILL after ``timeout`` seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of the server's log (empty when there is none)."""
        path = self.config.directory / "redis.log"
        if not path.exists():
            return ""
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
