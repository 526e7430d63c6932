"""Drive wrk (the HTTP load generator, Debian package ``wrk``) and read its results as JSON.

Each scenario is a generated Lua script: ``request()`` varies the user/item/body per call,
``delay()`` optionally paces each connection, and ``done()`` prints one JSON line with the
request count, errors and latency percentiles, so nothing is scraped from wrk's text report.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from liverec.core.errors import LiverecError

MARKER = "LIVEREC_WRK "

# Each wrk thread starts at a different place in the id lists, so threads do not request
# the same user at the same moment.
_THREADS = """
counter = 0
local thread_no = 0
setup = function(thread) thread:set("counter", thread_no * 7919); thread_no = thread_no + 1 end
"""

_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, '
    .. '"write_errors": %d, "status_errors": %d, "timeouts": %d, '
    .. '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    "%MARKER%", summary.requests, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
end
"""


@dataclass(frozen=True)
class Scenario:
    """One load: what each request is (Lua), how many connections, optional pacing."""

    name: str
    lua_request: str  # body of a Lua function returning wrk.format(...)
    connections: int = 32
    delay_ms: float = 0.0  # per-connection pause between requests (paced load)
    events_per_request: int = 0  # for ingest scenarios: events in each POST
    preamble: str = ""  # Lua run once per thread before requests (tables of ids ...)

    def script(self) -> str:
        """The full Lua script for wrk."""
        lua = self.preamble + "\n" + _THREADS
        lua += "request = function()\n  counter = counter + 1\n"
        lua += self.lua_request + "\nend\n"
        if self.delay_ms > 0:
            # Exponential gaps (Poisson arrivals per connection): a fixed gap would make all
            # connections fire in synchronised waves and measure the waves, not the server.
            mean = f"{self.delay_ms:.3f}"
            lua += f"delay = function() return -{mean} * math.log(1 - math.random()) end\n"
        return lua + _DONE.replace("%MARKER%", MARKER)

    def paced(self, rate: float, label: str | None = None) -> Scenario:
        """This load with each connection pausing so that all of them offer ``rate`` req/s
        (named ``<label>, paced to <rate> req/s``; the label defaults to this one's name)."""
        rate = max(1.0, rate)
        return replace(
            self,
            name=f"{label or self.name}, paced to {rate:,.0f} req/s",
            delay_ms=1e3 * self.connections / rate,
        )


@dataclass(frozen=True)
class LoadResult:
    """What wrk measured for one scenario."""

    scenario: str
    connections: int
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    events_per_request: int = 0
    delay_ms: float = 0.0
    rps_range: tuple[float, float] | None = None  # slowest and fastest of repeated runs

    @property
    def rps(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        """JSON-able figures."""
        out = {
            "scenario": self.scenario,
            "connections": self.connections,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "errors": self.errors,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
        }
        if self.events_per_request:
            out["events_per_s"] = round(self.rps * self.events_per_request, 1)
        if self.delay_ms:
            out["delay_ms"] = self.delay_ms
        if self.rps_range is not None:
            out["rps_min"], out["rps_max"] = (round(x, 1) for x in self.rps_range)
        return out


def parse_output(stdout: str, scenario: Scenario) -> LoadResult:
    """The result from wrk's output (the JSON line our ``done()`` printed).

    Raises
    ------
    LiverecError
        If wrk printed no result line.
    """
    line = next((x for x in stdout.splitlines() if x.startswith(MARKER)), None)
    if line is None:
        raise LiverecError(f"wrk printed no result for {scenario.name}: {stdout[-500:]}")
    d = json.loads(line[len(MARKER) :])
    errors = sum(d[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors"))
    return LoadResult(
        scenario=scenario.name,
        connections=scenario.connections,
        requests=int(d["requests"]),
        seconds=d["duration_us"] / 1e6,
        errors=int(errors + d["timeouts"]),
        p50_ms=round(d["p50_us"] / 1e3, 3),
        p95_ms=round(d["p95_us"] / 1e3, 3),
        p99_ms=round(d["p99_us"] / 1e3, 3),
        max_ms=round(d["max_us"] / 1e3, 3),
        events_per_request=scenario.events_per_request,
        delay_ms=scenario.delay_ms,
    )


def wrk_path() -> str:
    """Where wrk is installed.

    Raises
    ------
    LiverecError
        If it is not (with the command that installs it).
    """
    path = shutil.which("wrk")
    if path is None:
        raise LiverecError("wrk is not installed; run: sudo apt-get install -y wrk (or make bench)")
    return path


def run(url: str, scenario: Scenario, seconds: float, threads: int = 2) -> LoadResult:
    """Run one scenario against ``url`` for ``seconds``."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(scenario.script())
        script = f.name
    threads = max(1, min(threads, scenario.connections))
    cmd = [wrk_path(), f"-t{threads}", f"-c{scenario.connections}", f"-d{seconds:g}s"]
    cmd += ["--timeout", "10s", "-s", script, url]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    finally:
        Path(script).unlink(missing_ok=True)
    if proc.returncode != 0:
        raise LiverecError(f"wrk failed for {scenario.name}: {proc.stderr.strip()[-500:]}")
    return parse_output(proc.stdout, scenario)


def get(path_expr: str, headers: dict[str, str] | None = None) -> str:
    """Lua for a GET whose path is the Lua expression ``path_expr``."""
    h = "{" + ", ".join(f'["{k}"] = "{v}"' for k, v in (headers or {}).items()) + "}"
    return f'  return wrk.format("GET", {path_expr}, {h})'


def post_json(body_expr: str, path: str = "/v1/events") -> str:
    """Lua for a JSON POST whose body is the Lua expression ``body_expr``."""
    h = '{["Content-Type"] = "application/json"}'
    return f'  return wrk.format("POST", "{path}", {h}, {body_expr})'
