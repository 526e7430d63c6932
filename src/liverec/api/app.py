"""The app factory: ``create_app(settings)`` wires routes; the lifespan hook loads the model."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse
from threadpoolctl import threadpool_limits

from liverec import __version__
from liverec.api import errors
from liverec.api.auth import AuthMiddleware
from liverec.api.limits import LimitsMiddleware
from liverec.api.metrics import LatencyMiddleware, Metrics
from liverec.api.routes import events, experiments, items, system, users
from liverec.api.schemas import EventBatch, EventIn
from liverec.config import Settings
from liverec.core.audit import AuditLog
from liverec.core.keys import KeyStore
from liverec.library import open_service
from liverec.serving.batching import MicroBatcher
from liverec.serving.runtime import freeze_long_lived
from liverec.serving.service import LiveService

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"


class SnapshotWatcher:
    """Polls for a newer snapshot and hot-swaps to it (``liverec train`` while serving)."""

    def __init__(self, service: LiveService, every_s: float) -> None:
        self.service = service
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="snapshot-watcher", daemon=True)

    def start(self) -> SnapshotWatcher:
        """Begin polling in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling and wait for the thread."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.service.reload()
            except Exception:  # a broken snapshot must not stop the service
                log.exception("reloading the newest snapshot failed")


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the schemas that ``POST /v1/events`` refers to: its body is
    parsed by hand (one event, a batch or an array), so FastAPI does not list them itself."""
    if app.openapi_schema is None:
        doc = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            routes=app.routes,
        )
        found = doc.setdefault("components", {}).setdefault("schemas", {})
        for model in (EventIn, EventBatch):
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            found.update(schema.pop("$defs", {}))
            found[model.__name__] = schema
        app.openapi_schema = doc
    return app.openapi_schema


async def _docs_page() -> HTMLResponse:
    """Swagger UI from the vendored copy under /static/vendor (works offline)."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="liverec API",
        swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
        swagger_favicon_url="/static/vendor/swagger-ui/favicon-32x32.png",
    )


def create_app(settings: Settings | None = None, service: LiveService | None = None) -> FastAPI:
    """Build the app; the model is loaded (or trained) by the lifespan hook, not at import."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The request path's small products must not wait on a BLAS thread pool (the CLI
        # also sets OPENBLAS_NUM_THREADS before numpy loads; this covers library use).
        threadpool_limits(1, user_api="blas")
        keys.refresh()
        if not keys.configured():
            log.warning(
                "no API keys: the API is OPEN to every process on this machine (loopback only); "
                "create one with: liverec keys create --scope admin"
            )
        if service is None:
            svc = await run_in_threadpool(open_service, settings)
            freeze_long_lived()  # the model and state live as long as the server
        else:
            svc = service
        app.state.service = svc
        app.state.batcher = MicroBatcher(svc.prepare) if svc.config.micro_batch else None
        watcher = (
            SnapshotWatcher(svc, settings.watch_snapshots_s).start()
            if settings.watch_snapshots_s > 0
            else None
        )
        try:
            yield
        finally:
            if watcher is not None:
                watcher.stop()
            audit.close()
            if service is None:
                svc.log.close()
                svc.exposures.close()

    app = FastAPI(
        title="liverec",
        version=__version__,
        summary="Real-time recommendations with reasons, fresh on every event.",
        lifespan=lifespan,
        # The docs page is served below from vendored files: FastAPI's loads them from a CDN.
        docs_url=None,
        redoc_url=None,
        # FastAPI's native OpenTelemetry costs 1.7-4x per request when a provider exists.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.service = service
    app.state.settings = settings
    app.state.batcher = None
    metrics = Metrics(lambda: getattr(app.state, "service", None))
    app.state.metrics = metrics
    errors.install(app)
    for module in (events, users, items, experiments, system):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_api_route("/docs", _docs_page, include_in_schema=False)
    app.openapi = partial(_openapi, app)  # type: ignore[method-assign]
    keys = KeyStore(settings.home)
    audit = AuditLog(settings.home)
    app.add_middleware(LimitsMiddleware, config=settings.limits)
    app.add_middleware(AuthMiddleware, keys=keys, audit=audit, config=settings.auth)
    app.add_middleware(LatencyMiddleware, metrics=metrics)  # outermost: times denials too
    return app
