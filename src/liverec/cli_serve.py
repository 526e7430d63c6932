"""``liverec serve`` and what every server start checks first: dataset, snapshots, port."""

from __future__ import annotations

import argparse
import errno
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from liverec.cli_options import add_command, add_dataset_option, positive, settings, train_config
from liverec.core.errors import ConfigError, LiverecError

if TYPE_CHECKING:
    from liverec.config import Settings
    from liverec.data.dataset import Dataset
    from liverec.engine import Executor
    from liverec.serving.training import TrainConfig

TRAIN_KEEP = 5
UVICORN_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
# Measured on this 2-core machine: the classic components train at about 11 us per event
# (110 s for 10M events, docs/benchmarks.md scale M) and the text encoder embeds about 227
# items/s there; a fresh home first exports and loads the encoder, 18 s of ML-100K's 28 s
# text step. Items embedded before are cached, so the estimate is an upper bound.
TRAIN_S_PER_EVENT = 11e-6
ENCODE_ITEMS_PER_S = 227.0
ENCODER_SETUP_S = 20.0


def train_into_home(
    home_settings: Settings,
    dataset: Dataset,
    config: TrainConfig,
    keep: int,
    executor: Executor | None = None,
) -> Path:
    """Train a snapshot on ``dataset`` plus the event log (the parallel parts on
    ``executor``, default local processes); prune all but ``keep``."""
    from liverec.events.store import open_event_log, read_all
    from liverec.serving.snapshot import prune_snapshots
    from liverec.serving.training import train_snapshot

    with open_event_log(home_settings.event_log_url) as event_log:
        entries = read_all(event_log)
    path = train_snapshot(
        dataset,
        entries,
        home_settings.snapshots,
        config,
        models_dir=home_settings.models_dir,
        progress=True,
        executor=executor,
    )
    for old in prune_snapshots(home_settings.snapshots, keep=keep):
        print(f"removed old snapshot {old.name}")
    return path


def first_train_estimate_s(dataset: Dataset, config: TrainConfig) -> float:
    """Roughly how long training a snapshot with ``config`` takes (an upper bound)."""
    seconds = len(dataset.interactions) * TRAIN_S_PER_EVENT
    if "text" in config.components:
        seconds += ENCODER_SETUP_S + dataset.n_items / ENCODE_ITEMS_PER_S
    return seconds


def check_snapshots(root: Path) -> bool:
    """Whether a snapshot opens under ``root`` (False: there is none yet).

    Raises
    ------
    LiverecError
        If snapshots exist and none of them opens, naming each one and why.
    """
    from liverec.serving.snapshot import list_snapshots, load_snapshot

    found = list_snapshots(root)
    problems = []
    for path in reversed(found):
        try:
            load_snapshot(path)
            return True
        except Exception as e:  # any damage: say which file and why, then try the next
            problems.append(f"{path.name}: {type(e).__name__}: {str(e)[:160]}")
    if found:
        raise LiverecError(f"no snapshot under {root} opens ({'; '.join(problems)})")
    return False


def check_port_free(host: str, port: int) -> None:
    """Bind ``host:port`` and let go again, so a busy port fails before serving starts.

    Raises
    ------
    ConfigError
        If the host does not resolve or the port cannot be bound.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        raise ConfigError(f"--host {host}: cannot resolve it ({e.strerror})") from None
    with socket.socket(family, kind, proto) as probe:
        # uvicorn sets SO_REUSEADDR too: a port left in TIME_WAIT is free to it, so to us.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {port} on {host} is in use (another liverec serve?); "
                    f"pick a free one with --port, e.g. --port {port + 1}"
                ) from None
            raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror}") from None


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the API and web page once the dataset, snapshots and port check out."""
    import uvicorn

    from liverec.api.app import create_app
    from liverec.api.auth import is_loopback
    from liverec.core.keys import KeyStore
    from liverec.data.sources import check_dataset

    home_settings = settings(dataset=args.dataset)
    keys = KeyStore(home_settings.home)
    keys.refresh()
    if not is_loopback(args.host) and not keys.configured():
        raise LiverecError(
            f"--host {args.host} would expose the API beyond this machine without API keys; "
            f"create one first: liverec keys create --scope admin"
        )
    # Every check runs before anything is written under the home or printed as served.
    check_dataset(args.dataset, home_settings.home)
    has_snapshot = check_snapshots(home_settings.snapshots)
    check_port_free(args.host, args.port)
    if not keys.configured():
        print(
            "liverec: WARNING: no API keys, so the API is open to every process on this "
            "machine (loopback only); create one with: liverec keys create --scope admin",
            flush=True,
        )
    if not has_snapshot:
        train_first_snapshot(home_settings)
    os.environ["LIVEREC_DATASET"] = args.dataset
    if args.workers > 1:
        # Each worker keeps its own online state and tails the shared log before reading.
        os.environ["LIVEREC_SERVICE__SHARED_LOG"] = "true"
    print(f"liverec: serving http://{args.host}:{args.port}/  (API docs: /docs)", flush=True)
    if args.workers > 1:
        uvicorn.run(
            "liverec.api.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            access_log=False,
        )
    else:
        uvicorn.run(
            create_app(home_settings),
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=False,
        )
    return 0


def train_first_snapshot(home_settings: Settings) -> Path:
    """Train the snapshot a fresh home serves, saying first what it holds and how long."""
    from liverec.data.sources import load_dataset

    config = train_config("none")
    dataset = load_dataset(home_settings.dataset, home_settings.home)
    estimate = first_train_estimate_s(dataset, config)
    print(
        f"liverec: no snapshot for {dataset.name} yet: training a first one "
        f"({', '.join(config.components)}; liverec train adds sasrec): this takes up to "
        f"about {max(1, round(estimate))} s",
        flush=True,
    )
    return train_into_home(home_settings, dataset, config, keep=TRAIN_KEEP)


def add_commands(sub: Any) -> None:
    """Add ``serve``."""
    se = add_command(
        sub,
        "serve",
        "serve the HTTP API and the web page",
        ["liverec serve", "liverec serve --dataset shop --port 8080 --workers 2"],
        notes="Checks the dataset, the snapshots and the port before it serves; with no "
        "snapshot yet it first trains one (what liverec train --models none trains).",
    )
    add_dataset_option(se)
    se.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; beyond loopback it needs API keys (liverec keys create)",
    )
    se.add_argument("--port", type=int, default=8000, help="TCP port to listen on")
    se.add_argument(
        "--workers", type=positive, default=1, help="server processes (they share the event log)"
    )
    se.add_argument(
        "--log-level", default="info", choices=UVICORN_LOG_LEVELS, help="the server's log level"
    )
    se.set_defaults(func=cmd_serve)
