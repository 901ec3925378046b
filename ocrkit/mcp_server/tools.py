"""The MCP tools of ocrkit, built from the plugin registry.

Tool descriptions and input schemas are made from the registry's catalogue (the same
``/api/v1/options`` body the web page uses): engines, tools and formats are enums whose
descriptions list each plugin's own description, so a plugin's format or tool appears
in the assistant's tool list without code here.

=================  ==========================================================
``read_document``  OCR a file (local path over stdio, base64 bytes over HTTP);
                   text or Markdown with page numbers; progress notifications
``get_job``        a job's status and per-page summary
``export_job``     a finished job in any registered format (embedded resource)
``ask_job``        a question about a finished job; the answer cites pages
``list_engines``   engines with tier and availability
``list_languages`` installed OCR languages
``list_formats``   output formats
=================  ==========================================================
"""

from __future__ import annotations

import base64
import binascii
import logging
from pathlib import Path
from typing import Any

import mcp_types as types

from ocrkit.mcp_server.backends import Backend, Document, ToolError, dumps
from ocrkit.models import Job

log = logging.getLogger("ocrkit.mcp")

UUID_SCHEMA = {"type": "string", "description": "The job's id (a UUID) from read_document."}


def _choices(items: list[dict[str, Any]], what: str) -> str:
    return (
        "; ".join(
            f"{i['name']}: {i.get('description') or i.get('tier', '')}".rstrip(": ") for i in items
        )
        or f"(no {what} installed)"
    )


def tool_list(cat: dict[str, Any], *, remote_files: bool) -> list[types.Tool]:
    engines = [e for e in cat.get("engines", []) if e.get("available", True)]
    tools = [t for t in cat.get("tools", []) if t.get("available", True)]
    formats = cat.get("formats", [])
    langs = [item["code"] for item in cat.get("languages", [])]
    source: dict[str, Any]
    if remote_files:
        source = {
            "content_base64": {
                "type": "string",
                "description": "The file's bytes, base64-encoded (PDF, PNG, JPEG, TIFF, ...). "
                "File paths are not accepted over HTTP.",
            },
            "filename": {"type": "string", "description": "The file's name (for outputs)."},
        }
        required = ["content_base64"]
        where = "Send the file's bytes base64-encoded."
    else:
        source = {
            "path": {
                "type": "string",
                "description": "Path of an image or PDF on this machine.",
            },
            "content_base64": {
                "type": "string",
                "description": "Alternatively, the file's bytes base64-encoded.",
            },
            "filename": {"type": "string", "description": "Name for base64 content."},
        }
        required = []
        where = "Give a local file path (or base64 bytes)."
    read_schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            **source,
            "tier": {
                "type": "string",
                "enum": [t["name"] for t in cat.get("tiers", [])] or ["cpu", "vlm"],
                "default": "cpu",
                "description": "cpu: fast, printed text. vlm: an AI model (handwriting, "
                "complex layout).",
            },
            "language": {
                "type": "string",
                "default": "auto",
                "description": "auto, or codes joined with '+' (installed: "
                + (", ".join(langs[:60]) or "none")
                + ("..." if len(langs) > 60 else "")
                + ")",
            },
            "pages": {"type": "string", "description": "Pages to read, e.g. 1-3,7 (1-based)."},
            "output": {
                "type": "string",
                "enum": ["markdown", "text"],
                "default": "markdown",
                "description": "markdown keeps headings, lists and tables; text is plain.",
            },
        },
        "required": required,
        "additionalProperties": False,
    }
    if engines:
        read_schema["properties"]["engine"] = {
            "type": "string",
            "enum": [e["name"] for e in engines],
            "description": "OCR engine: " + _choices(engines, "engines"),
        }
    if tools:
        read_schema["properties"]["tool"] = {
            "type": "string",
            "enum": [t["name"] for t in tools],
            "description": "A tool's preset and post-processing: " + _choices(tools, "tools"),
        }
        read_schema["properties"]["translate_to"] = {
            "type": "string",
            "description": "Target language for the translate tool.",
        }
    no_args = {"type": "object", "properties": {}, "additionalProperties": False}
    return [
        types.Tool(
            name="read_document",
            title="Read a document (OCR)",
            description="OCR an image or PDF and return its text or Markdown, page by page "
            "(each page marked with its number), plus the job id for get_job, export_job "
            f"and ask_job. {where}",
            input_schema=read_schema,
        ),
        types.Tool(
            name="get_job",
            title="Get a job",
            description="A job's status, page count, confidence and per-page summary.",
            input_schema={
                "type": "object",
                "properties": {"uuid": UUID_SCHEMA},
                "required": ["uuid"],
                "additionalProperties": False,
            },
        ),
        types.Tool(
            name="export_job",
            title="Export a job",
            description="A finished job as a file of the given format, returned as an "
            "embedded resource. Formats: " + _choices(formats, "formats"),
            input_schema={
                "type": "object",
                "properties": {
                    "uuid": UUID_SCHEMA,
                    "format": {
                        "type": "string",
                        "enum": [f["name"] for f in formats],
                        "description": "Output format: " + _choices(formats, "formats"),
                    },
                },
                "required": ["uuid", "format"],
                "additionalProperties": False,
            },
        ),
        types.Tool(
            name="ask_job",
            title="Ask a document",
            description="Ask a question about a finished job; the answer quotes the "
            "document and cites the pages it comes from (p. N).",
            input_schema={
                "type": "object",
                "properties": {
                    "uuid": UUID_SCHEMA,
                    "question": {"type": "string", "description": "The question."},
                },
                "required": ["uuid", "question"],
                "additionalProperties": False,
            },
        ),
        types.Tool(
            name="list_engines",
            title="List OCR engines",
            description="OCR engines with their tier and whether they can run now.",
            input_schema=no_args,
        ),
        types.Tool(
            name="list_languages",
            title="List languages",
            description="OCR languages installed (codes for read_document's language).",
            input_schema=no_args,
        ),
        types.Tool(
            name="list_formats",
            title="List formats",
            description="Output formats for export_job, with media types.",
            input_schema=no_args,
        ),
    ]


