"""``ocrkit languages``: which OCR languages are installed, and how to add others."""

from __future__ import annotations

import json

import click

from ocrkit.cli.group import emit, protected

HOW_TO_ADD = """\
Add a language: install its Tesseract model, e.g. Dutch and Ukrainian:
  sudo apt-get install tesseract-ocr-nld tesseract-ocr-ukr
  (or, from the source tree: make system-deps LANGS="nld ukr")
Every package: apt-cache search --names-only '^tesseract-ocr-'  (100+ languages)
Pass languages as ISO 639-1/639-3 codes or Tesseract names, several joined with '+'
(--language de+en); the default, auto, detects each page's script and language."""


@click.command("languages")
@click.option("--all", "show_all", is_flag=True, help="Also list languages not installed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@protected
def languages_command(show_all: bool, as_json: bool) -> None:
    """List installed OCR languages (Tesseract) and how to add others."""
    from ocrkit.lang import codes as languages
    from ocrkit.page.orient import osd_available

    rows = languages.catalogue(include_all=show_all)
    if as_json:
        emit(
            json.dumps(
                {"languages": rows, "osd": osd_available(), "how_to_add": HOW_TO_ADD},
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    if not languages.tesseract_languages():
        emit("Tesseract is not installed: sudo apt-get install tesseract-ocr tesseract-ocr-eng")
    cols = ["tesseract", "iso", "name", "installed", "package"]
    cells = [
        [str(r[c]) if c != "installed" else ("yes" if r[c] else "no") for c in cols] for r in rows
    ]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    osd = "installed" if osd_available() else "missing (apt-get install tesseract-ocr-osd)"
    lines += ["", f"Orientation and script detection (osd): {osd}", "", HOW_TO_ADD]
    emit("\n".join(lines))
