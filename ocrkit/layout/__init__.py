"""Layout of a page from its lines: :mod:`~ocrkit.layout.lines` (line clean-up),
:mod:`~ocrkit.layout.reading_order`, :mod:`~ocrkit.layout.furniture` (running headers,
page numbers), :mod:`~ocrkit.layout.page` (the analysis: headings, lists, paragraphs,
confidence), :mod:`~ocrkit.layout.markdown` (text and Markdown of a page),
:mod:`~ocrkit.layout.mdparse` (Markdown back into lines) and :mod:`~ocrkit.layout.align`
(a vision model's lines matched to a cpu engine's word boxes).

The names below are the stable entry points; plugins may import them (docs/plugins.md).
"""

from ocrkit.layout.lines import otsu, true_runs
from ocrkit.layout.mdparse import markdown_lines
from ocrkit.layout.page import (
    LOW_CONFIDENCE,
    assign_paragraphs,
    escape_line,
    finish_job,
    finish_page,
    heading_levels,
    line_size,
    page_markdown,
    page_text,
    render_page,
    table_markdown,
)

__all__ = [
    "LOW_CONFIDENCE",
    "otsu",
    "true_runs",
    "assign_paragraphs",
    "escape_line",
    "finish_job",
    "finish_page",
    "heading_levels",
    "line_size",
    "markdown_lines",
    "page_markdown",
    "page_text",
    "render_page",
    "table_markdown",
]