# ------------------------------------------------------------------------- calling


def _text(s: str, structured: Any = None, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=s)],
        structured_content=structured,
        is_error=error,
    )


def error_result(message: str) -> types.CallToolResult:
    return _text(message, error=True)


def page_sections(job: Job, output: str) -> str:
    """The job's pages with their numbers: ``--- page N ---`` (text) or ``<!-- page N -->``
    (Markdown), N being the page's number in the input (1-based)."""
    parts = []
    for p in sorted(job.pages, key=lambda p: p.index):
        n = p.index + 1
        if output == "text":
            parts.append(f"--- page {n} ---\n{p.text.strip()}")
        else:
            parts.append(f"<!-- page {n} -->\n\n{(p.markdown or p.text).strip()}")
    return "\n\n".join(parts)


def job_summary(job: Job) -> dict[str, Any]:
    d = job.to_dict(pages=False)
    for key in ("text", "markdown"):
        d.pop(key, None)
    d["pages"] = [
        {
            "page": p.index + 1,
            "source": p.source,
            "engine": p.engine,
            "confidence": p.confidence,
            "rotation": p.rotation,
            "chars": len(p.text),
            "languages": p.detected_languages,
        }
        for p in sorted(job.pages, key=lambda p: p.index)
    ]
    return d


def _str(args: dict[str, Any], key: str, required: bool = False) -> str | None:
    v = args.get(key)
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            raise ToolError(f"'{key}' is required")
        return None
    if not isinstance(v, str):
        raise ToolError(f"'{key}' must be a string")
    return v.strip()


