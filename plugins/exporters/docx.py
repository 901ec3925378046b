"""``docx``: the job as a Word document with real structure.

Per page, in reading order: lines that share a ``paragraph`` index become one Word
paragraph (a line-end hyphen before a lower-case letter is joined). Heading paragraphs
become ``Heading N`` with the level the page's Markdown gives them (else 1 when the
line is at least 1.6 times the page's median line height, else 2); list items become
``List Bullet`` paragraphs (the bullet glyph replaced by Word's own), or ``List
Paragraph`` when numbered; captions use ``Caption``; each of the page's tables becomes
a Word table (spanning cells merged) where its first line was, else after the text.
Running headers, footers and page numbers (``furniture``) are left out. A page break
separates pages. The document title (core properties) is the input's file name
without its extension.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import PurePath
from typing import TYPE_CHECKING, ClassVar

from ocrkit import hookimpl
from ocrkit.hookspecs import ExportContext, Exporter
from ocrkit.models import Block, Job, Page, Table

if TYPE_CHECKING:
    from docx.document import Document as DocumentObject

# Characters XML 1.0 cannot hold (python-docx would raise on them).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
STYLE = {"text": None, "caption": "Caption"}
BULLETS = "•◦▪●○■□‣⁃∙·-*"


def clean(text: str) -> str:
    return _XML_ILLEGAL.sub("", text)


def join_lines(lines: list[str]) -> str:
    out = ""
    for line in (ln.strip() for ln in lines):
        if not line:
            continue
        if out.endswith("-") and line[:1].islower() and out[-2:-1].isalpha():
            out = out[:-1] + line
        else:
            out = f"{out} {line}" if out else line
    return out


def _center_in(block: Block, box: list[float] | None) -> bool:
    if not box or block.bbox is None:
        return False
    cx, cy = (block.bbox[0] + block.bbox[2]) / 2, (block.bbox[1] + block.bbox[3]) / 2
    return box[0] <= cx <= box[2] and box[1] <= cy <= box[3]


def _table_of(block: Block, tables: list[Table]) -> int | None:
    return next((i for i, t in enumerate(tables) if _center_in(block, t.bbox)), None)


def _runs(page: Page) -> list[tuple[str, list[Block]] | tuple[str, Table]]:
    """The page as ("table", Table) and (type, lines) runs in reading order.

    As in :mod:`ocrkit.layout`: lines sharing a ``paragraph`` index form one paragraph
    whose kind is its first line's type; each ``list_item`` line starts a new item and
    the plain lines after it continue that item; lines inside a table are the table.
    """
    runs: list = []
    placed: set[int] = set()
    for block in page.blocks:
        if block.type == "furniture" or not block.text.strip():
            continue
        t = _table_of(block, page.tables)
        if t is not None or block.type == "table":
            if t is not None and t not in placed:
                placed.add(t)
                runs.append(("table", page.tables[t]))
            continue
        prev = runs[-1] if runs else None
        if (
            prev is not None
            and isinstance(prev[1], list)
            and block.paragraph is not None
            and prev[1][-1].paragraph == block.paragraph
            and block.type in (prev[0], "text")
            and block.type != "list_item"
        ):
            prev[1].append(block)
        else:
            runs.append((block.type, [block]))
    runs.extend(("table", t) for i, t in enumerate(page.tables) if i not in placed)
    return runs


def heading_levels(markdown: str) -> dict[str, int]:
    """Heading text -> level, read from the page's Markdown (the layout's levels)."""
    levels: dict[str, int] = {}
    for line in markdown.splitlines():
        m = re.match(r"(#{1,6}) (.+)", line)
        if m:
            levels.setdefault(" ".join(m.group(2).split()), len(m.group(1)))
    return levels


def list_item(text: str) -> tuple[str, str]:
    """(style, text): a bullet glyph becomes Word's own bullet; a numbered or other
    item keeps its text in the ``List Paragraph`` style."""
    if text[:1] in BULLETS and len(text) > 1:
        return "List Bullet", text[1:].strip()
    return "List Paragraph", text


def add_table(doc: DocumentObject, table: Table) -> None:
    if not table.cells:
        return
    word_table = doc.add_table(rows=table.n_rows, cols=table.n_cols)
    word_table.style = "Table Grid"
    for cell in table.cells:
        target = word_table.cell(cell.row, cell.col)
        if cell.row_span > 1 or cell.col_span > 1:
            corner = word_table.cell(cell.row + cell.row_span - 1, cell.col + cell.col_span - 1)
            target = target.merge(corner)
        target.text = clean(cell.text)


class DocxExporter(Exporter):
    name: ClassVar[str] = "docx"
    media_type: ClassVar[str] = (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    extension: ClassVar[str] = "docx"
    description: ClassVar[str] = "Word document: headings, paragraphs, lists and tables"

    def export(self, job: Job, ctx: ExportContext) -> bytes:
        import docx

        doc = docx.Document()
        doc.core_properties.title = PurePath(job.filename).stem if job.filename else "OCR result"
        doc.core_properties.author = "ocrkit"
        for n, page in enumerate(sorted(job.pages, key=lambda p: p.index)):
            if n:
                doc.add_page_break()
            self._page(doc, page)
        buf = io.BytesIO()
        doc.save(buf)
        return buf.getvalue()

    def _page(self, doc: DocumentObject, page: Page) -> None:
        from statistics import median  # (fractions, decimal: not when the registry loads)

        heights = [b.bbox[3] - b.bbox[1] for b in page.blocks if b.type == "text" and b.bbox]
        body = median(heights) if heights else 0
        levels = heading_levels(page.markdown)
        for kind, item in _runs(page):
            if isinstance(item, Table):
                add_table(doc, item)
                continue
            text = clean(join_lines([b.text for b in item]))
            if not text:
                continue
            if kind == "heading":
                tall = max((b.bbox[3] - b.bbox[1] for b in item if b.bbox), default=0)
                level = levels.get(" ".join(text.split()))
                if level is None:
                    level = 1 if body and tall >= 1.6 * body else 2
                doc.add_heading(text, level=min(level, 9))
            elif kind == "list_item":
                style, text = list_item(text)
                doc.add_paragraph(text, style=style)
            else:
                doc.add_paragraph(text, style=STYLE.get(kind))


@hookimpl
def register_exporters(register: Callable[[Exporter], None]) -> None:
    register(DocxExporter())
