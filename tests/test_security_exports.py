"""Issue 20: document text never becomes active content in what ocrkit writes.

- Spreadsheets (finding 2): text that starts like a formula is a text cell in xlsx and
  starts with ``'`` in CSV (OWASP's CSV-injection advice), in line rows and tables.
- Markdown (finding 3): raw HTML, images and links in a page's text are escaped once;
  rendered by markdown-it-py in CommonMark mode they give no tag, no image and no link,
  and the rendered text is the page's text.
- Searchable PDF (finding 10): the input's /OpenAction, JavaScript, ``javascript:`` links
  and embedded files are gone, unless ``--keep-active-content`` is given.

Everything is read back with a real reader (openpyxl, csv, markdown-it-py, PyMuPDF).
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pymupdf
import pytest
from markdown_it import MarkdownIt

from ocrkit import api
from ocrkit.layout.markdown import render_page
from ocrkit.models import Block, Cell, Job, Page, Table

sys.path.insert(0, str(Path(__file__).parent))
from hostile import pdf_with_javascript_and_attachment  # noqa: E402

FORMULAS = [
    '=HYPERLINK("http://evil.example/","click")',
    "=1+2",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+2",
    "\r=1+2",
]
HOSTILE_MD = [
    "<img src=x onerror=alert(1)>",
    "![logo](http://evil.example/t.png)",
    "[here](javascript:alert(1))",
    "<script>alert(1)</script>",
    "<javascript:alert(1)>",
    "\\<img src=x onerror=alert(2)>",
    "[ref]: javascript:alert(3)",
    "[ref]",
    "a <b>bold</b> word & &lt;not a tag&gt;",
    "1. <i>x</i>",
    "# <img src=y>",
    "- ![i](x.png)",
]


def _job(texts: list[str], *, tables: list[Table] | None = None, kind: str = "text") -> Job:
    blocks = [
        Block(text=t, bbox=[100, 100 + 60 * i, 900, 140 + 60 * i], confidence=0.9, type=kind,
              paragraph=i)
        for i, t in enumerate(texts)
    ]  # fmt: skip
    page = Page(index=0, width=1000, height=2000, dpi=300, blocks=blocks, tables=tables or [])
    render_page(page)
    job = Job(uuid="u", status="done", pages=[page])
    job.finish()
    return job


def _table(texts: list[str]) -> Table:
    cells = [
        Cell(row=i, col=0, text=t, bbox=[0, i * 10, 10, i * 10 + 10]) for i, t in enumerate(texts)
    ]
    return Table(cells=cells, bbox=None)


# -- 2. spreadsheets ------------------------------------------------------------------


def _xlsx_cells(data: bytes) -> list[tuple[str, object]]:
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(data))
    return [(c.data_type, c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row]


def _no_formula_xml(data: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in z.read(name) and b"<f " not in z.read(name), name


def test_xlsx_lines_are_text_cells_never_formulas() -> None:
    data = api.export(_job(FORMULAS), "xlsx")
    _no_formula_xml(data)
    cells = _xlsx_cells(data)
    assert all(kind != "f" for kind, _ in cells)
    texts = {v for _, v in cells}
    for f in FORMULAS:
        assert f.strip("\t\r") in texts or f in texts, f


def test_xlsx_tables_are_text_cells_never_formulas() -> None:
    data = api.export(_job(["x"], tables=[_table(FORMULAS)]), "xlsx")
    _no_formula_xml(data)
    assert all(kind != "f" for kind, _ in _xlsx_cells(data))


def test_csv_lines_and_tables_start_formula_text_with_a_quote() -> None:
    lines = api.export(_job(FORMULAS), "csv").decode("utf-8")
    rows = list(csv.reader(io.StringIO(lines)))
    texts = [r[2] for r in rows[1:]]
    assert texts == ["'" + f for f in FORMULAS]
    tables = api.export(_job(["x"], tables=[_table([*FORMULAS, "-12.50", "+3", "ok"])]), "csv")
    grid = [r[0] for r in csv.reader(io.StringIO(tables.decode("utf-8")))]
    # numbers stay numbers: a plain signed number is not a formula
    assert grid == ["'" + f for f in FORMULAS] + ["-12.50", "+3", "ok"]


# -- 3. Markdown ----------------------------------------------------------------------


def _tokens(md: str) -> list[object]:
    out = []
    for tok in MarkdownIt("commonmark").parse(md):
        out.append(tok)
        out.extend(tok.children or [])
    return out


def _assert_inert(md: str) -> None:
    html = MarkdownIt("commonmark").render(md)
    for tok in _tokens(md):
        kind = tok.type  # type: ignore[attr-defined]
        assert kind not in ("html_inline", "html_block", "image", "link_open"), (kind, md)
    for live in ("<img", "<script", "<a ", "<b>", "<i>"):
        assert live not in html, (live, html)


@pytest.mark.parametrize("kind", ["text", "heading", "list_item"])
def test_markdown_from_page_text_renders_no_tag_image_or_link(kind: str) -> None:
    job = _job(HOSTILE_MD, kind=kind)
    _assert_inert(job.markdown)


def test_markdown_is_escaped_once_so_the_text_reads_back_unchanged() -> None:
    job = _job(HOSTILE_MD)
    html = MarkdownIt("commonmark").render(job.markdown)
    import html as htmllib
    import re

    paragraphs = [htmllib.unescape(p) for p in re.findall(r"<p>(.*?)</p>", html, flags=re.S)]
    assert paragraphs == HOSTILE_MD


def test_markdown_tables_render_no_tag_image_or_link() -> None:
    md = _job(["x"], tables=[_table(HOSTILE_MD)]).markdown
    _assert_inert(md)


def test_markdown_from_a_model_is_neutralised_but_keeps_its_structure() -> None:
    from ocrkit.mdescape import neutralise_markdown

    model = (
        "# Title\n\n- item <img src=x onerror=alert(1)>\n\n![t](http://evil/t.png) "
        "[x](javascript:alert(1))\n\n| a | b |\n|---|---|\n| <b>1</b> | 2 |\n\n"
        "<div>\n<script>alert(1)</script>\n</div>\n\n[r]: javascript:alert(2)\n\n[r]"
    )
    safe = neutralise_markdown(model)
    _assert_inert(safe)
    kinds = {t.type for t in _tokens(safe)}  # type: ignore[attr-defined]
    assert {"heading_open", "bullet_list_open"} <= kinds


# -- 10. searchable PDF ---------------------------------------------------------------


def _hostile_pdf(tmp_path: Path) -> Path:
    doc = pymupdf.open("pdf", pdf_with_javascript_and_attachment())
    page = doc[0]
    page.insert_link({"kind": pymupdf.LINK_URI, "from": pymupdf.Rect(72, 100, 200, 120),
                      "uri": "javascript:app.alert(1)"})  # fmt: skip
    page.insert_link({"kind": pymupdf.LINK_URI, "from": pymupdf.Rect(72, 130, 200, 150),
                      "uri": "https://example.org/"})  # fmt: skip
    page.add_file_annot(pymupdf.Point(300, 300), b"MZ payload", "annot.exe")
    path = tmp_path / "hostile.pdf"
    doc.save(path)
    return path


def _active(path: Path) -> dict[str, object]:
    doc = pymupdf.open(path)
    cat = doc.pdf_catalog()
    raw = b"".join(
        doc.xref_object(x, compressed=True).encode("latin-1", "replace")
        for x in range(1, doc.xref_length())
    )
    return {
        "openaction": doc.xref_get_key(cat, "OpenAction")[0] != "null",
        "javascript": b"/JavaScript" in raw or b"/JS " in raw or b"/JS(" in raw,
        "js_links": [
            ln["uri"] for p in doc for ln in p.get_links() if "javascript" in ln.get("uri", "")
        ],
        "embedded": doc.embfile_count(),
        "file_annots": sum(1 for p in doc for a in p.annots() if a.type[1] == "FileAttachment"),
        "links": [ln.get("uri") for p in doc for ln in p.get_links()],
        "text": doc[0].get_text(),
    }


def _ocrkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ocrkit", *args], capture_output=True, text=True, timeout=300
    )


def test_searchable_pdf_drops_actions_scripts_and_attachments(tmp_path: Path) -> None:
    src = _hostile_pdf(tmp_path)
    before = _active(src)
    assert before["openaction"] and before["javascript"] and before["embedded"]
    out = tmp_path / "out.pdf"
    run = _ocrkit("ocr", str(src), "-o", str(out), "-q")
    assert run.returncode == 0, run.stderr
    after = _active(out)
    assert after["openaction"] is False
    assert after["javascript"] is False
    assert after["js_links"] == []
    assert after["embedded"] == 0 and after["file_annots"] == 0
    assert after["links"] == ["https://example.org/"]  # ordinary links stay
    assert "Document with a script" in str(after["text"])


def test_keep_active_content_keeps_them(tmp_path: Path) -> None:
    src = _hostile_pdf(tmp_path)
    out = tmp_path / "kept.pdf"
    run = _ocrkit("ocr", str(src), "-o", str(out), "-q", "--keep-active-content")
    assert run.returncode == 0, run.stderr
    kept = _active(out)
    assert kept["openaction"] and kept["javascript"] and kept["embedded"]
