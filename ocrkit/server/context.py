"""What route modules take from the server: its state, the caller, the job in the path.

The core routes, the chat routes (:mod:`ocrkit.chat.routes`) and the web page
(:mod:`ocrkit.web`) import this module and nothing else of :mod:`ocrkit.server`; the app
(:mod:`ocrkit.server.app`) imports them to mount their routes, never the other way round.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Route

from ocrkit.server.auth import (
    UNAUTHORIZED,
    AuthFailures,
    TooManyRequests,
    client_ip,
    get_caller,
    in_networks,
)

if TYPE_CHECKING:
    from ocrkit.jobs.service import JobService
    from ocrkit.plugins import Registry
    from ocrkit.settings import Settings
    from ocrkit.store import Caller, Store, StoredJob

__all__ = [
    "UNAUTHORIZED",
    "AuthFailures",
    "ServerState",
    "TooManyRequests",
    "both",
    "client_ip",
    "get_caller",
    "in_networks",
    "load_job",
    "state",
]


@dataclass
class ServerState:
    """Everything the server's lifespan owns (``app.state.ocrkit``)."""

    settings: Settings
    registry: Registry
    store: Store
    jobs: JobService


def state(request: Request) -> ServerState:
    """The running server's state (the one way routes get it)."""
    st: ServerState = request.app.state.ocrkit
    return st


async def load_job(request: Request, caller: Caller) -> StoredJob:
    """The job named in the path, if the caller may see it (else 404)."""
    try:
        uuid = str(uuidlib.UUID(request.path_params["uuid"]))
    except ValueError:
        raise HTTPException(404, "job not found") from None
    stored = await anyio.to_thread.run_sync(state(request).store.get_job, uuid)
    if stored is None:
        raise HTTPException(404, "job not found")
    if stored.account_id is not None and (
        caller.account is None or caller.account.id != stored.account_id
    ):
        raise HTTPException(404, "job not found")
    return stored


def both(
    path: str, endpoint: Callable[..., Any], methods: list[str], *, include_in_schema: bool = True
) -> list[Route]:
    """The route at ``path`` and at ``path`` with the trailing slash toggled (every path
    answers both ways, directly, without a redirect)."""
    other = path.rstrip("/") if path.endswith("/") else path + "/"
    return [
        Route(p, endpoint, methods=methods, include_in_schema=include_in_schema)
        for p in (path, other)
    ]