def document_of(args: dict[str, Any], backend: Backend) -> Document:
    path = _str(args, "path")
    content = args.get("content_base64")
    filename = _str(args, "filename")
    if path is not None and backend.remote_files:
        raise ToolError(
            "file paths are not accepted over HTTP: send the file's bytes in content_base64"
        )
    if path is not None and content is not None:
        raise ToolError("give either path or content_base64, not both")
    if path is not None:
        return Document(path=Path(path).expanduser(), filename=filename)
    if content is None:
        need = "content_base64" if backend.remote_files else "path (or content_base64)"
        raise ToolError(f"no document: give {need}")
    if not isinstance(content, str):
        raise ToolError("'content_base64' must be a base64 string")
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise ToolError("'content_base64' is not valid base64") from None
    if not data:
        raise ToolError("'content_base64' is empty")
    return Document(data=data, filename=filename or "document")


async def call(
    name: str, args: dict[str, Any], backend: Backend, progress: Any
) -> types.CallToolResult:
    """Run tool ``name``; an expected failure is a tool error with ocrkit's message."""
    try:
        return await _call(name, args or {}, backend, progress)
    except ToolError as exc:
        return error_result(exc.message)
    except Exception as exc:  # a bug: say so briefly, log the traceback
        log.exception("mcp tool %s failed", name)
        return error_result(f"unexpected {type(exc).__name__}: {exc}")


async def _call(
    name: str, args: dict[str, Any], backend: Backend, progress: Any
) -> types.CallToolResult:
    if name == "read_document":
        doc = document_of(args, backend)
        output = _str(args, "output") or "markdown"
        if output not in ("markdown", "text"):
            raise ToolError("output must be 'markdown' or 'text'")
        options = {
            k: _str(args, k)
            for k in ("tier", "language", "tool", "engine", "pages", "translate_to")
            if _str(args, k) is not None
        }
        job = await backend.read(doc, options, progress)
        head = (
            f"job {job.uuid}: {doc.name}, {len(job.pages)} page(s)"
            + (f", engine {job.engine}" if job.engine else "")
            + (f", mean confidence {job.mean_confidence:.2f}" if job.mean_confidence else "")
        )
        warnings = "".join(f"\nwarning: {w}" for w in job.warnings)
        body = page_sections(job, output)
        structured = {
            "uuid": job.uuid,
            "page_count": len(job.pages),
            "pages": [
                {"page": p.index + 1, "text": p.text, "markdown": p.markdown}
                for p in sorted(job.pages, key=lambda p: p.index)
            ],
            "warnings": job.warnings,
        }
        return _text(f"{head}{warnings}\n\n{body}\n", structured)
    if name == "get_job":
        job = await backend.get(_str(args, "uuid", True) or "")
        summary = job_summary(job)
        return _text(dumps(summary), summary)
    if name == "export_job":
        uuid = _str(args, "uuid", True) or ""
        fmt = _str(args, "format", True) or ""
        out = await backend.export(uuid, fmt)
        uri = f"ocrkit://jobs/{uuid}/export.{out.extension}"
        resource: types.TextResourceContents | types.BlobResourceContents
        if out.is_text:
            resource = types.TextResourceContents(
                uri=uri, mime_type=out.media_type, text=out.data.decode("utf-8", "replace")
            )
        else:
            resource = types.BlobResourceContents(
                uri=uri, mime_type=out.media_type, blob=base64.b64encode(out.data).decode()
            )
        return types.CallToolResult(
            content=[types.EmbeddedResource(type="resource", resource=resource)]
        )
    if name == "ask_job":
        uuid = _str(args, "uuid", True) or ""
        question = _str(args, "question", True) or ""
        msg = await backend.ask(uuid, question)
        lines = [msg["content"]] + [f"[p{c['page']}] {c['snippet']}" for c in msg["citations"]]
        return _text("\n".join(lines), msg)
    if name in ("list_engines", "list_languages", "list_formats"):
        cat = await backend.catalogue()
        key = name.removeprefix("list_")
        items = cat.get(key, [])
        return _text(dumps(items), {key: items})
    raise ToolError(f"unknown tool {name!r}")
