"""The Starlette application behind ``ocrkit serve``.

:func:`create_app` builds the app from the same plugin registry the CLI uses. Its
lifespan owns all state: the store, the private upload area, the shared page-worker
pool, the job scheduler (with recovery of unfinished jobs) and the retention sweeper.
Routes added by plugins (``register_routes``) come before the core routes (the
job routes, chat's and the web page's); every core
path answers with and without its trailing slash, directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ocrkit.chat import routes as chat
from ocrkit.errors import OcrkitError
from ocrkit.jobs import metrics
from ocrkit.jobs.service import JobService
from ocrkit.redact import redact
from ocrkit.server import routes_info, routes_ocr
from ocrkit.server.context import ServerState, both
from ocrkit.server.guards import BodyLimit, HtmlHeaders
from ocrkit.server.logs import RequestId
from ocrkit.web import routes as web
from ocrkit.web import security as web_security

if TYPE_CHECKING:
    from ocrkit.hookspecs import Service
    from ocrkit.plugins import Registry
    from ocrkit.settings import Settings
    from ocrkit.store import Store

log = logging.getLogger("ocrkit.server")
access_log = logging.getLogger("ocrkit.access")


def core_routes() -> list[Route]:
    r = routes_ocr
    i = routes_info
    return [
        *both("/api/v1/ocr/", r.submit, ["POST"]),
        *both("/api/v1/ocr/", r.list_jobs, ["GET"]),
        *both("/api/v1/ocr/{uuid}/", r.get_job, ["GET"]),
        *both("/api/v1/ocr/{uuid}/", r.delete_job, ["DELETE"]),
        *both("/api/v1/ocr/{uuid}/download/", r.download, ["GET"]),
        *both("/api/v1/ocr/{uuid}/pages/{index:int}/image", r.page_image, ["GET"]),
        *both("/api/v1/usage/", i.usage, ["GET"]),
        *both("/api/v1/health", i.health, ["GET"]),
        *both("/metrics", i.metrics, ["GET"]),
        Route("/api/v1/openapi.json", i.openapi, methods=["GET"]),
        *both("/api/v1/docs", i.docs, ["GET"]),
        # Where people look first; the same answers, not repeated in the document.
        Route("/openapi.json", i.openapi, methods=["GET"], include_in_schema=False),
        *[Route(p, i.docs, methods=["GET"], include_in_schema=False) for p in ("/docs", "/docs/")],
        Route("/api/v1/docs/{name}", i.docs_file, methods=["GET"], include_in_schema=False),
        Route("/source", i.source, methods=["GET"], include_in_schema=False),
        *chat.routes(),
        *web.api_routes(),
        *web.web_routes(),
    ]


def merge_methods(routes: list[BaseRoute]) -> list[BaseRoute]:
    """One route per path: routes that share a path (``GET`` and ``POST /api/v1/ocr/``)
    become one that dispatches on the method, so a method none of them serves gets 405
    with every allowed method in ``Allow`` (Starlette reports only the first route's)."""
    groups: dict[str, list[Route]] = {}
    for r in routes:
        if isinstance(r, Route) and inspect.isfunction(r.endpoint) and r.methods:
            groups.setdefault(r.path, []).append(r)
    out: list[BaseRoute] = []
    done: set[str] = set()
    for r in routes:
        group = groups.get(r.path, []) if isinstance(r, Route) else []
        if not isinstance(r, Route) or len(group) < 2 or r not in group:
            out.append(r)
            continue
        if r.path in done:
            continue
        done.add(r.path)
        table: dict[str, Callable[..., Any]] = {}
        for g in group:
            for m in g.methods or ():
                table.setdefault(m, g.endpoint)
        out.append(
            Route(
                r.path,
                _dispatcher(table),
                methods=sorted(table),
                include_in_schema=r.include_in_schema,
                name=r.name,
            )
        )
    return out


def _dispatcher(table: dict[str, Callable[..., Any]]) -> Callable[[Request], Any]:
    async def dispatch(request: Request) -> Response:
        endpoint = table[request.method]
        if inspect.iscoroutinefunction(endpoint):
            result: Response = await endpoint(request)
        else:
            result = await anyio.to_thread.run_sync(endpoint, request)
        return result

    dispatch.endpoints = dict(table)  # type: ignore[attr-defined]
    return dispatch


def plugin_routes(registry: Registry) -> list[BaseRoute]:
    found: list[BaseRoute] = []
    for impl in reversed(registry.pm.hook.register_routes.get_hookimpls()):
        try:
            impl.function(register=found.append)
        except Exception as exc:  # a broken plugin never takes the server down
            log.warning("plugin %s failed in register_routes: %s", impl.plugin_name, exc)
    return found


def plugin_services(registry: Registry) -> list[Service]:
    """Services from ``register_services`` (each plugin's in its own order)."""
    from ocrkit.hookspecs import Service

    found: list[Service] = []

    def register(service: Service) -> None:
        if not isinstance(service, Service) or not service.name:
            raise TypeError(f"register_services: expected a named Service, got {service!r}")
        found.append(service)

    for impl in reversed(registry.pm.hook.register_services.get_hookimpls()):
        try:
            impl.function(register=register)
        except Exception as exc:  # a broken plugin never takes the server down
            log.warning("plugin %s failed in register_services: %s", impl.plugin_name, exc)
    return found


async def _start_services(app: Starlette, services: list[Service]) -> contextlib.AsyncExitStack:
    stack = contextlib.AsyncExitStack()
    for service in services:
        try:
            await stack.enter_async_context(service.lifespan(app))
        except Exception as exc:
            log.warning("service %s failed to start: %s", service.name, exc)
    return stack


# -- errors -----------------------------------------------------------------------------


def _redact(request: Request, message: str) -> str:
    settings = getattr(request.app.state, "settings", None)
    return redact(message, settings.data_dir if settings is not None else None)


async def _ocrkit_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OcrkitError)
    body: dict[str, Any] = {"detail": _redact(request, exc.message)}
    for extra in ("used", "cap", "unit"):
        if hasattr(exc, extra):
            body[extra] = getattr(exc, extra)
    if exc.http_status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc.message)
    return JSONResponse(body, status_code=exc.http_status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    detail = _redact(request, exc.detail) if isinstance(exc.detail, str) else exc.detail
    body: dict[str, Any] = {"detail": detail}
    if hasattr(exc, "retry_after"):
        body["retry_after"] = exc.retry_after
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _client_gone(request: Request, exc: Exception) -> Response:
    log.info("%s %s: the client disconnected", request.method, request.url.path)
    return JSONResponse({"detail": "the client disconnected"}, status_code=400)


async def _internal_error(request: Request, exc: Exception) -> Response:
    from ocrkit.errors import StoreBusy, storage_error

    clear = storage_error(exc)
    if clear is not None:  # a locked store or a full disk: say so, not "internal error"
        log.warning("%s %s: %s (%s)", request.method, request.url.path, clear.message, exc)
        headers = {"Retry-After": "5"} if isinstance(clear, StoreBusy) else None
        body: dict[str, Any] = {"detail": _redact(request, clear.message)}
        if headers:
            body["retry_after"] = 5
        return JSONResponse(body, status_code=clear.http_status, headers=headers)
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal error"}, status_code=500)


# -- access log without query strings (they may carry api_token) ------------------------


class AccessLog:
    """One access-log line and the request metrics (by route template) per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            seconds = time.perf_counter() - start
            with contextlib.suppress(Exception):  # metrics never break a response
                route = route_template(scope)
                metrics.count_request(route, scope["method"], status, seconds)
            client = scope.get("client") or ("-", 0)
            access_log.info(
                '%s "%s %s" %d %.0fms',
                client[0],
                scope["method"],
                scope["path"],
                status,
                seconds * 1000,
            )


def route_template(scope: Scope) -> str:
    """The path pattern of the route that answered (``/api/v1/ocr/{uuid}/``), so metric
    labels stay few; ``unmatched`` for a path no route has."""
    app = scope.get("app")
    for route in getattr(getattr(app, "router", None), "routes", []):
        match, _ = route.matches({**scope, "type": "http"})
        if match != Match.NONE:
            return str(getattr(route, "path", "") or "unmatched")
    return "unmatched"


# -- lifespan ---------------------------------------------------------------------------


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def start_state(settings: Settings, registry: Registry, warm: bool = True) -> ServerState:
    """Open the store, make the private dirs and the pool, recover unfinished jobs."""
    from ocrkit.pipeline.pages import make_executor
    from ocrkit.store import Store

    log.debug("settings: %r", settings)  # secrets show as *** (Settings.__repr__)
    _private_dir(settings.data_dir)
    _private_dir(settings.uploads_dir)
    _private_dir(settings.results_dir)
    n = settings.workers or os.cpu_count() or 1
    pool: Executor | None = None
    store: Store
    jobs: JobService
    if settings.broker_url:  # scale-out: pages go to `ocrkit worker`s through the broker
        from ocrkit.jobs.queue.service import open_cluster

        store, jobs = open_cluster(settings, registry)
    else:
        store = Store.open(settings)
        from ocrkit.jobs.pool import init_warm

        pool = make_executor(n, initializer=init_warm if warm else None)
        jobs = JobService(settings, store, registry, pool, runners=min(n, 2))
    requeued, failed = jobs.recover()
    if requeued or failed:
        log.info("recovered unfinished jobs: %d re-queued, %d failed", requeued, failed)
    jobs.clean_uploads()
    jobs.clean_results()
    jobs.sweep()
    if warm and pool is not None:
        threading.Thread(target=_warm, args=(pool, n), name="ocrkit-warm", daemon=True).start()
    return ServerState(settings=settings, registry=registry, store=store, jobs=jobs)


def _warm(pool: Executor, n: int) -> None:
    """Start the page workers now (each loads the plugins), not on the first request;
    then import here what this process's first searchable pdf needs (see
    :func:`ocrkit.jobs.pool.preload_pdf`)."""
    try:
        for fut in [pool.submit(os.getpid) for _ in range(n)]:
            fut.result()
    except Exception:  # shut down meanwhile
        pass
    from ocrkit.jobs.pool import preload_pdf

    preload_pdf()


def stop_state(st: ServerState) -> None:
    st.jobs.shutdown()
    st.store.close()


async def _sweeper(st: ServerState) -> None:
    interval = max(0.05, float(st.settings.sweep_interval_seconds))
    while True:
        await asyncio.sleep(interval)
        try:
            n = await anyio.to_thread.run_sync(st.jobs.sweep)
            if n:
                log.info("retention: deleted %d expired job(s)", n)
        except Exception:
            log.exception("retention sweep failed")


def create_app(
    settings: Settings | None = None,
    registry: Registry | None = None,
    *,
    warm_workers: bool = True,
) -> Starlette:
    """The ASGI app. ``settings`` default to the environment, ``registry`` to the default
    plugin registry (the one the CLI uses). ``warm_workers`` starts the page workers at
    start-up rather than on the first job."""
    from ocrkit.plugins import get_registry
    from ocrkit.settings import load_settings

    settings = settings or load_settings()
    registry = registry or get_registry()
    services = plugin_services(registry)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        st = await anyio.to_thread.run_sync(start_state, settings, registry, warm_workers)
        app.state.ocrkit = st
        sweeper = asyncio.create_task(_sweeper(st))
        running = await _start_services(app, services)
        try:
            yield
        finally:
            await running.aclose()
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await anyio.to_thread.run_sync(stop_state, st)

    app = Starlette(
        routes=merge_methods([*plugin_routes(registry), *core_routes()]),
        exception_handlers={
            OcrkitError: _ocrkit_error,
            HTTPException: _http_error,
            ClientDisconnect: _client_gone,
            Exception: _internal_error,
        },
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    # Innermost first: the page headers on every HTML answer, the body limit, the access
    # log, the request id, and outermost the one proxy layer (uvicorn's, trusting only
    # OCRKIT_TRUSTED_PROXIES; `ocrkit serve` turns uvicorn's own off).
    app.add_middleware(HtmlHeaders, headers=web_security.SECURITY_HEADERS)
    app.add_middleware(BodyLimit)
    app.add_middleware(AccessLog)
    # Outside even Starlette's 500 handler, so an error response and the line that logs
    # it carry the request id too.
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: RequestId(build())  # type: ignore[method-assign]
    if settings.trusted_proxies:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    app.state.settings = settings
    app.state.registry = registry
    return app
