"""Routes about the service itself: usage, health, metrics, the OpenAPI document, docs."""

from __future__ import annotations

from importlib import resources
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from ocrkit.server.auth import get_caller
from ocrkit.server.openapi import openapi_document
from ocrkit.server.routes_ocr import state

run = anyio.to_thread.run_sync

# Label names for the nested counts of Store.counts().
_LABELS = {"jobs": "status", "pages": "source"}


async def usage(request: Request) -> Response:
    """GET /api/v1/usage/: the caller's plan, used, cap, credits, unit, period end."""
    st = state(request)
    caller = await get_caller(request, st.store, st.settings)
    return JSONResponse(await run(st.store.usage, caller))


async def health(request: Request) -> Response:
    """GET /api/v1/health: 200 when the store (and the queue broker, if any) answer."""
    st = state(request)
    try:
        ok = await run(st.store.ping)
    except Exception:
        ok = False
    if not ok:
        return JSONResponse({"status": "unavailable", "detail": "the store does not answer"}, 503)
    broker = await run(st.jobs.broker_ok)  # None: no broker (in-process workers)
    if broker is False:
        body = {"status": "unavailable", "store": "ok", "broker": "unavailable"}
        return JSONResponse({**body, "detail": "the queue broker does not answer"}, 503)
    depth = await run(st.jobs.scheduler.depth)
    body = {"status": "ok", "store": "ok", "queue_depth": depth}
    if broker:
        body["broker"] = "ok"
    return JSONResponse(body)


def _metric_lines(name: str, value: Any, label: str) -> list[str]:
    if isinstance(value, dict):
        lines = [f"# TYPE ocrkit_{name} gauge"]
        for key, n in sorted(value.items()):
            if isinstance(n, int | float):
                lines.append(f'ocrkit_{name}{{{label}="{key}"}} {n}')
        return lines
    if isinstance(value, int | float):
        return [f"# TYPE ocrkit_{name} gauge", f"ocrkit_{name} {value}"]
    return []


async def metrics(request: Request) -> Response:
    """GET /metrics: Prometheus text exposition."""
    st = state(request)
    counts = await run(st.store.counts)
    lines: list[str] = []
    for name, value in sorted(counts.items()):
        lines += _metric_lines(name, value, _LABELS.get(name, "kind"))
    sched = st.jobs.scheduler
    lines += _metric_lines("queue_depth", await run(sched.depth), "")
    lines += _metric_lines("jobs_running", await run(sched.running), "")
    for gauge, n in sorted((await run(st.jobs.extra_metrics)).items()):
        lines += _metric_lines(gauge, n, "")
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")


async def openapi(request: Request) -> Response:
    """GET /api/v1/openapi.json: this API as an OpenAPI 3.1 document."""
    st = state(request)
    return JSONResponse(openapi_document(request.app.routes, st.registry))


async def docs(request: Request) -> Response:
    """GET /api/v1/docs: a small static page rendering the OpenAPI document."""
    html = resources.files("ocrkit.server").joinpath("static/docs.html").read_text("utf-8")
    return HTMLResponse(html)


_ASSETS = {"docs.js": "text/javascript; charset=utf-8", "docs.css": "text/css; charset=utf-8"}


async def docs_asset(request: Request) -> Response:
    """GET /api/v1/docs.js and docs.css: the docs page's script and style (files, so the
    page's CSP needs no 'unsafe-inline')."""
    name = request.url.path.rsplit("/", 1)[-1]
    data = resources.files("ocrkit.server").joinpath("static", name).read_bytes()
    return Response(data, media_type=_ASSETS[name], headers={"X-Content-Type-Options": "nosniff"})
