"""The OpenAPI 3.1 document of the server.

The job model's schemas are generated from its dataclasses
(:mod:`ocrkit.server.schemas`); the operations and the other bodies are described here;
choices (formats, tools, engines) come from the registry, so a plugin's format shows up
in the document. Routes added by plugins through ``register_routes`` are listed with
their methods, so the document always names every route the app answers (a test checks
both directions).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute, Mount, Route

import ocrkit
from ocrkit.server.schemas import model_schemas

if TYPE_CHECKING:
    from ocrkit.plugins import Registry

J = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {J: {"schema": schema}}}


def _err(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


UUID = {"name": "uuid", "in": "path", "required": True, "schema": {"type": "string"}}
TOKEN = {
    "name": "api_token",
    "in": "query",
    "required": False,
    "description": "API token (instead of the Authorization header)",
    "schema": {"type": "string"},
}
STR_LIST = {"type": "array", "items": {"type": "string"}}
STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """An object with these properties (all required unless ``required`` says)."""
    return {
        "type": "object",
        "required": list(props) if required is None else required,
        "properties": props,
    }


SCHEMAS: dict[str, Any] = {
    "Options": {
        "type": "object",
        "required": ["inputs", "tiers", "languages", "tools", "translate_targets", "formats"],
        "properties": {
            "inputs": {
                "type": "array",
                "items": _obj({"kind": STR, "media_type": STR}),
            },
            "tiers": {
                "type": "array",
                "items": _obj({"name": STR, "available": BOOL, "note": STR}),
            },
            "languages": {
                "type": "array",
                "items": _obj({"code": STR, "iso": STR}),
            },
            "tools": {
                "type": "array",
                "items": _obj(
                    {
                        "name": STR,
                        "description": STR,
                        "preset": {"type": "object"},
                        "available": BOOL,
                        "reason": STR,
                    },
                    required=["name"],
                ),
            },
            "translate_targets": STR_LIST,
            "formats": {
                "type": "array",
                "items": _obj(
                    {"name": STR, "media_type": STR, "extension": STR, "description": STR},
                    required=["name"],
                ),
            },
            "engines": {
                "type": "array",
                "items": _obj(
                    {"name": STR, "tier": STR, "available": BOOL, "reason": STR},
                    required=["name"],
                ),
            },
            "limits": _obj({"inline_max_pages": INT, "max_upload_bytes": INT}, required=[]),
            "signup": {"type": "string", "enum": ["open", "closed"]},
            "chat": BOOL,
        },
    },
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
    **model_schemas(),  # Word, Block, Cell, Table, Page, Job: from ocrkit.models
    "JobList": {
        "type": "object",
        "required": ["jobs", "next_before"],
        "properties": {
            "jobs": {"type": "array", "items": _ref("Job"), "description": "without pages"},
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
}

# Chat (ocrkit.chat.routes).
SCHEMAS.update(
    {
        "Citation": {
            "type": "object",
            "required": ["page", "snippet"],
            "properties": {
                "page": {"type": "integer", "description": "1-based"},
                "snippet": {
                    "type": "string",
                    "description": "occurs in that page's text (whitespace-normalised)",
                },
            },
        },
        "ChatMessage": {
            "type": "object",
            "required": ["role", "content", "citations"],
            "properties": {
                "role": {"type": "string", "enum": ["user", "assistant"]},
                "content": {"type": "string"},
                "citations": {"type": "array", "items": _ref("Citation")},
                "grounded": {
                    "type": "boolean",
                    "description": "false: a model's answer none of whose citations "
                    "could be found in the document",
                },
                "answered": {
                    "type": "boolean",
                    "description": "false: the document does not answer the question",
                },
                "mode": {"type": "string", "enum": ["extractive", "model"]},
                "warnings": STR_LIST,
                "created_at": {"type": "string"},
            },
        },
        "ChatRequest": {
            "type": "object",
            "required": ["message"],
            "properties": {
                "message": {"type": "string", "minLength": 1, "maxLength": 4000},
                "conversation": {
                    "type": "string",
                    "description": "continue this conversation (its id from an answer)",
                },
            },
        },
        "ChatAnswer": {
            "type": "object",
            "required": ["conversation", "message"],
            "properties": {
                "conversation": {"type": "string"},
                "message": _ref("ChatMessage"),
            },
        },
        "ChatHistory": {
            "type": "object",
            "required": ["job", "conversations"],
            "properties": {
                "job": {"type": "string"},
                "conversations": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "messages"],
                        "properties": {
                            "id": {"type": "string"},
                            "created_at": {"type": "string"},
                            "updated_at": {"type": "string"},
                            "messages": {"type": "array", "items": _ref("ChatMessage")},
                        },
                    },
                },
            },
        },
    }
)

AUTH_ERRORS = {
    "401": _err("Unknown or revoked API token"),
    "429": _json(_ref("RetryLater"), "Too many failed authentications (Retry-After header)"),
}
JOB_ERRORS = {**AUTH_ERRORS, "404": _err("Unknown job (or another account's)")}


def _operations(registry: Registry) -> dict[str, dict[str, Any]]:
    formats = sorted(registry.exporters)
    tools = sorted(registry.tools)
    submit_schema = {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "image or PDF"},
            "tier": {"type": "string", "enum": ["cpu", "vlm"], "default": "cpu"},
            "language": {
                "type": "string",
                "default": "auto",
                "description": "auto, or codes (en, ch, ja, ar, deu, ...) joined with +",
            },
            "tool": {"type": "string", **({"enum": tools} if tools else {})},
            "translate_to": {"type": "string", "description": "target language code"},
            "engine": {"type": "string", "enum": sorted(registry.engines)},
        },
    }
    return {
        "/api/v1/ocr/": {
            "post": {
                "summary": "Submit an image or PDF",
                "description": "Jobs of few pages answer 200 done (or failed); larger "
                "ones answer 202 pending at once: poll GET /api/v1/ocr/{uuid}/.",
                "requestBody": {
                    "required": True,
                    "content": {"multipart/form-data": {"schema": submit_schema}},
                },
                "responses": {
                    "200": _json(_ref("Job"), "The job, done or failed"),
                    "202": _json(_ref("Job"), "The job, pending"),
                    "400": _err("No file, unsupported type, too large, bad field value"),
                    **AUTH_ERRORS,
                    "402": _json(_ref("PaymentRequired"), "Out of pages or credits"),
                },
            },
            "get": {
                "summary": "List the caller's jobs, newest first, without pages",
                "description": "Anonymous callers get an empty list: anonymous jobs are "
                "reachable only by their UUID.",
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                    },
                    {"name": "before", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": _json(_ref("JobList"), "The jobs"),
                    "400": _err("Bad limit"),
                    **AUTH_ERRORS,
                },
            },
        },
        "/api/v1/ocr/{uuid}/": {
            "get": {
                "summary": "The job (poll until done or failed)",
                "parameters": [UUID],
                "responses": {"200": _json(_ref("Job"), "The job"), **JOB_ERRORS},
            },
            "delete": {
                "summary": "Delete the job, its page images and files now",
                "parameters": [UUID],
                "responses": {"204": {"description": "Deleted"}, **JOB_ERRORS},
            },
        },
        "/api/v1/ocr/{uuid}/download/": {
            "get": {
                "summary": "The result as a file",
                "parameters": [
                    UUID,
                    {
                        "name": "format",
                        "in": "query",
                        "schema": {"type": "string", "enum": formats, "default": "json"},
                    },
                    {
                        "name": "table",
                        "in": "query",
                        "description": "csv: table number (1-based) or all",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The file (Content-Disposition: attachment)",
                        "content": {
                            registry.exporters[f].media_type: {
                                "schema": {"type": "string", "format": "binary"}
                            }
                            for f in formats
                        },
                    },
                    "400": _err("Unknown format or bad option"),
                    **JOB_ERRORS,
                    "409": _err("The job is not done (or failed)"),
                },
            }
        },
        "/api/v1/ocr/{uuid}/pages/{index}/image": {
            "get": {
                "summary": "The upright page image the bboxes refer to",
                "parameters": [
                    UUID,
                    {
                        "name": "index",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The image",
                        "content": {
                            "image/png": {"schema": {"type": "string", "format": "binary"}},
                            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    **JOB_ERRORS,
                },
            }
        },
        "/api/v1/chat/{uuid}/": {
            "post": {
                "summary": "Ask a question about a done job; the answer cites its pages",
                "description": "Needs an account token. Answers come from the job's text "
                "only: offline, the best matching sentences quoted verbatim; with a model "
                "server configured, the model's answer with its citations verified. "
                "Without `conversation` a new conversation starts.",
                "parameters": [UUID],
                "requestBody": {
                    "required": True,
                    "content": {J: {"schema": _ref("ChatRequest")}},
                },
                "responses": {
                    "200": _json(_ref("ChatAnswer"), "The answer"),
                    "400": _err("Bad JSON, empty message or unknown conversation"),
                    "401": _err("No token (chat needs an account), or an invalid one"),
                    "402": _json(_ref("PaymentRequired"), "Chat is metered and nothing is left"),
                    "404": _err("Unknown job (or another account's)"),
                    "409": _err("The job is not done (or failed)"),
                    "429": _json(_ref("RetryLater"), "Too many chat messages (Retry-After header)"),
                },
            }
        },
        "/api/v1/chat/{uuid}/history/": {
            "get": {
                "summary": "The caller's conversations about the job, messages in order",
                "parameters": [
                    UUID,
                    {
                        "name": "conversation",
                        "in": "query",
                        "required": False,
                        "description": "only this conversation",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": _json(_ref("ChatHistory"), "The conversations"),
                    "401": _err("No token (chat needs an account), or an invalid one"),
                    "404": _err("Unknown job (or another account's), or conversation"),
                    "429": _json(_ref("RetryLater"), "Too many failed authentications"),
                },
            }
        },
        "/api/v1/usage/": {
            "get": {
                "summary": "The caller's plan and usage",
                "responses": {"200": _json(_ref("Usage"), "Usage"), **AUTH_ERRORS},
            }
        },
        "/api/v1/health": {
            "get": {
                "summary": "Health",
                "security": [],
                "responses": {
                    "200": _json({"type": "object"}, "The store (and the broker, if any) answer"),
                    "503": _json(
                        {"type": "object"}, "The store or the queue broker does not answer"
                    ),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics: jobs by status, pages, queue depth, pages/min",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")},
            }
        },
        "/api/v1/options": {
            "get": {
                "summary": "The choices a client can offer, from the server's registry",
                "description": "Input types, tiers (with availability), installed OCR "
                "languages, tools, translation targets, download formats, engines, limits, "
                "whether self-service sign-up is open and whether chat is served. The web "
                "page at / builds its lists from it.",
                "security": [],
                "responses": {"200": _json(_ref("Options"), "The choices")},
            }
        },
        "/api/v1/docs": {
            "get": {
                "summary": "A small page that renders this document",
                "security": [],
                "responses": {
                    "200": {
                        "description": "HTML",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }


_CONVERTER = re.compile(r"\{(\w+):\w+\}")


def route_path(path: str) -> str:
    """``/x/{index:int}`` -> ``/x/{index}``."""
    return _CONVERTER.sub(r"{\1}", path)


def canonical(path: str) -> str:
    return route_path(path).rstrip("/") or "/"


def iter_routes(routes: Sequence[BaseRoute], prefix: str = "") -> list[tuple[str, set[str]]]:
    """(path, methods) of every route, Mounts flattened; HEAD left out."""
    out: list[tuple[str, set[str]]] = []
    for r in routes:
        if isinstance(r, Route):
            if not r.include_in_schema:  # the web page's HTML routes
                continue
            methods = {m.lower() for m in (r.methods or {"GET"})} - {"head"}
            out.append((prefix + r.path, methods))
        elif isinstance(r, Mount):
            out += iter_routes(r.routes, prefix + r.path)
    return out


def openapi_document(routes: Sequence[BaseRoute], registry: Registry) -> dict[str, Any]:
    paths = _operations(registry)
    known = {canonical(p) for p in paths}
    for path, methods in iter_routes(routes):
        key = canonical(path)
        if key in known:
            continue
        # A plugin route: describe what Starlette knows about it.
        target = paths.setdefault(route_path(path), {})
        for m in sorted(methods):
            target[m] = {
                "summary": f"{m.upper()} {route_path(path)} (added by a plugin)",
                "responses": {"200": {"description": "See the plugin's documentation"}},
            }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ocrkit OCR API",
            "version": getattr(ocrkit, "__version__", "0.1.0"),
            "description": "OCR.chat-compatible API served by `ocrkit serve`. Every path "
            'also answers without its trailing slash. Errors are {"detail": ...}.',
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
