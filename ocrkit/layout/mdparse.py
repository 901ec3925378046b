"""Markdown back into lines: the parser the vlm engine (a model's Markdown answer) and the
translate tool (a translated page) share. The inverse of :mod:`ocrkit.layout.markdown`,
for the block types ocrkit knows."""

from __future__ import annotations

import re

_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*([-*+]|\d{1,3}[.)])\s+(.*)$")
_EMPH = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")


def markdown_lines(markdown: str) -> list[tuple[str, str, int]]:
    """``(plain text, block type, paragraph)`` per non-empty line of the model's
    Markdown: heading marks, list marks (kept as "-"/"1."), emphasis, table pipes and
    separator rows and code fences removed; blank lines start a new paragraph."""
    out: list[tuple[str, str, int]] = []
    para = 0
    gap = False
    in_math = False
    for raw in markdown.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped or stripped.startswith(("```", "~~~")):
            gap = gap or bool(out)
            continue
        if _TABLE_SEP.match(stripped) and "-" in stripped:
            continue
        if stripped == "$$":
            in_math = not in_math
            continue
        kind = "formula" if in_math else "text"
        text = stripped
        m = _HEADING.match(line)
        if m:
            kind, text = "heading", m.group(2)
        elif stripped.startswith("|") or (stripped.count("|") >= 2 and kind == "text"):
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            kind, text = "table", "\t".join(cells)
        elif stripped.startswith("$$") and stripped.endswith("$$") and len(stripped) > 4:
            kind, text = "formula", stripped[2:-2].strip()
        else:
            b = _BULLET.match(line)
            if b:
                kind = "list_item"
            text = re.sub(r"^>\s?", "", text)
        text = _EMPH.sub(r"\2", text).replace("\\*", "*").replace("\\_", "_").strip()
        if not text:
            continue
        if gap and out:
            para += 1
        gap = False
        out.append((text, kind, para))
    return out
