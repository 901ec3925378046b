"""``csv``: table grids when the job has tables, else one row per line of text.

With tables (``tool=extract-tables``): the dense grid of the first table; option
``table=N`` picks the N-th table (1-based, in document order: page by page, then as the
page lists them) and ``table=all`` writes every grid, one after another, separated by
one empty row. A spanning cell's text sits in its top-left position; the other cells it
covers are empty. ``table=N`` beyond the number of tables is a
:class:`~ocrkit.errors.BadOption`.

Without tables (or with ``table=all`` and none found): one row per line of text with
the header ``page,line,text,confidence,x0,y0,x1,y1``. ``page`` and ``line`` are
**1-based** (``page`` is the job's 0-based page ``index`` + 1, as chat citations count;
``line`` counts the page's lines in reading order). ``confidence`` is 0..1; the box is
in pixels of the upright page image at the page's dpi, as in the JSON.

The file is UTF-8 **without** a byte-order mark, with ``\\r\\n`` line ends and minimal
quoting (RFC 4180, Python's :mod:`csv` defaults). Text that starts like a formula
(``=``, ``+``, ``-``, ``@``, tab, CR; not a plain signed number) gets a leading ``'``
so a spreadsheet shows it as text (:mod:`ocrkit.cells`, OWASP's CSV-injection advice).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import ClassVar

from ocrkit import hookimpl
from ocrkit.cells import csv_row
from ocrkit.errors import BadOption
from ocrkit.hookspecs import ExportContext, Exporter
from ocrkit.models import Job, Table

HEADER = ["page", "line", "text", "confidence", "x0", "y0", "x1", "y1"]


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else round(float(v), 2)


def _pick_tables(tables: list[Table], option: object) -> list[Table] | None:
    """The tables to write, or None for line rows."""
    spec = str(option).strip().lower() if option not in (None, "") else ""
    if spec == "all":
        return tables or None
    if not spec:
        return tables[:1] or None
    if not re.fullmatch(r"[0-9]{1,9}", spec):  # ASCII digits only: int() takes "٣"
        msg = f"csv option table must be a number from 1 or 'all', not {option!r}"
        raise BadOption(msg)
    n = int(spec)
    if not 1 <= n <= len(tables):
        have = f"has {len(tables)} table" + ("" if len(tables) == 1 else "s")
        hint = "" if tables else " (run with the extract-tables tool to find tables)"
        raise BadOption(f"csv option table={n} is out of range: the job {have}{hint}")
    return [tables[n - 1]]


class CsvExporter(Exporter):
    name: ClassVar[str] = "csv"
    media_type: ClassVar[str] = "text/csv; charset=utf-8"
    extension: ClassVar[str] = "csv"
    description: ClassVar[str] = "Tables as CSV grids (table=N|all), else one row per line"
    is_text: ClassVar[bool] = True
    uses_detected_languages: ClassVar[bool] = False

    def export(self, job: Job, ctx: ExportContext) -> bytes:
        tables = [t for page in sorted(job.pages, key=lambda p: p.index) for t in page.tables]
        chosen = _pick_tables(tables, ctx.options.get("table"))
        out = io.StringIO()
        import csv  # when a csv is written, not when the plugin loads

        writer = csv.writer(out)
        if chosen is None:
            writer.writerow(HEADER)
            for page in sorted(job.pages, key=lambda p: p.index):
                for n, block in enumerate(page.blocks, start=1):
                    # An unaligned vlm line has no box: its box columns stay empty.
                    box = [_num(v) for v in block.bbox] if block.bbox else ["", "", "", ""]
                    conf = round(block.confidence, 4)
                    writer.writerow(csv_row([page.index + 1, n, block.text, conf, *box]))
        else:
            for i, table in enumerate(chosen):
                if i:
                    writer.writerow([])
                writer.writerows(csv_row(row) for row in table.grid())
        return out.getvalue().encode("utf-8")


@hookimpl
def register_exporters(register: Callable[[Exporter], None]) -> None:
    register(CsvExporter())
