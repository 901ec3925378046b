"""``ocrkit plugins``, ``engines``, ``formats``, ``tools``: what the registry holds."""

from __future__ import annotations

import json
from typing import Any

import click

from ocrkit.cli.group import _registry, cli, emit, protected


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def _show(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    emit(json.dumps(rows, indent=2, ensure_ascii=False) if as_json else _table(rows, columns))


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@cli.command("plugins")
@protected
def plugins_command() -> None:
    """List plugins as JSON: name, version, hooks, status (failures included)."""
    emit(json.dumps(sorted(_registry().plugins_info(), key=lambda p: p["name"]), indent=2))


@cli.command("engines")
@json_option
@protected
def engines_command(as_json: bool) -> None:
    """List OCR engines: tier, whether available now (and why not), languages."""
    rows = [eng.info() for _, eng in sorted(_registry().engines.items())]
    if not as_json:
        for row in rows:
            row.pop("options", None)
            langs = row["languages"]
            row["languages"] = "+".join(langs[:8]) + (
                f" (+{len(langs) - 8})" if len(langs) > 8 else ""
            )
            row["available"] = "yes" if row["available"] else "no"
    _show(rows, ["name", "tier", "available", "languages", "reason"], as_json)


@cli.command("formats")
@json_option
@protected
def formats_command(as_json: bool) -> None:
    """List output formats (exporters)."""
    rows = [
        {
            "name": e.name,
            "extension": e.extension,
            "media_type": e.media_type,
            "text": e.is_text,
            "description": e.description,
        }
        for _, e in sorted(_registry().exporters.items())
    ]
    _show(rows, ["name", "extension", "media_type", "description"], as_json)


@cli.command("tools")
@json_option
@protected
def tools_command(as_json: bool) -> None:
    """List tools: named presets with post-processing."""
    rows = []
    for _, tool in sorted(_registry().tools.items()):
        ok, reason = tool.availability()
        rows.append(
            {
                "name": tool.name,
                "description": tool.description,
                "preset": dict(tool.preset),
                "available": ok,
                "reason": reason,
            }
        )
    _show(rows, ["name", "description", "preset"], as_json)
