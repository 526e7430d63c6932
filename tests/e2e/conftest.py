"""Shared by the browser tests: a real server (uvicorn on 127.0.0.1) and headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from liverec.api.app import create_app
from liverec.config import Settings
from liverec.core.paths import Paths
from liverec.data.dataset import Dataset
from liverec.serving.training import train_snapshot

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def get_json(url: str) -> tuple[int, Any]:
    """GET ``url``; the status and the decoded JSON body (error bodies included)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="session")
def e2e_snapshots(
    tmp_path_factory: pytest.TempPathFactory, session_home: Path, ml100k: Dataset
) -> Path:
    """A snapshot root shared (read-only) by the servers below."""
    root = tmp_path_factory.mktemp("e2e-snapshots") / ml100k.name
    train_snapshot(ml100k, [], root, log=lambda *_: None, models_dir=session_home / "models")
    return root


def server_home(tmp_path_factory: pytest.TempPathFactory, session_home: Path) -> Path:
    """A home of its own, with the session's pseudonym secret (the dataset's user ids) and
    the public raw files (the landing view's sample users)."""
    home = tmp_path_factory.mktemp("e2e-home")
    shutil.copy(Paths(session_home).secret, Paths(home).secret)
    shutil.copytree(session_home / "raw", home / "raw")
    return home


@pytest.fixture(scope="session")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, session_home: Path, e2e_snapshots: Path
) -> Iterator[str]:
    """Base URL of a uvicorn server without API keys (open on loopback)."""
    home = server_home(tmp_path_factory, session_home)
    yield from serve(home, e2e_snapshots)


def serve(home: Path, snapshots: Path) -> Iterator[str]:
    """Run a uvicorn server in a background thread, with its own home and event log."""
    settings = Settings(
        home=home,
        dataset=snapshots.name,
        snapshots_dir=snapshots,
        event_log=f"sqlite:///{home / 'events.db'}",
        watch_snapshots_s=0,
    )
    # Binding port 0 ourselves and handing uvicorn the socket avoids a free-port race.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="e2e-uvicorn", daemon=True
    )
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive():
            pytest.fail("the liverec server exited during startup; see the log above")
        if time.monotonic() > deadline:
            pytest.fail("the liverec server did not start within 60 s")
        time.sleep(0.05)
    status, body = get_json(f"{base}/healthz")
    assert status == 200 and body["status"] == "ok", body
    yield base
    server.should_exit = True
    thread.join(timeout=15)
    sock.close()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """A headless Chromium (the system one; nothing is downloaded).

    Package-scoped: Playwright's sync API keeps an asyncio loop running in the main thread
    while it is open, which would break every later test that calls `asyncio.run`.
    """
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is not installed (apt-get install chromium); make test installs it"
        )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, live_server: str) -> Iterator[Page]:
    """A fresh browser tab (own cookies and storage) with the page's base URL set."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def api_get(live_server: str) -> Callable[[str], tuple[int, Any]]:
    """GET a path on the live server straight from the test, bypassing the page."""
    return lambda path: get_json(live_server + path)


def screenshot(page: Page, tmp_path: Path, name: str) -> None:
    """Into tmp_path; also into $LIVEREC_SCREENSHOTS (docs/ when refreshing the README's)."""
    page.screenshot(path=tmp_path / name, full_page=True, animations="disabled")
    if folder := os.environ.get("LIVEREC_SCREENSHOTS"):
        page.screenshot(path=Path(folder) / name, full_page=True, animations="disabled")
