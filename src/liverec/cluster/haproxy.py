"""HAProxy (the Debian package) in front of the replicas, from a generated config."""

from __future__ import annotations

from dataclasses import dataclass

from liverec.cluster.process import debian_binary


@dataclass(frozen=True)
class HAProxyConfig:
    """Where HAProxy listens and which replicas it balances, with health checks."""

    port: int
    replica_ports: tuple[int, ...]
    stats_port: int
    check_interval_ms: int = 1000
    # Requests in flight per replica; more wait in HAProxy's queue. A replica answers on one
    # event loop, so past a few concurrent requests it only queues them itself, and there
    # its health check waits behind the load: under a 32-connection ingest burst /readyz
    # took over a second, both replicas were marked down and HAProxy answered 503.
    replica_maxconn: int = 8

    def text(self) -> str:
        """The haproxy.cfg contents.

        Round robin, since every replica can answer every user (each tails the shared log
        before it reads). A replica leaves the rotation at the first refused connection
        (``observe layer4``; least-connections would keep choosing a dead replica, which
        has none) or after three failed ``/readyz`` checks, and returns after two good ones
        (checks every 200 ms while its state changes). A request whose connection is
        refused is retried on another replica (``redispatch 1``), so a dead replica costs
        only the requests it was answering when it died.
        """
        servers = [
            f"    server r{k} 127.0.0.1:{port} maxconn {self.replica_maxconn} check "
            f"inter {self.check_interval_ms}ms fastinter 200ms fall 3 rise 2 "
            "observe layer4 error-limit 1 on-error mark-down"
            for k, port in enumerate(self.replica_ports, start=1)
        ]
        return "\n".join(
            [
                "global",
                "    maxconn 4096",
                # Failed requests only (dontlog-normal), on stdout: the supervisor's haproxy.log.
                "    log stdout format raw daemon",
                "defaults",
                "    mode http",
                "    log global",
                "    option httplog",
                "    option dontlog-normal",
                "    timeout connect 1s",
                "    timeout client 30s",
                "    timeout server 30s",
                "    timeout queue 30s",
                "    timeout check 2s",
                "    retries 2",
                "    option redispatch 1",
                "frontend liverec",
                f"    bind 127.0.0.1:{self.port}",
                "    default_backend replicas",
                "backend replicas",
                "    balance roundrobin",
                "    option httpchk GET /readyz",
                "    http-check expect status 200",
                *servers,
                "frontend stats",
                f"    bind 127.0.0.1:{self.stats_port}",
                "    stats enable",
                "    stats uri /",
                "    stats refresh 2s",
                "",
            ]
        )


def haproxy_binary() -> str:
    """Path of haproxy (raises LiverecError naming the package when it is missing)."""
    return debian_binary("haproxy", "haproxy")
