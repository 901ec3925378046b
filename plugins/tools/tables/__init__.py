"""The ``extract-tables`` tool: find tables on a page and recover their grids.

Runs in the page worker after the engine (or the PDF text layer), on the upright page
image and the page's words (OCR words, or a text-layer page's own words; lines the
layout called furniture count too). Two finders:

* **Ruled tables** (:func:`ruled_tables`): OpenCV line detection. The image is binarised,
  morphological openings with long thin kernels keep horizontal and vertical strokes
  (filled areas are removed), and each connected set of lines is a candidate. Its row
  and column boundaries are the clustered line positions (a missing outer border is
  added from the lines' extent). Two neighbouring grid positions belong to one
  (spanning) cell when the boundary between them is drawn over less than half of their
  common side. A candidate is a table when it has at least 2 columns, at least two
  horizontal lines that cross its whole width, vertical lines that end on horizontal
  ones (a chart frame with rounded corners does not), and text in at least half of its
  cells. Ruling lines OCR read as ``|`` at a cell's edge are dropped.
* **Unruled tables** (:func:`unruled_tables`): word positions. Words are grouped into
  text lines (vertical overlap); each line is split into *chunks* where the space
  between two words is wider than :data:`GAP` line heights. Runs of lines with two or
  more chunks (single-chunk lines in between are kept: section rows, wrapped cells;
  running text ends a run) form a candidate region; its columns are the x-ranges
  separated by gaps that at most :data:`GAP_TOLERANCE` of its multi-chunk lines cross
  (two columns need a gap of :data:`TWO_COLUMN_GAP` line heights). Where most lines
  have a chunk boundary but a few have one chunk across it (an engine that boxed two
  cells as one), that gap counts too and those chunks are split there. A chunk that
  still crosses a column gap is a spanning cell. A line that only continues text in
  columns the line above filled up to the column edge (a wrapped cell) joins that row.
  A region is a table with at least 2 columns and 3 multi-chunk rows, and not when two
  of its columns hold running text (an article in columns is not a table).

Cells get ``row``, ``col``, ``row_span``, ``col_span``, ``text`` (their words in reading
order) and ``bbox``; each table gets its ``bbox``. Blocks whose centre lies inside a
table become ``type="table"`` and the page's text and Markdown are rendered again
(:func:`ocrkit.layout.render_page`), so Markdown shows the tables as pipe tables where
they stand. Accuracy on the corpus: README "Tables"; ``tests/table_eval.py`` measures it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from ocrkit import hookimpl
from ocrkit.hookspecs import Tool
from ocrkit.models import Page, Table

if TYPE_CHECKING:
    from PIL import Image

    from .ruled import ruled_tables
    from .unruled import unruled_tables
    from .words import W

# The finders are imported when a page is read, not when the registry is built (every
# ocrkit command builds it, `ocrkit ocr --help` too).
_LAZY = {"ruled_tables": ".ruled", "unruled_tables": ".unruled"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ExtractTables", "find_tables", "ruled_tables", "unruled_tables"]

# -------------------------------------------------------------------------- the page


def _inside(box: list[float] | None, t: list[float]) -> bool:
    if box is None:
        return False
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return t[0] <= cx <= t[2] and t[1] <= cy <= t[3]


def find_tables(page: Page, image: Image.Image | None, words: list[W] | None = None) -> list[Table]:
    """All tables on the page (from ``words``, default the page's own), top to bottom."""
    from .ruled import cv2_missing, ruled_tables
    from .unruled import unruled_tables
    from .words import page_words

    words = page_words(page) if words is None else words
    tables: list[Table] = []
    if image is not None and image.width and image.height and not cv2_missing():
        scale = page.width / image.width if page.width else 1.0
        tables.extend(ruled_tables(image, words, page.dpi or 300, scale))
    rest = [
        w
        for w in words
        if not any(_inside([w.x0, w.y0, w.x1, w.y1], t.bbox) for t in tables if t.bbox)
    ]
    tables.extend(unruled_tables(rest))
    tables.sort(key=lambda t: (t.bbox[1], t.bbox[0]) if t.bbox else (0.0, 0.0))
    return tables


def render_markdown(page: Page) -> None:
    """Render the page's text and Markdown again now that it has tables."""
    from ocrkit import layout

    # render_page: text and Markdown from the blocks as they are (their order and types
    # stay what layout gave them); older layout modules only had finish_page.
    render = getattr(layout, "render_page", None) or layout.finish_page
    render(page)


class ExtractTables(Tool):
    name: ClassVar[str] = "extract-tables"
    description: ClassVar[str] = (
        "Find ruled and unruled tables: rows, columns and spanning cells "
        "(csv/xlsx/docx/Markdown tables)"
    )
    preset: ClassVar[dict[str, Any]] = {}

    def availability(self) -> tuple[bool, str]:
        from .ruled import cv2_missing

        why = cv2_missing()
        return (False, why) if why else (True, "")

    def process_page(self, page: Page, image: Image.Image | None, options: dict[str, Any]) -> Page:
        from . import readers

        found = find_tables(page, image)
        if options.get("engine_named", True):  # the caller's engine reads every table
            page.extra["table_readers"] = [readers.first_reader(page)] * len(found)
        else:
            found = readers.reread(page, image, found, options, find_tables)
        if found or not page.tables:  # keep tables an engine gave when none are found
            page.tables = found
        for b in page.blocks:
            if any(_inside(b.bbox, t.bbox) for t in page.tables if t.bbox):
                b.type = "table"
        if page.tables:
            render_markdown(page)
        return page


@hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    register(ExtractTables())
