"""Request guards shared by every route: body size, HTML headers, integers, JSON depth,
and answers that never name a server path.

- :class:`BodyLimit`: every request body except the upload route's (which streams to
  disk under ``max_upload_bytes``) and those of routes with a limit of their own
  (:func:`own_body_limit`, e.g. ``/mcp``) is at most :data:`MAX_BODY_BYTES`. A larger
  ``Content-Length`` is refused with 413 before anything is read; a body without one
  (chunked) is counted as it streams and refused with 413 when it passes the limit, so
  the server never holds more than the limit per request.
- :class:`HtmlHeaders`: every ``text/html`` answer gets the web page's headers (CSP that
  allows only this origin and no inline script, ``X-Frame-Options: DENY``,
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy``), whichever route or plugin
  made it; headers a route set itself are kept.
- :func:`parse_int`: ASCII digits only (``int()`` also takes ``"²"``-like digits of
  other scripts, ``"1_0"``, ``" +3 "``).
- :func:`loads_json`: JSON nested at most :data:`MAX_JSON_DEPTH` levels (deeper is a
  400, not a ``RecursionError``).
- :func:`redact`: the data dir, the home dir and the temp dir replaced by placeholders.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ocrkit.errors import BadOption

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
# POST to these paths streams an upload to disk under its own limit.
UPLOAD_PATHS = frozenset({"/api/v1/ocr", "/api/v1/ocr/"})
# Paths whose endpoint enforces a body limit of its own (added by own_body_limit).
_OWN_LIMIT: set[str] = set()


def own_body_limit(*paths: str) -> None:
    """Exempt ``paths`` from :class:`BodyLimit`: for a plugin route that bounds its body
    itself (the MCP endpoint takes base64 documents up to the upload limit)."""
    _OWN_LIMIT.update(paths)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over {limit} bytes")


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or (scope["method"] == "POST" and scope["path"] in UPLOAD_PATHS)
            or scope["path"] in _OWN_LIMIT
        ):
            await self.app(scope, receive, send)
            return
        limit = self.limit
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                detail = f"the request body is over {limit} bytes"
                response = JSONResponse(
                    {"detail": detail}, status_code=413, headers={"Connection": "close"}
                )
                await response(scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited, send)


# -- HTML headers -----------------------------------------------------------------------


class HtmlHeaders:
    """``headers`` (the web page's, handed in by the app) on every ``text/html`` answer."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    for name, value in self.headers.items():
                        if name.lower() not in headers:
                            headers[name] = value
            await send(message)

        await self.app(scope, receive, wrapped)


# -- integers, JSON ---------------------------------------------------------------------

_DIGITS = re.compile(r"[0-9]{1,9}")


def parse_int(
    raw: str | None, name: str, low: int, high: int, *, default: int | None = None
) -> int:
    """``raw`` as an int from ``low`` to ``high``: ASCII digits only (no sign, no
    underscores, no other scripts' digits), else :class:`BadOption` (400)."""
    if raw is None and default is not None:
        return default
    if raw is None or not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise BadOption(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def json_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in JSON text (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def loads_json(raw: bytes, what: str = "the body", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON from a request; 400 when it is not UTF-8 JSON or nested too deeply."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400, f"{what} must be UTF-8 JSON") from None
    if json_depth(text) > max_depth:
        raise HTTPException(400, f"{what} is nested more than {max_depth} levels deep")
    try:
        return json.loads(text) if text.strip() else None
    except (json.JSONDecodeError, RecursionError):
        raise HTTPException(400, f"{what} must be JSON") from None
