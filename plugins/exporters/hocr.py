"""``hocr``: the job as hOCR 1.2 (XHTML), the format Tesseract and OCRmyPDF exchange.

One ``ocr_page`` per page (``bbox 0 0 width height``, ``image`` the input's file name,
``ppageno`` the 0-based page index), ``ocr_par`` for each run of lines that share a
``paragraph`` index (a line without one is its own paragraph), one line element per
block (``ocr_header`` for headings, ``ocr_caption`` for captions, else ``ocr_line``)
and ``ocrx_word`` per word with ``x_wconf`` (0..100). A line the engine gave no words
for becomes one ``ocrx_word`` with the line's text and box. Boxes are integer pixels of
the upright page image. Everything is HTML-escaped; the file parses as XML.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import groupby
from typing import ClassVar

import ocrkit
from ocrkit import hookimpl
from ocrkit.hookspecs import ExportContext, Exporter
from ocrkit.models import Block, Job, Page, Word, union_bbox


def escape(text: str) -> str:
    """:func:`html.escape` (quotes too), without importing :mod:`html`, whose entity
    table (html.entities) every ``ocrkit ocr --help`` paid for through this plugin."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#x27;")
    )


LINE_CLASS = {"heading": "ocr_header", "caption": "ocr_caption"}


def _bbox(b: list[float] | None) -> str:
    """The ``bbox`` property, or "" for a line without a box (an unaligned vlm line)."""
    return "bbox " + " ".join(str(round(v)) for v in b) if b is not None else ""


def _title(*props: str) -> str:
    return "; ".join(p for p in props if p)


def _conf(c: float) -> int:
    return max(0, min(100, round(c * 100)))


def _paragraphs(blocks: list[Block]) -> Iterator[list[Block]]:
    for para, group in groupby(blocks, key=lambda b: b.paragraph):
        lines = list(group)
        if para is None:
            yield from ([b] for b in lines)
        else:
            yield lines


class HocrExporter(Exporter):
    name: ClassVar[str] = "hocr"
    media_type: ClassVar[str] = "text/vnd.hocr+html; charset=utf-8"
    extension: ClassVar[str] = "hocr"
    description: ClassVar[str] = "hOCR (XHTML): pages, paragraphs, lines, words with boxes"
    is_text: ClassVar[bool] = True
    uses_detected_languages: ClassVar[bool] = False

    def export(self, job: Job, ctx: ExportContext) -> bytes:
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"',
            '    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">',
            '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">',
            "<head>",
            f"<title>{escape(job.filename or job.uuid)}</title>",
            '<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>',
            f'<meta name="ocr-system" content="ocrkit {escape(ocrkit.__version__)}"/>',
            '<meta name="ocr-capabilities"'
            ' content="ocr_page ocr_par ocr_line ocr_header ocr_caption ocrx_word"/>',
            f'<meta name="ocr-number-of-pages" content="{len(job.pages)}"/>',
            "</head>",
            "<body>",
        ]
        for page in sorted(job.pages, key=lambda p: p.index):
            out.extend(self._page(job, page))
        out += ["</body>", "</html>", ""]
        return "\n".join(out).encode("utf-8")

    def _page(self, job: Job, page: Page) -> list[str]:
        n = page.index + 1
        image = job.filename or f"page-{page.index}.png"
        title = f"image {_quote(image)}; bbox 0 0 {page.width} {page.height}; ppageno {page.index}"
        lines = [f"<div class='ocr_page' id='page_{n}' title='{escape(title)}'>"]
        line_no = word_no = 0
        for p_no, para in enumerate(_paragraphs([b for b in page.blocks if b.text.strip()])):
            pbox = _bbox(union_bbox([b.bbox for b in para]))
            ptitle = f" title='{pbox}'" if pbox else ""
            lines.append(f" <p class='ocr_par' id='par_{n}_{p_no + 1}'{ptitle}>")
            for block in para:
                line_no += 1
                cls = LINE_CLASS.get(block.type, "ocr_line")
                # A line without a box (unaligned vlm line) has no bbox property: hOCR
                # properties are optional, and inventing one would misplace the text.
                title = _title(_bbox(block.bbox), f"x_wconf {_conf(block.confidence)}")
                words = block.words or [Word(block.text, block.bbox, block.confidence)]  # type: ignore[arg-type]
                spans = []
                for w in words:
                    word_no += 1
                    wt = _title(_bbox(w.bbox), f"x_wconf {_conf(w.confidence)}")
                    spans.append(
                        f"<span class='ocrx_word' id='word_{n}_{word_no}' title='{wt}'>"
                        f"{escape(w.text)}</span>"
                    )
                lines.append(
                    f"  <span class='{cls}' id='line_{n}_{line_no}' title='{title}'>"
                    + " ".join(spans)
                    + "</span>"
                )
            lines.append(" </p>")
        lines.append("</div>")
        return lines


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


@hookimpl
def register_exporters(register: Callable[[Exporter], None]) -> None:
    register(HocrExporter())
