"""The OpenAPI 3.1 document of the server, assembled from what the app serves.

Each route module declares its operations next to the handlers
(:func:`ocrkit.server.apidoc.operation`); the job model's schemas are generated from its
dataclasses (:mod:`ocrkit.server.schemas`); the bodies the routes share are below, and
chat's and the options route's come from their modules. Choices (formats, tools,
engines) come from the registry, so a plugin's format shows up in the document; a route
added by a plugin through ``register_routes`` is listed with its methods. So the
document names exactly the routes the app answers (a test checks both directions).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute, Mount, Route

import ocrkit
from ocrkit.chat import routes as chat_routes
from ocrkit.server.apidoc import described, ref
from ocrkit.server.schemas import model_schemas
from ocrkit.web import options as options_route

if TYPE_CHECKING:
    from ocrkit.plugins import Registry

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["detail"],
        "properties": {"detail": {"type": "string"}},
    },
    "PaymentRequired": {
        "type": "object",
        "required": ["detail", "used", "cap"],
        "properties": {
            "detail": {"type": "string"},
            "used": {"type": "integer"},
            "cap": {"type": "integer"},
            "unit": {"type": "string", "enum": ["pages", "credits"]},
        },
    },
    "RetryLater": {
        "type": "object",
        "required": ["detail", "retry_after"],
        "properties": {"detail": {"type": "string"}, "retry_after": {"type": "integer"}},
    },
    "JobList": {
        "type": "object",
        "required": ["jobs", "next_before"],
        "properties": {
            "jobs": {"type": "array", "items": ref("Job"), "description": "without pages"},
            "next_before": {
                "type": ["string", "null"],
                "description": "pass as ?before= for the next page; null at the end",
            },
        },
    },
    "Usage": {
        "type": "object",
        "required": ["plan", "used", "cap", "unit"],
        "properties": {
            "plan": {"type": "string", "enum": ["anonymous", "free", "paid"]},
            "used": {"type": "integer"},
            "reserved": {"type": "integer", "description": "pages of jobs still running"},
            "cap": {"type": ["integer", "null"]},
            "credits": {"type": ["integer", "null"]},
            "unit": {"type": "string", "enum": ["pages", "credits"]},
            "period_end": {"type": ["string", "null"]},
        },
    },
    **model_schemas(),  # Word, Block, Cell, Table, Page, Job: from ocrkit.models
    **chat_routes.SCHEMAS,
    **options_route.SCHEMAS,
}


_CONVERTER = re.compile(r"\{(\w+):\w+\}")


def route_path(path: str) -> str:
    """``/x/{index:int}`` -> ``/x/{index}``."""
    return _CONVERTER.sub(r"{\1}", path)


def canonical(path: str) -> str:
    return route_path(path).rstrip("/") or "/"


def _walk(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, set[str], Any]]:
    for r in routes:
        if isinstance(r, Route):
            if not r.include_in_schema:  # the web page's HTML routes
                continue
            methods = {m.lower() for m in (r.methods or {"GET"})} - {"head"}
            yield prefix + r.path, methods, r.endpoint
        elif isinstance(r, Mount):
            yield from _walk(r.routes, prefix + r.path)


def iter_routes(routes: Sequence[BaseRoute], prefix: str = "") -> list[tuple[str, set[str]]]:
    """(path, methods) of every route, Mounts flattened; HEAD left out."""
    return [(path, methods) for path, methods, _ in _walk(routes, prefix)]


def openapi_document(
    routes: Sequence[BaseRoute], registry: Registry, source: str = "/source"
) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    key_of: dict[str, str] = {}  # canonical path -> the path as first served
    for path, methods, endpoint in _walk(routes):
        key = key_of.setdefault(canonical(path), route_path(path))
        target = paths.setdefault(key, {})
        per_method = getattr(endpoint, "endpoints", {})  # one route for several methods
        for m in sorted(methods):
            if m in target:
                continue  # the same route with its trailing slash toggled
            target[m] = described(per_method.get(m.upper(), endpoint), registry) or {
                # A plugin route: describe what Starlette knows about it.
                "summary": f"{m.upper()} {route_path(path)} (added by a plugin)",
                "responses": {"200": {"description": "See the plugin's documentation"}},
            }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ocrkit OCR API",
            "version": ocrkit.__version__,
            "description": "OCR.chat-compatible API served by `ocrkit serve`. Every path "
            'also answers without its trailing slash. Errors are {"detail": ...}.\n\n'
            "ocrkit is Apache-2.0 and is built on PyMuPDF (AGPL-3.0): the source of this "
            f"server is at [{source}]({source}).",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
            "x-source": source,
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"api_token": []}, {}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "api_token": {"type": "apiKey", "in": "query", "name": "api_token"},
            },
        },
    }
