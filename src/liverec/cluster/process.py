"""Small process and port helpers shared by the cluster and the benchmarks."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from liverec.core.errors import LiverecError


def debian_binary(name: str, package: str) -> str:
    """Path of the program ``name`` (also looked for in /usr/sbin, off most users' PATH).

    Raises
    ------
    LiverecError
        If it is not installed, naming the Debian package that brings it.
    """
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if not found:
        raise LiverecError(f"{name} is not installed: apt-get install {package}")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """Whether GET ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return bool(r.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (zombies count as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def command_line(pid: int) -> str:
    """The process's command line, space-joined ('' when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def stop_pid(pid: int, expect: str, timeout: float = 15.0) -> bool:
    """SIGTERM ``pid`` if its command line contains ``expect`` (a reused pid is left alone),
    SIGKILL after ``timeout`` seconds; return whether it was ours and running."""
    if not alive(pid) or expect not in command_line(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    return True
