"""The MCP server: stdio for ``ocrkit mcp``, streamable HTTP at ``/mcp`` in ``ocrkit serve``.

Built on the official MCP Python SDK's low-level :class:`mcp.server.lowlevel.Server`
(tools are listed per request from the registry, so plugins appear without code).

Over HTTP, ``/mcp`` authenticates exactly as the REST routes do (the same token header
or ``?api_token=``, 401 for a bad token, the failed-authentication rate limit), then
every tool call is carried out as REST requests against the same app in-process, with
the caller's token and client address: quotas, upload limits, page caps and 402s are
the REST ones, word for word. File paths are refused there; documents come as base64.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import mcp_types as types

from ocrkit.mcp_server import tools
from ocrkit.mcp_server.backends import Backend, RestBackend

if TYPE_CHECKING:
    from mcp.server.lowlevel import Server
    from starlette.applications import Starlette
    from starlette.types import Receive, Scope, Send

log = logging.getLogger("ocrkit.mcp")

INSTRUCTIONS = (
    "ocrkit reads scanned documents and images (OCR). Call read_document first; it returns "
    "the text page by page and a job id. With the id: get_job, export_job (any format, "
    "e.g. pdf, docx, alto), ask_job (answers cite pages). Quote page numbers when you "
    "cite the document."
)

BackendFactory = Callable[[Any], contextlib.AbstractAsyncContextManager[Backend]]


def make_server(backend_for: BackendFactory) -> Server[Any]:
    """An MCP server whose tools run on the backend ``backend_for(ctx)`` yields."""
    from mcp.server.lowlevel import Server

    import ocrkit

    async def on_list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        async with backend_for(ctx) as backend:
            cat = await backend.catalogue()
            return types.ListToolsResult(
                tools=tools.tool_list(cat, remote_files=backend.remote_files)
            )

    async def on_call_tool(ctx: Any, params: Any) -> types.CallToolResult:
        async def progress(done: int, total: int | None, message: str) -> None:
            await ctx.session.report_progress(float(done), float(total) if total else None, message)

        try:
            cm = backend_for(ctx)
            backend = await cm.__aenter__()
        except tools.ToolError as exc:
            return tools.error_result(exc.message)
        try:
            return await tools.call(params.name, params.arguments or {}, backend, progress)
        finally:
            await cm.__aexit__(None, None, None)

    return Server(
        "ocrkit",
        version=ocrkit.__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
    )


# --------------------------------------------------------------------------- stdio


async def run_stdio(backend: Backend) -> None:
    from mcp.server.stdio import stdio_server

    @contextlib.asynccontextmanager
    async def same(ctx: Any) -> AsyncIterator[Backend]:
        yield backend

    server = make_server(same)
    try:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        await backend.aclose()


# ---------------------------------------------------------------------------- HTTP

CALLER_HEADER = "x-ocrkit-mcp-caller"
# Per in-flight HTTP request: the credentials the REST calls are made with.
_callers: dict[str, tuple[str | None, str]] = {}


def in_process_backend(app: Starlette, ctx: Any) -> contextlib.AbstractAsyncContextManager[Backend]:
    """A REST backend onto ``app`` itself, as the caller of the current HTTP request."""
    import httpx

    @contextlib.asynccontextmanager
    async def cm() -> AsyncIterator[Backend]:
        request = getattr(ctx, "request", None)
        key = request.headers.get(CALLER_HEADER) if request is not None else None
        if key is None or key not in _callers:
            raise tools.ToolError("no caller for this request (the MCP request ended)")
        token, ip = _callers[key]
        transport = httpx.ASGITransport(app=app, client=(ip, 0), raise_app_exceptions=False)
        auth = {"Authorization": f"Bearer {token}"} if token is not None else {}
        client = httpx.AsyncClient(
            transport=transport, base_url="http://ocrkit.internal", headers=auth, timeout=None
        )
        backend = RestBackend(client, remote_files=True)
        try:
            yield backend
        finally:
            await backend.aclose()

    return cm()


class McpEndpoint:
    """ASGI endpoint at ``/mcp``: REST authentication, then the SDK's session manager."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from starlette.exceptions import HTTPException
        from starlette.requests import HTTPConnection
        from starlette.responses import JSONResponse

        from ocrkit.server.auth import client_ip, get_caller, token_of

        app = scope["app"]
        manager = getattr(app.state, "mcp_manager", None)
        if manager is None:
            await JSONResponse({"detail": "the MCP endpoint is not running"}, 503)(
                scope, receive, send
            )
            return
        conn = HTTPConnection(scope)
        st = app.state.ocrkit
        try:
            await get_caller(conn, st.store, st.settings)
        except HTTPException as exc:
            await JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)(
                scope, receive, send
            )
            return
        key = secrets.token_urlsafe(24)
        _callers[key] = (token_of(conn), client_ip(conn, st.settings.trusted_proxies))
        headers = [(k, v) for k, v in scope["headers"] if k.decode("latin-1") != CALLER_HEADER]
        headers.append((CALLER_HEADER.encode(), key.encode()))
        try:
            await manager.handle_request({**scope, "headers": headers}, receive, send)
        finally:
            _callers.pop(key, None)


@contextlib.asynccontextmanager
async def http_lifespan(app: Starlette) -> AsyncIterator[None]:
    """Run the SDK's session manager for ``/mcp`` while the server runs."""
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    settings = app.state.ocrkit.settings
    server = make_server(lambda ctx: in_process_backend(app, ctx))
    manager = StreamableHTTPSessionManager(
        app=server,
        stateless=True,
        # base64 is 4/3 of the file: let the REST upload limit answer up to 1.5x of it
        max_request_body_size=settings.max_upload_bytes * 2 + (1 << 20),
    )
    async with manager.run():
        app.state.mcp_manager = manager
        try:
            yield
        finally:
            app.state.mcp_manager = None
