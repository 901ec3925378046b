"""Routes about the service itself: usage, health, metrics, the OpenAPI document, docs,
the source offer."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ocrkit.jobs.metrics import exposition
from ocrkit.server.apidoc import AUTH_ERRORS, json_response, operation, ref
from ocrkit.server.context import get_caller, state
from ocrkit.server.openapi import openapi_document

if TYPE_CHECKING:
    from ocrkit.settings import Settings

run = anyio.to_thread.run_sync


@operation(
    {
        "summary": "The caller's plan and usage",
        "responses": {"200": json_response(ref("Usage"), "Usage"), **AUTH_ERRORS},
    }
)
async def usage(request: Request) -> Response:
    """GET /api/v1/usage/: the caller's plan, used, cap, credits, unit, period end."""
    st = state(request)
    caller = await get_caller(request, st.store, st.settings)
    return JSONResponse(await run(st.store.usage, caller))


@operation(
    {
        "summary": "Health",
        "security": [],
        "responses": {
            "200": json_response({"type": "object"}, "The store (and the broker, if any) answer"),
            "503": json_response(
                {"type": "object"}, "The store or the queue broker does not answer"
            ),
        },
    }
)
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


@operation(
    {
        "summary": "Prometheus metrics: jobs by status, pages, queue depth, pages/min",
        "security": [],
        "responses": {
            "200": {
                "description": "Prometheus text format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    }
)
async def metrics(request: Request) -> Response:
    """GET /metrics: Prometheus text exposition (see :mod:`ocrkit.server.metrics`)."""
    st = state(request)
    snapshot: dict[str, Any] = dict(await run(st.store.counts))
    sched = st.jobs.scheduler
    snapshot["queue_depth"] = await run(sched.depth)
    snapshot["jobs_running"] = await run(sched.running)
    snapshot.update(await run(st.jobs.extra_metrics))
    body, content_type = await run(exposition, snapshot)
    return Response(body, media_type=content_type)


@operation(
    {
        "summary": "This document",
        "security": [],
        "responses": {"200": json_response({"type": "object"}, "OpenAPI 3.1")},
    }
)
async def openapi(request: Request) -> Response:
    """GET /api/v1/openapi.json: this API as an OpenAPI 3.1 document."""
    st = state(request)
    doc = openapi_document(request.app.routes, st.registry, source_url(st.settings))
    return JSONResponse(doc)


def source_url(settings: Settings) -> str:
    return settings.source_url or "/source"


# Swagger UI, vendored from the swagger-ui-dist npm package (static/swagger/VERSION).
DOCS_FILES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "LICENSE": "text/plain; charset=utf-8",
    "NOTICE": "text/plain; charset=utf-8",
    "THIRD-PARTY-LICENSES.txt": "text/plain; charset=utf-8",
    "VERSION": "text/plain; charset=utf-8",
}
# Scripts from this server only; Swagger UI sets inline styles, so style-src allows them.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_HEADERS = {
    "Content-Security-Policy": DOCS_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


@lru_cache(maxsize=len(DOCS_FILES) + 2)
def _static(name: str) -> bytes:
    return resources.files("ocrkit.server").joinpath("static", name).read_bytes()


@operation(
    {
        "summary": "A small page that renders this document",
        "security": [],
        "responses": {
            "200": {
                "description": "HTML",
                "content": {"text/html": {"schema": {"type": "string"}}},
            }
        },
    }
)
async def docs(request: Request) -> Response:
    """GET /api/v1/docs (and /docs): Swagger UI on this server's OpenAPI document."""
    return Response(
        _static("docs.html"), media_type="text/html; charset=utf-8", headers=DOCS_HEADERS
    )


async def docs_file(request: Request) -> Response:
    """GET /api/v1/docs/<name>: Swagger UI's files and the page's start script."""
    name = request.path_params["name"]
    if name == "docs.js":
        data, media_type = _static("docs.js"), "text/javascript; charset=utf-8"
    elif name in DOCS_FILES:
        data, media_type = _static(f"swagger/{name}"), DOCS_FILES[name]
    else:
        raise HTTPException(404, "no such file")
    return Response(data, media_type=media_type, headers=DOCS_HEADERS)


async def source(request: Request) -> Response:
    """GET /source: the source of the ocrkit this server runs (see ocrkit.server.source)."""
    from ocrkit.server import source as src

    st = state(request)
    if st.settings.source_url:
        return RedirectResponse(st.settings.source_url, status_code=302)
    data = await run(src.archive)
    headers = {"Content-Disposition": 'attachment; filename="ocrkit-source.tar.gz"'}
    return Response(data, media_type="application/gzip", headers=headers)
