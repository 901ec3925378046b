"""docs/licences.md: every runtime dependency's licence, generated from the installed
metadata by scripts/licences.py; and what PyMuPDF's AGPL-3.0 asks of a server operator."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "licences.md"


def _runtime_closure() -> set[str]:
    """The base install's distributions: ocrkit's requirements and theirs, transitively
    (no extras)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in metadata.requires("ocrkit") or []]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        todo += [Requirement(r) for r in metadata.requires(name) or []]
    return seen


def test_licences_page_is_what_the_script_generates() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "licences.py")],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert out.stdout == DOC.read_text("utf-8"), (
        "run: python scripts/licences.py > docs/licences.md"
    )


def test_every_runtime_dependency_is_listed_with_a_licence() -> None:
    text = DOC.read_text("utf-8")
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith(("| package", "|---")):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[canonicalize_name(cells[0].strip("[]").split("]")[0])] = cells[1]
    closure = _runtime_closure()
    assert closure and closure <= set(rows), sorted(closure - set(rows))
    for name in closure:
        assert rows[name] and rows[name].lower() not in ("unknown", "?"), name
    assert rows["pymupdf"].startswith("AGPL-3.0")
    assert rows["ocrkit"] == "Apache-2.0"


def test_agpl_statement_for_people_who_serve_ocrkit() -> None:
    text = DOC.read_text("utf-8")
    assert "AGPL-3.0" in text and "Artifex" in text
    assert "/source" in text  # how `ocrkit serve` offers the running source
    assert "network" in text.lower() and "commercial licence" in text.lower()
