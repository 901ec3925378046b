"""``xlsx``: an Excel workbook (openpyxl) with one sheet per table.

With tables (``tool=extract-tables``): sheet ``Table N`` (N 1-based in document order,
as csv's ``table=N``) holds table N's grid from cell A1; a spanning cell is one merged
range whose top-left cell holds the text. Numbers stay text, exactly as recognised
(``"0.50"`` keeps its trailing zero; a spreadsheet user converts on purpose).

Without tables: one sheet ``Lines`` with csv's line rows
(``page, line, text, confidence, x0, y0, x1, y1``; ``page`` and ``line`` 1-based).

Every text is a string cell, never a formula (:mod:`ocrkit.cells`): a page reading
``=HYPERLINK(...)`` shows that text.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, ClassVar

from ocrkit import hookimpl
from ocrkit.cells import xlsx_text
from ocrkit.hookspecs import ExportContext, Exporter
from ocrkit.models import Job, Table

HEADER = ["page", "line", "text", "confidence", "x0", "y0", "x1", "y1"]


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else round(float(v), 2)


def _write_table(ws: Any, table: Table) -> None:
    from openpyxl.styles import Alignment

    for cell in table.cells:
        target = ws.cell(row=cell.row + 1, column=cell.col + 1)
        xlsx_text(target, cell.text)
        target.alignment = Alignment(wrap_text=True, vertical="top")
        if cell.row_span > 1 or cell.col_span > 1:
            ws.merge_cells(
                start_row=cell.row + 1,
                start_column=cell.col + 1,
                end_row=cell.row + cell.row_span,
                end_column=cell.col + cell.col_span,
            )


class XlsxExporter(Exporter):
    name: ClassVar[str] = "xlsx"
    media_type: ClassVar[str] = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    extension: ClassVar[str] = "xlsx"
    description: ClassVar[str] = "Excel workbook: one sheet per table (merged spanning cells)"

    def export(self, job: Job, ctx: ExportContext) -> bytes:
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        pages = sorted(job.pages, key=lambda p: p.index)
        tables = [t for p in pages for t in p.tables]
        if tables:
            for n, table in enumerate(tables, start=1):
                sheet = ws if n == 1 else wb.create_sheet()
                sheet.title = f"Table {n}"
                _write_table(sheet, table)
        else:
            ws.title = "Lines"
            ws.append(HEADER)
            for page in pages:
                for n, block in enumerate(page.blocks, start=1):
                    box = [_num(v) for v in block.bbox] if block.bbox else [None] * 4
                    ws.append([page.index + 1, n, None, round(block.confidence, 4), *box])
                    xlsx_text(ws.cell(row=ws.max_row, column=3), block.text)
        wb.properties.creator = "ocrkit"
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()


@hookimpl
def register_exporters(register: Callable[[Exporter], None]) -> None:
    register(XlsxExporter())
