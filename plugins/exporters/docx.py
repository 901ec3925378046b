"""``docx``: the job as a Word document with real structure.

Per page, in reading order: heading lines become ``Heading 1``/``Heading 2`` paragraphs
(level 1 when the line is at least 1.6 times the page's median line height), lines that
share a ``paragraph`` index become one Word paragraph (a line-end hyphen before a
lower-case letter is joined), ``list_item`` lines become ``List Bullet`` paragraphs,
captions use the ``Caption`` style, and each of the page's tables becomes a Word table
(spanning cells merged) placed where its first table line was, or after the page's text.
Running headers, footers and page numbers (``furniture``) are left out. A page break
separates pages. The document title (core properties) is the input's file name
without its extension.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import PurePath
from statistics import median
from typing import TYPE_CHECKING, ClassVar

from ocrkit import hookimpl
from ocrkit.hookspecs import ExportContext, Exporter
from ocrkit.models import Block, Job, Page, Table

if TYPE_CHECKING:
    from docx.document import Document as DocumentObject

# Characters XML 1.0 cannot hold (python-docx would raise on them).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
STYLE = {"text": None, "list_item": "List Bullet", "caption": "Caption"}


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
    if not box:
        return False
    cx, cy = (block.bbox[0] + block.bbox[2]) / 2, (block.bbox[1] + block.bbox[3]) / 2
    return box[0] <= cx <= box[2] and box[1] <= cy <= box[3]


def _runs(page: Page) -> list[tuple[str, list[Block]] | tuple[str, Table]]:
    """The page as ("table", Table) and (type, lines) runs in reading order."""
    runs: list = []
    placed: set[int] = set()
    for block in page.blocks:
        if block.type == "furniture" or not block.text.strip():
            continue
        if block.type == "table":
            for i, table in enumerate(page.tables):
                if i not in placed and _center_in(block, table.bbox):
                    placed.add(i)
                    runs.append(("table", table))
            continue
        prev = runs[-1] if runs else None
        if (
            prev is not None
            and prev[0] == block.type
            and block.paragraph is not None
            and isinstance(prev[1], list)
            and prev[1][-1].paragraph == block.paragraph
        ):
            prev[1].append(block)
        else:
            runs.append((block.type, [block]))
    runs.extend(("table", t) for i, t in enumerate(page.tables) if i not in placed)
    return runs


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
        heights = [b.bbox[3] - b.bbox[1] for b in page.blocks if b.type == "text"]
        body = median(heights) if heights else 0
        for kind, item in _runs(page):
            if isinstance(item, Table):
                add_table(doc, item)
                continue
            text = clean(join_lines([b.text for b in item]))
            if kind == "heading":
                tall = max(b.bbox[3] - b.bbox[1] for b in item)
                doc.add_heading(text, level=1 if body and tall >= 1.6 * body else 2)
            else:
                doc.add_paragraph(text, style=STYLE.get(kind))


@hookimpl
def register_exporters(register: Callable[[Exporter], None]) -> None:
    register(DocxExporter())
