"""The worker's HTTP pages, served by faust's web server on ``web.host:web.port``.

``/healthz``  liveness: the event loop is alive (its heartbeat is recent).
``/readyz``   readiness: model loaded, warm-up batch done, partitions assigned, not draining.
``/metrics``  Prometheus text format (the worker's own registry).
``/``         the live dashboard (static page + ``dashboard.js`` polling ``/api/dashboard``).
``/stats``    plain counters, kept for scripts written against the vertical slice.
"""

from __future__ import annotations

import time
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemas.results import ModelRef
from workers.dashboard import DashboardAggregator
from workers.metrics import WorkerMetrics
from workers.settings import WebSettings

if TYPE_CHECKING:
    from workers.app import WorkerState

STATIC = files("workers.dashboard").joinpath("static")
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
ASSETS: dict[str, tuple[str, str]] = {  # URL path -> (file in static/, content type)
    "/": ("index.html", "text/html"),
    "/dashboard.js": ("dashboard.js", "text/javascript"),
    "/dashboard.css": ("dashboard.css", "text/css"),
}


def health(state: WorkerState, settings: WebSettings, now: float | None = None) -> tuple[dict[str, Any], int]:
    """Liveness body and status: 503 once the loop's heartbeat is older than ``liveness_stale_s``."""
    now = time.monotonic() if now is None else now
    beat_age_s = now - state.last_heartbeat
    alive = beat_age_s < settings.liveness_stale_s
    body = {"status": "ok" if alive else "stalled", "heartbeat_age_s": round(beat_age_s, 3)}
    body["event_loop_lag_s"] = round(state.loop_lag_s, 4)
    return body, 200 if alive else 503


def readiness(state: WorkerState, model: ModelRef) -> tuple[dict[str, Any], int]:
    body = {
        "ready": state.ready,
        "model_ready": state.model_ready,
        "warmed_up": state.warmed_up,
        "partitions_assigned": state.partitions_assigned,
        "assigned_partitions": len(state.assigned),
        "draining": state.draining,
        "model": model.model_dump(),
    }
    return body, 200 if state.ready else 503


def register_pages(
    app: faust.App,
    *,
    state: WorkerState,
    metrics: WorkerMetrics,
    dashboard: DashboardAggregator,
    model: ModelRef,
    settings: WebSettings,
) -> None:
    assets = {
        path: (STATIC.joinpath(name).read_text(encoding="utf-8"), kind)
        for path, (name, kind) in ASSETS.items()
    }

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        body, status = health(state, settings)
        return web.json(body, status=status)

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        body, status = readiness(state, model)
        return web.json(body, status=status)

    @app.page("/metrics")
    async def prometheus(web: Any, request: Any) -> Any:
        metrics.ready.set(1 if state.ready else 0)
        return web.bytes(generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page("/stats")
    async def stats(web: Any, request: Any) -> Any:
        return web.json(dict(state.counts))

    @app.page("/api/dashboard")
    async def dashboard_json(web: Any, request: Any) -> Any:
        snapshot = dashboard.snapshot(
            model=model.model_dump(),
            ready=state.ready,
            draining=state.draining,
            window_s=_int_or_none(request.query.get("window")),
        )
        return web.json(snapshot.model_dump(mode="json"), headers={"Cache-Control": "no-store"})

    for path, (content, kind) in assets.items():
        _register_asset(app, path, content, kind)


def _register_asset(app: faust.App, path: str, content: str, content_type: str) -> None:
    @app.page(path, name=f"modstream-asset-{path.strip('/') or 'index'}")
    async def asset(web: Any, request: Any) -> Any:
        return web.text(content, content_type=content_type, headers=dict(PAGE_HEADERS))


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None
