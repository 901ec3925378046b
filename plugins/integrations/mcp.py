"""Built-in plugin: ocrkit as an MCP server (see :mod:`ocrkit.mcp_server`).

- ``register_commands``: ``ocrkit mcp`` (stdio; local, or ``--server URL --token T``);
- ``register_routes``: ``/mcp`` (streamable HTTP) in ``ocrkit serve``;
- ``register_services``: the MCP session manager that ``/mcp`` needs, run for the
  server's lifetime.

The SDK is imported only when one of these is used (every ``ocrkit`` command imports
every plugin module).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ocrkit import hookimpl
from ocrkit.hookspecs import Service

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.routing import BaseRoute


@click.command("mcp")
@click.option(
    "--server",
    "server_url",
    metavar="URL",
    help="Relay to a remote `ocrkit serve` (e.g. https://ocr.example.org) instead of "
    "reading on this machine.",
)
@click.option(
    "--token",
    metavar="TOKEN",
    envvar="OCRKIT_TOKEN",
    help="API token for --server [default: OCRKIT_TOKEN].",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Local store for jobs [default: OCRKIT_DATA_DIR or the user data dir].",
)
@click.option(
    "--jobs", "-j", type=click.IntRange(min=1), metavar="N", help="Page-worker processes."
)
def mcp_command(
    server_url: str | None, token: str | None, data_dir: Path | None, jobs: int | None
) -> None:
    """Serve ocrkit to an AI assistant over MCP (stdio): read documents, get, export
    and ask jobs, list engines, languages and formats."""
    import anyio

    from ocrkit.errors import BadOption
    from ocrkit.mcp_server.backends import Backend, LocalBackend, RestBackend
    from ocrkit.mcp_server.server import run_stdio

    backend: Backend
    if server_url:
        import httpx

        if not server_url.startswith(("http://", "https://")):
            raise BadOption(f"--server must be an http(s) URL, not {server_url!r}")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.AsyncClient(
            base_url=server_url.rstrip("/"), headers=headers, timeout=httpx.Timeout(600, connect=10)
        )
        backend = RestBackend(client, remote_files=False)
    else:
        source = click.get_current_context().get_parameter_source("token")
        if token and source == click.core.ParameterSource.COMMANDLINE:
            raise BadOption("--token is for --server; local jobs need none")
        backend = LocalBackend(data_dir=data_dir, jobs=jobs)
    anyio.run(run_stdio, backend)


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(mcp_command)


@hookimpl
def register_routes(register: Callable[[BaseRoute], None]) -> None:
    from starlette.routing import Route

    from ocrkit.mcp_server.server import McpEndpoint

    endpoint = McpEndpoint()
    for path in ("/mcp", "/mcp/"):
        # A JSON-RPC protocol endpoint, not a REST resource: left out of the OpenAPI document.
        register(Route(path, endpoint, methods=["GET", "POST", "DELETE"], include_in_schema=False))


class McpService(Service):
    name = "mcp"
    description = "the MCP session manager behind /mcp"

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        from ocrkit.mcp_server.server import http_lifespan

        async with http_lifespan(app):
            yield


@hookimpl
def register_services(register: Callable[[Service], None]) -> None:
    register(McpService())
