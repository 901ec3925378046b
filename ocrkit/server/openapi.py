"""The OpenAPI 3.1 document of the server, written by hand next to the routes.

Core operations are described here; choices (formats, tools, engines) come from the
registry, so a plugin's format shows up in the document. Routes added by plugins through
``register_routes`` are listed with their methods and docstring, so the document always
names every route the app answers (a test checks both directions).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute, Mount, Route

import ocrkit

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
NUM = {"type": "number"}
BBOX = {"type": "array", "items": NUM, "minItems": 4, "maxItems": 4}
STR_LIST = {"type": "array", "items": {"type": "string"}}

NAMED = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
SCHEMAS: dict[str, Any] = {
    "Options": {
        "type": "object",
        "required": ["inputs", "tiers", "languages", "tools", "translate_targets", "formats"],
        "properties": {
            "inputs": {"type": "array", "items": {"type": "object"}},
            "tiers": {"type": "array", "items": NAMED},
            "languages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["code", "iso"],
                    "properties": {"code": {"type": "string"}, "iso": {"type": "string"}},
                },
            },
            "tools": {"type": "array", "items": NAMED},
            "translate_targets": STR_LIST,
            "formats": {"type": "array", "items": NAMED},
            "engines": {"type": "array", "items": NAMED},
            "limits": {"type": "object"},
            "signup": {"type": "string", "enum": ["open", "closed"]},
            "chat": {"type": "boolean"},
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
    "Cell": {
        "type": "object",
        "description": "A table cell; row and col are 0-based, a spanning cell covers "
        "row_span x col_span grid positions from its top-left one.",
        "required": ["row", "col", "row_span", "col_span", "text", "bbox"],
        "properties": {
            "row": {"type": "integer"},
            "col": {"type": "integer"},
            "row_span": {"type": "integer"},
            "col_span": {"type": "integer"},
            "text": {"type": "string"},
            "bbox": BBOX,
        },
    },
    "Table": {
        "type": "object",
        "required": ["cells"],
        "properties": {
            "cells": {"type": "array", "items": _ref("Cell")},
            "bbox": {"anyOf": [BBOX, {"type": "null"}]},
        },
    },
    "Word": {
        "type": "object",
        "required": ["text", "bbox", "confidence"],
        "properties": {"text": {"type": "string"}, "bbox": BBOX, "confidence": NUM},
    },
    "Block": {
        "type": "object",
        "description": "One line of text, in reading order.",
        "required": ["text", "bbox", "confidence"],
        "properties": {
            "text": {"type": "string"},
            "bbox": {
                "anyOf": [BBOX, {"type": "null"}],
                "description": "null only for a vlm line that matched no word on the page "
                "(then flags holds unaligned)",
            },
            "confidence": NUM,
            "flags": {**STR_LIST, "description": "unaligned, low_confidence"},
            "words": {"type": "array", "items": _ref("Word")},
            "type": {
                "type": "string",
                "enum": [
                    "text",
                    "heading",
                    "list_item",
                    "table",
                    "caption",
                    "formula",
                    "furniture",
                ],
            },
            "paragraph": {"type": ["integer", "null"]},
            "extra": {
                "type": "object",
                "description": "What the engine says about the line, when anything: the "
                "vlm engine's box (words: from words the cpu engine read; line: a text line "
                "found on the page; estimated: placed there, but uncertain) and words "
                "(estimated: cut from the line's box in proportion to their lengths)",
            },
        },
    },
    "Page": {
        "type": "object",
        "required": ["index", "text", "blocks", "width", "height", "dpi", "rotation"],
        "properties": {
            "index": {"type": "integer", "description": "0-based"},
            "text": {"type": "string"},
            "markdown": {"type": "string"},
            "original_text": {
                "type": ["string", "null"],
                "description": "translate tool: the recognised text (text holds the translation)",
            },
            "original_markdown": {"type": ["string", "null"]},
            "blocks": {"type": "array", "items": _ref("Block")},
            "tables": {
                "type": "array",
                "items": _ref("Table"),
                "description": "with tool=extract-tables (absent otherwise)",
            },
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "dpi": {"type": "integer"},
            "rotation": {"type": "integer"},
            "source": {"type": "string", "enum": ["ocr", "text-layer"]},
            "engine": {"type": ["string", "null"]},
            "confidence": {"type": ["number", "null"]},
            "detected_languages": STR_LIST,
            "warnings": STR_LIST,
        },
    },
    "Job": {
        "type": "object",
        "required": [
            "uuid",
            "status",
            "tier",
            "language",
            "page_count",
            "mean_confidence",
            "text",
            "markdown",
            "pages",
        ],  # fmt: skip
        "properties": {
            "uuid": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "processing", "done", "failed"]},
            "tier": {"type": "string", "enum": ["cpu", "vlm"]},
            "language": {"type": "string"},
            "page_count": {"type": "integer"},
            "pages_done": {"type": "integer"},
            "mean_confidence": {"type": ["number", "null"]},
            "text": {"type": "string"},
            "markdown": {"type": "string"},
            "engine": {"type": ["string", "null"]},
            "warnings": STR_LIST,
            "error": {"type": ["string", "null"]},
            "tool": {"type": ["string", "null"]},
            "translate_to": {"type": ["string", "null"]},
            "detected_languages": STR_LIST,
            "input_type": {"type": ["string", "null"]},
            "filename": {"type": ["string", "null"]},
            "created_at": {"type": ["string", "null"]},
            "finished_at": {"type": ["string", "null"]},
            "pages": {"type": "array", "items": _ref("Page")},
        },
    },
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
            "engine_option": {
                "type": "array",
                "items": {"type": "string", "pattern": "^[^=]+=.*$"},
                "description": "The engine's own options as KEY=VALUE, the field repeated "
                "for several (Tesseract: psm=6, c=tessedit_char_whitelist=0123456789); "
                "`ocrkit engines --json` lists each engine's",
            },
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


def openapi_document(
    routes: Sequence[BaseRoute], registry: Registry, source: str = "/source"
) -> dict[str, Any]:
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
