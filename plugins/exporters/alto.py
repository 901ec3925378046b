"""``alto``: the job as ALTO 4.4 XML, the format libraries and digitisation projects
exchange (Library of Congress; written by Tesseract, OCR-D and Transkribus).

Layout::

    alto (SCHEMAVERSION 4.4)
      Description: MeasurementUnit "pixel", sourceImageInformation/fileName, one
                   Processing step (ocrkit, its version, the job's finish time) and one
                   per turned page ("rotation=90": the page was turned 90 degrees
                   clockwise to upright)
      Tags:        one StructureTag per line type used (heading, caption, ...)
      Layout
        Page       ID page_N, PHYSICAL_IMG_NR N (the input's 1-based page number),
                   WIDTH/HEIGHT of the upright page image, PC (page confidence, OCR
                   pages only), LANG (first detected language, ISO 639)
          PrintSpace  the whole page
            TextBlock  one per run of lines with the same ``paragraph``
              TextLine one per job line; BASEDIRECTION "rtl" when the line is mostly
                       right-to-left script; TAGREFS for a non-text line type
                String CONTENT, HPOS/VPOS/WIDTH/HEIGHT, WC (0..1) -- SP between words

Coordinates are pixels of the upright page image (the same as the job's boxes, so a
rotated page is described as it reads), written with up to 3 decimals: HPOS = x0,
VPOS = y0, WIDTH = x1 - x0, HEIGHT = y1 - y0. Words of a PDF's text layer have no
recognition confidence, so their Strings carry no ``WC``. A line without words becomes
one String with the line's text; a line without a box (an unaligned vlm line) has no
position attributes. Words keep the job's order (logical order, also for RTL lines).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import groupby
from typing import ClassVar

import ocrkit
from ocrkit import hookimpl
from ocrkit.errors import ExportFailed
from ocrkit.hookspecs import ExportContext, Exporter
from ocrkit.models import Block, Job, Page, Word, union_bbox

NS = "http://www.loc.gov/standards/alto/ns-v4#"
SCHEMA_LOCATION = "http://www.loc.gov/alto/v4/alto-4-4.xsd"


def escape(data: str) -> str:
    # xml.sax.saxutils imports urllib.request (http, ssl): loaded on first export, not
    # whenever the registry is built.
    from xml.sax import saxutils

    return saxutils.escape(data)


def quoteattr(data: str) -> str:
    from xml.sax import saxutils

    return saxutils.quoteattr(data)


def num(v: float) -> str:
    """A coordinate: an integer when it is one, else up to 3 decimals."""
    r = round(float(v), 3)
    if r == int(r):
        return str(int(r))
    return f"{r:.3f}".rstrip("0").rstrip(".")


def _box(b: list[float] | None) -> str:
    if b is None:
        return ""
    x0, y0, x1, y1 = b
    return (
        f' HPOS="{num(x0)}" VPOS="{num(y0)}"'
        f' WIDTH="{num(max(0.0, x1 - x0))}" HEIGHT="{num(max(0.0, y1 - y0))}"'
    )


def _wc(c: float) -> str:
    return f"{max(0.0, min(1.0, float(c))):.4f}".rstrip("0").rstrip(".") or "0"


def is_rtl(text: str) -> bool:
    """More strong right-to-left letters (Arabic, Hebrew, ...) than left-to-right ones."""
    rtl = ltr = 0
    for ch in text:
        bidi = unicodedata.bidirectional(ch)
        if bidi in ("R", "AL"):
            rtl += 1
        elif bidi == "L":
            ltr += 1
    return rtl > ltr


def _paragraphs(blocks: list[Block]) -> Iterator[list[Block]]:
    for para, group in groupby(blocks, key=lambda b: b.paragraph):
        lines = list(group)
        if para is None:
            yield from ([b] for b in lines)
        else:
            yield lines


def _lang(page: Page) -> str:
    from ocrkit.lang import to_iso

    for code in page.detected_languages:
        iso = to_iso(code)
        # xsd:language: letters, then "-" and letters/digits
        parts = iso.replace("_", "-").split("-")
        if all(p.isascii() and p.isalnum() and 1 <= len(p) <= 8 for p in parts) and (
            parts[0].isalpha()
        ):
            return "-".join(parts)
    return ""


class AltoExporter(Exporter):
    name: ClassVar[str] = "alto"
    media_type: ClassVar[str] = "application/alto+xml; charset=utf-8"
    extension: ClassVar[str] = "xml"
    description: ClassVar[str] = "ALTO 4.4 XML: pages, text blocks, lines, words with boxes"
    is_text: ClassVar[bool] = True

    def export(self, job: Job, ctx: ExportContext) -> bytes:
        pages = sorted(job.pages, key=lambda p: p.index)
        if not pages:
            raise ExportFailed("the job has no pages, and an ALTO file needs at least one")
        types = sorted({b.type for p in pages for b in p.blocks if b.type != "text"})
        when = job.finished_at or datetime.now(UTC).isoformat(timespec="seconds")
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<alto xmlns="{NS}" xmlns:xlink="http://www.w3.org/1999/xlink"'
            ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
            f' xsi:schemaLocation="{NS} {SCHEMA_LOCATION}" SCHEMAVERSION="4.4">',
            "<Description>",
            "<MeasurementUnit>pixel</MeasurementUnit>",
        ]
        if job.filename:
            out += [
                "<sourceImageInformation>",
                f"<fileName>{escape(job.filename)}</fileName>",
                "</sourceImageInformation>",
            ]
        out += [
            '<Processing ID="OCR_0">',
            "<processingCategory>contentGeneration</processingCategory>",
            f"<processingDateTime>{escape(when)}</processingDateTime>",
            f"<processingStepSettings>{escape(self._settings(job))}</processingStepSettings>",
            "<processingSoftware>",
            "<softwareName>ocrkit</softwareName>",
            f"<softwareVersion>{escape(ocrkit.__version__)}</softwareVersion>",
            "</processingSoftware>",
            "</Processing>",
        ]
        for page in pages:
            if page.rotation:
                out += [
                    f'<Processing ID="ROTATE_{page.index + 1}">',
                    "<processingCategory>preOperation</processingCategory>",
                    f"<processingStepDescription>page {page.index + 1} was turned "
                    f"{page.rotation} degrees clockwise to upright; coordinates refer to "
                    "the upright image</processingStepDescription>",
                    f"<processingStepSettings>rotation={page.rotation}</processingStepSettings>",
                    "</Processing>",
                ]
        out.append("</Description>")
        if types:
            out.append("<Tags>")
            out += [f'<StructureTag ID="TYPE_{t}" LABEL="{escape(t)}"/>' for t in types]
            out.append("</Tags>")
        out.append("<Layout>")
        for page in pages:
            out.extend(self._page(page))
        out += ["</Layout>", "</alto>", ""]
        return "\n".join(out).encode("utf-8")

    @staticmethod
    def _settings(job: Job) -> str:
        parts = [f"tier={job.tier}", f"language={job.language}"]
        if job.engine:
            parts.append(f"engine={job.engine}")
        if job.tool:
            parts.append(f"tool={job.tool}")
        return "; ".join(parts)

    def _page(self, page: Page) -> list[str]:
        n = page.index + 1
        attrs = f'ID="page_{n}" PHYSICAL_IMG_NR="{n}"'
        attrs += f' WIDTH="{num(page.width)}" HEIGHT="{num(page.height)}"'
        ocr = page.source != "text-layer"
        refs = ["OCR_0"] + ([f"ROTATE_{n}"] if page.rotation else [])
        attrs += f' PROCESSINGREFS="{" ".join(refs)}"'
        if ocr and page.confidence is not None:
            attrs += f' PC="{_wc(page.confidence)}"'
        lang = _lang(page)
        if lang:
            attrs += f' LANG="{lang}"'
        out = [f"<Page {attrs}>"]
        out.append(
            f'<PrintSpace ID="ps_{n}" HPOS="0" VPOS="0"'
            f' WIDTH="{num(page.width)}" HEIGHT="{num(page.height)}">'
        )
        line_no = 0
        for b_no, para in enumerate(_paragraphs([b for b in page.blocks if b.text.strip()])):
            box = _box(union_bbox([b.bbox for b in para]))
            out.append(f'<TextBlock ID="block_{n}_{b_no + 1}"{box}>')
            for block in para:
                line_no += 1
                out.append(self._line(block, f"line_{n}_{line_no}", ocr))
            out.append("</TextBlock>")
        out += ["</PrintSpace>", "</Page>"]
        return out

    def _line(self, block: Block, line_id: str, ocr: bool) -> str:
        attrs = f'ID="{line_id}"{_box(block.bbox)}'
        if is_rtl(block.text):
            attrs += ' BASEDIRECTION="rtl"'
        if block.type != "text":
            attrs += f' TAGREFS="TYPE_{block.type}"'
        words = [w for w in block.words if w.text] or [
            Word(block.text.strip(), block.bbox, block.confidence)  # type: ignore[arg-type]
        ]
        parts = []
        for i, w in enumerate(words):
            s = f'<String ID="{line_id}_w{i + 1}" CONTENT={quoteattr(w.text)}{_box(w.bbox)}'
            if ocr:
                s += f' WC="{_wc(w.confidence)}"'
            parts.append(s + "/>")
        return f"<TextLine {attrs}>" + "<SP/>".join(parts) + "</TextLine>"


@hookimpl
def register_exporters(register: Callable[[Exporter], None]) -> None:
    register(AltoExporter())
