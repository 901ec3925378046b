"""``GET /api/v1/options``: what a client can offer, read from the server's registry.

The web page builds its tier, language, tool, translation-target and download lists from
this answer, so a plugin's engine, tool or format shows up there without a page change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ocrkit.server.apidoc import BOOL, INT, STR, STR_LIST, json_response, obj, operation, ref
from ocrkit.server.context import state

if TYPE_CHECKING:
    from ocrkit.plugins import Registry
    from ocrkit.server.context import ServerState
    from ocrkit.settings import Settings


# The body of GET /api/v1/options, for the OpenAPI document.
SCHEMAS: dict[str, Any] = {
    "Options": {
        "type": "object",
        "required": ["inputs", "tiers", "languages", "tools", "translate_targets", "formats"],
        "properties": {
            "inputs": {
                "type": "array",
                "items": obj({"kind": STR, "media_type": STR}),
            },
            "tiers": {
                "type": "array",
                "items": obj({"name": STR, "available": BOOL, "note": STR}),
            },
            "languages": {
                "type": "array",
                "items": obj({"code": STR, "iso": STR}),
            },
            "tools": {
                "type": "array",
                "items": obj(
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
                "items": obj(
                    {"name": STR, "media_type": STR, "extension": STR, "description": STR},
                    required=["name"],
                ),
            },
            "engines": {
                "type": "array",
                "items": obj(
                    {"name": STR, "tier": STR, "available": BOOL, "reason": STR},
                    required=["name"],
                ),
            },
            "limits": obj({"inline_max_pages": INT, "max_upload_bytes": INT}, required=[]),
            "signup": {"type": "string", "enum": ["open", "closed"]},
            "chat": BOOL,
        },
    }
}


def _mime(kind: str) -> str:
    return "application/pdf" if kind == "pdf" else f"image/{kind}"


def _engines(reg: Registry) -> tuple[list[dict[str, Any]], list[str]]:
    """Every engine with its availability, and the languages the available ones read."""
    engines = []
    installed: list[str] = []
    for eng in sorted(reg.engines.values(), key=lambda e: e.name):
        ok, reason = eng.availability()
        engines.append({"name": eng.name, "tier": eng.tier, "available": ok, "reason": reason})
        if ok:
            installed += [c for c in eng.languages() if c not in installed and c != "osd"]
    return engines, sorted(installed)


def _tiers(engines: list[dict[str, Any]], settings: Settings) -> list[dict[str, Any]]:
    have_vlm = any(e["available"] and e["tier"] == "vlm" for e in engines)
    fallback = settings.vlm_fallback == "cpu"
    if have_vlm:
        note = ""
    elif fallback:
        note = "no model server: served by the cpu pipeline"
    else:
        note = "no model server is configured"
    return [
        {"name": "cpu", "available": True, "note": ""},
        {"name": "vlm", "available": have_vlm or fallback, "note": note},
    ]


def _tools(reg: Registry) -> list[dict[str, Any]]:
    out = []
    for tool in sorted(reg.tools.values(), key=lambda t: t.name):
        ok, reason = tool.availability()
        out.append(
            {
                "name": tool.name,
                "description": tool.description,
                "preset": dict(tool.preset),
                "available": ok,
                "reason": reason,
            }
        )
    return out


def _formats(reg: Registry) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "media_type": exp.media_type,
            "extension": (exp.extension or name).lstrip("."),
            "description": exp.description,
        }
        for name, exp in sorted(reg.exporters.items())
    ]


def _translate_targets() -> list[str]:
    """Every language the resolver knows (a text model writes it; no traineddata needed)."""
    from ocrkit.lang import codes as languages

    table: dict[str, str] = getattr(languages, "_ISO", {})
    return sorted({iso for tess, iso in table.items() if tess != "osd" and "_vert" not in tess})


def options_body(st: ServerState, routes: list[Any]) -> dict[str, Any]:
    from ocrkit.lang import codes as languages
    from ocrkit.page import inputs

    engines, installed = _engines(st.registry)
    paths = {getattr(r, "path", "") for r in routes}
    return {
        "inputs": [{"kind": k, "media_type": _mime(k)} for k in inputs.KINDS],
        "tiers": _tiers(engines, st.settings),
        "languages": [{"code": c, "iso": languages.to_iso(c)} for c in installed],
        "tools": _tools(st.registry),
        "translate_targets": _translate_targets(),
        "formats": _formats(st.registry),
        "engines": engines,
        "limits": {
            "inline_max_pages": st.settings.inline_max_pages,
            "max_upload_bytes": st.settings.max_upload_bytes,
        },
        "signup": st.settings.signup,
        "chat": any(p.startswith("/api/v1/chat/") for p in paths),
    }


@operation(
    {
        "summary": "The choices a client can offer, from the server's registry",
        "description": "Input types, tiers (with availability), installed OCR "
        "languages, tools, translation targets, download formats, engines, limits, "
        "whether self-service sign-up is open and whether chat is served. The web "
        "page at / builds its lists from it.",
        "security": [],
        "responses": {"200": json_response(ref("Options"), "The choices")},
    }
)
async def options(request: Request) -> Response:
    """GET /api/v1/options: tiers, languages, tools, formats and targets from the registry."""
    st = state(request)
    body = await anyio.to_thread.run_sync(options_body, st, list(request.app.routes))
    return JSONResponse(body)
