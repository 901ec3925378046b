"""Logs of ``ocrkit serve``: one format for ocrkit's and uvicorn's lines, and the
request id.

:func:`configure` sends the ``ocrkit``, ``uvicorn`` and ``alembic`` loggers to one
handler, ``plain`` (``time level [request-id] logger: message``) or ``json`` (one object
per line: ``time``, ``level``, ``logger``, ``message``, ``request_id`` and
``exc_info`` when there is one). :class:`RequestId` (ASGI middleware) gives each request
an id (the client's ``X-Request-ID`` when it is short and plain, else a new one), keeps it
in :data:`REQUEST_ID` while the request runs (threads started through anyio inherit it)
and returns it in the ``X-Request-ID`` header.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID: ContextVar[str | None] = ContextVar("ocrkit_request_id", default=None)
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# One handler on these; their children (uvicorn's own included) propagate to it.
TOPS = ("ocrkit", "uvicorn", "alembic")
CHILDREN = ("uvicorn.error", "uvicorn.access", "ocrkit.server", "ocrkit.access", "ocrkit.plugins")


class _AddRequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", "-")
        if rid and rid != "-":
            out["request_id"] = rid
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure(
    level: str = "info", fmt: str = "plain", stream: IO[str] | None = None
) -> Callable[[], None]:
    """Route ocrkit's, uvicorn's and alembic's loggers to one handler on ``stream``.
    Returns a function that puts the loggers back as they were (for tests)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    handler.addFilter(_AddRequestId())
    numeric = getattr(logging, level.upper())
    touched = [*TOPS, *CHILDREN]
    saved = [
        (lg, list(lg.handlers), lg.propagate, lg.level) for lg in map(logging.getLogger, touched)
    ]
    for name in TOPS:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(max(numeric, logging.WARNING) if name == "alembic" else numeric)
    for name in CHILDREN:  # set up by the CLI or by uvicorn: one handler, above
        child = logging.getLogger(name)
        child.handlers = []
        child.propagate = True
        child.setLevel(logging.NOTSET)

    def undo() -> None:
        for logger, handlers, propagate, lvl in saved:
            logger.handlers, logger.propagate = handlers, propagate
            logger.setLevel(lvl)

    return undo


class RequestId:
    """ASGI middleware: the request id in :data:`REQUEST_ID` and ``X-Request-ID``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = ""
        for key, value in scope.get("headers", []):
            if key == b"x-request-id":
                given = value.decode("latin-1")
                break
        rid = given if _CLIENT_ID.fullmatch(given) else uuid.uuid4().hex
        token = REQUEST_ID.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
