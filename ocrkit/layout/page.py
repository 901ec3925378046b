"""Layout of one page: lines in reading order, paragraphs, headings, lists, page
furniture, confidence flags; then the page's text and Markdown (:mod:`ocrkit.layout.markdown`).

Entry points (stable; other parts of ocrkit call them):

* :func:`finish_page` ``(page, sizes=None, bold=None)``: the whole analysis, then
  :func:`render_page`. The pipeline calls it on every page (``sizes``/``bold``: font size
  in points and all-bold flag per line, known for a PDF's own text layer). It is
  idempotent, so a tool that changed the page may call it again; types already set
  (``heading``, ``list_item``, ``furniture``, ``table``..., by an earlier call or by an
  engine) are kept, only ``text`` lines are typed.
* :func:`render_page` ``(page)``: only ``page.text`` and ``page.markdown``, from the
  blocks as they are (order, types, paragraphs) and ``page.tables``. The
  ``extract-tables`` tool calls it after putting its tables on ``page.tables``: each
  table appears in the Markdown where its lines were.
* :func:`finish_job` ``(job)``: running headers/footers across pages; called by
  :meth:`ocrkit.models.Job.finish`.

What :func:`finish_page` does, in order (every step accepts ``bbox=None``):

1. **Lines** (:mod:`ocrkit.layout.lines`). A line that crosses a column gutter is split there
   (Tesseract joins lines straight across narrow gutters). A bullet glyph set apart
   from its text (PDFs) is joined to it; an OCR'd bullet (a small blob Tesseract reads
   as ``e``, ``¢`` or ``«``) becomes ``•``.
2. **Reading order** (:mod:`ocrkit.layout.reading_order`): columns left to right, each top to
   bottom; a line spanning the columns (a heading) before or after them, where it
   stands. Skipped when the engine gave the order itself (``page.extra["reading_order"]
   == "engine"``: a vlm page; then lines are not split at gutters and headings are the
   engine's) or a line has no box; lines without a box stay after the line they followed.
3. **Confidence**: a line with words gets the mean of its words' confidences weighted by
   their length; a line below :data:`LOW_CONFIDENCE` gets ``"low_confidence"`` in
   ``flags``; ``page.confidence`` is :func:`ocrkit.models.weighted_confidence` over all
   words of the page (the job's ``mean_confidence`` is the same over all pages).
4. **Furniture** (``type="furniture"``, :mod:`ocrkit.layout.furniture`): a page number (``7``,
   ``- 7 -``, ``Page 7 of 9``, ``vii``, ``7-45``) in the top or bottom tenth of a page
   with other text
   (or apart from the text just above or below it: scans have wide borders), and a
   first line that is a running head with its folio (``70 DROIT COUTUMIER.``); across
   pages, :func:`finish_job` also marks lines repeated in those margins on several pages
   (running headers and footers, digits ignored). Furniture lines stay in
   ``page.blocks`` and in ``page.text`` (the text is everything on the page, in order:
   headers first, footers last) and are left out of ``page.markdown`` (and docx): the
   Markdown is the document, not the printed page.
5. **Headings** (``type="heading"``): lines whose text size is at least
   :data:`HEADING_RATIO` (OCR: :data:`OCR_HEADING_RATIO`) times the body size (the size
   most characters have). Text-layer pages use the PDF's font sizes, and a short
   all-bold line in a non-bold body is a heading too; OCR pages estimate sizes from the
   word boxes (:func:`ocrkit.layout.lines.line_size`) and need the line's confidence above
   :data:`LOW_CONFIDENCE`. Markdown levels: :func:`ocrkit.layout.markdown.heading_levels`.
6. **Captions** (``type="caption"``): a line starting ``Figure 3``, ``Table 2``,
   ``Listing 1`` (also German/French). **Lists** (``type="list_item"``): a line
   starting with a bullet glyph or ``-``/``*``,
   or with a label ``1.``, ``2)``, ``(3)``, ``a)``. Lines that follow an item and
   start at its text (a hanging indent) continue it (same ``paragraph``, type ``text``).
7. **Paragraphs** (``paragraph`` index): a new paragraph starts at a new column
   (unless the column's last line is full, ends no sentence, and the next column
   starts in lower case: the paragraph runs on), at a
   vertical gap above :data:`PARA_GAP` line heights, at an indent, after a line that
   ended short of the column's body lines, where the engine started one (unless lines
   had to be split at gutters: then the engine's paragraphs were wrong too), and where
   the type changes.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from statistics import median
from typing import TYPE_CHECKING

from ocrkit.layout import furniture, reading_order
from ocrkit.layout.lines import (
    BULLETS,
    LABEL,
    body_size,
    fix_ocr_bullets,
    line_height,
    line_size,
    list_label,
    merge_bullets,
    merge_row_fragments,
    split_wide_gaps,
    stroke_weights,
)
from ocrkit.layout.markdown import (
    escape_line,
    heading_levels,
    inside,
    page_markdown,
    page_text,
    render_page,
    table_markdown,
)
from ocrkit.models import Block, Page, weighted_confidence

if TYPE_CHECKING:
    from PIL import Image

    from ocrkit.models import Job

__all__ = [
    "assign_paragraphs",
    "escape_line",
    "finish_job",
    "finish_page",
    "heading_levels",
    "line_size",
    "page_markdown",
    "page_text",
    "render_page",
    "table_markdown",
]

PARA_GAP = 0.9
INDENT = 1.2
HEADING_RATIO = 1.2
OCR_HEADING_RATIO = 1.25  # estimated sizes are noisier
BOLD_RATIO = 1.3
LOW_CONFIDENCE = 0.75  # tesseract: clean print 0.9+, a line with misreads below


def finish_page(
    page: Page,
    sizes: list[float] | None = None,
    bold: list[bool] | None = None,
    *,
    low_confidence: float = LOW_CONFIDENCE,
    image: Image.Image | None = None,
) -> None:
    """The layout analysis of the module docstring, then :func:`render_page`.

    ``image``: the upright page image the boxes refer to; with it, bold lines of an OCR
    page can be headings too (stroke width, :func:`ocrkit.layout.lines.stroke_weights`)."""
    blocks = page.blocks
    text_layer = bool(sizes) and len(sizes or []) == len(blocks)
    # An engine that reads whole pages (vlm) gives lines, order and types itself.
    engine_layout = page.extra.get("reading_order") == "engine"
    if text_layer:
        mark_headings(blocks, sizes or [], bold)
        blocks = merge_bullets(blocks)
    if not engine_layout:
        blocks = split_wide_gaps(blocks, "text-layer" if text_layer else page.source)
    if not text_layer and not engine_layout:
        fix_ocr_bullets(blocks)
    # Vertical CJK (columns read top to bottom, right to left): Tesseract's *_vert
    # models give the columns in reading order; row-based ordering would merge them.
    engine_order = engine_layout or any(b.bbox is None for b in blocks) or is_vertical(blocks)
    if not engine_order:
        blocks = merge_row_fragments(order_blocks(blocks, page.width or 1.0))
    page.blocks = blocks
    flag_confidence(page, low_confidence)
    furniture.mark_page_numbers(page)
    for b in blocks:
        if b.type == "text" and any(inside(b, t) for t in page.tables):
            b.type = "table"
    if not text_layer and page.source != "text-layer" and not engine_layout:
        weights = stroke_weights(blocks, image) if image is not None else {}
        mark_ocr_headings(blocks, low_confidence, weights)
    mark_captions(blocks)
    mark_list_items(blocks)
    furniture.to_edges(page)
    assign_paragraphs(page.blocks)
    render_page(page)


def is_vertical(blocks: list[Block]) -> bool:
    """Most text lines are columns: at least three times as tall as wide, 3+ chars."""
    tall = wide = 0
    for b in blocks:
        if b.bbox is None or len(b.text.strip()) < 3:
            continue
        x0, y0, x1, y1 = b.bbox
        if y1 - y0 >= 3 * (x1 - x0):
            tall += 1
        else:
            wide += 1
    return tall > wide


def is_rtl(blocks: list[Block]) -> bool:
    """Whether most letters of the page are of a right-to-left script."""
    rtl = ltr = 0
    # each distinct character once (a page has ~80 of them in ~2,000 letters)
    for c, n in Counter("".join(b.text for b in blocks)).items():
        kind = unicodedata.bidirectional(c)
        if kind in ("R", "AL"):
            rtl += n
        elif kind == "L":
            ltr += n
    return rtl > ltr


def order_blocks(blocks: list[Block], width: float) -> list[Block]:
    """Blocks in reading order; lines without a box stay after the line they followed."""
    boxed = [b for b in blocks if b.bbox is not None]
    if not boxed:
        return list(blocks)
    boxes = [b.bbox for b in boxed if b.bbox is not None]
    rtl = is_rtl(boxed)
    ordered = [boxed[i] for i in reading_order.order(boxes, width, rtl=rtl)]
    after: dict[int, list[Block]] = {}
    lead: list[Block] = []
    prev: Block | None = None
    for b in blocks:
        if b.bbox is None:
            (after.setdefault(id(prev), []) if prev is not None else lead).append(b)
        else:
            prev = b
    out = list(lead)
    for b in ordered:
        out.append(b)
        out.extend(after.get(id(b), []))
    return out


def finish_job(job: Job) -> None:
    """Running headers and footers across the job's pages
    (:func:`ocrkit.layout.furniture.mark_repeated`); affected pages get their paragraphs and
    text/Markdown again, unless their text or Markdown is not layout's own (a vlm
    engine's Markdown, a translation): those keep it."""
    for page in furniture.mark_repeated(job):
        assign_paragraphs(page.blocks)
        render_page(page)


def mark_headings(blocks: list[Block], sizes: list[float], bold: list[bool] | None = None) -> None:
    """Mark headings on a text-layer page: lines whose font is at least
    :data:`HEADING_RATIO` times the body size, or short lines set apart (all bold or all
    italic, ``bold``) in a body that is not, at least the body size, not ending like a
    sentence. Sets ``type="heading"`` on ``text`` lines."""
    if len(blocks) != len(sizes) or not blocks:
        return
    bold = bold if bold is not None and len(bold) == len(blocks) else [False] * len(blocks)
    weight: Counter[tuple[float, bool]] = Counter()
    for b, s, bb in zip(blocks, sizes, bold, strict=True):
        weight[(round(s, 1), bb)] += len(b.text)
    body, body_bold = weight.most_common(1)[0][0]
    if body <= 0:
        return
    for b, s, bb in zip(blocks, sizes, bold, strict=True):
        text = b.text.strip()
        if b.type != "text" or not _heading_text(text):
            continue
        bigger = s >= HEADING_RATIO * body
        apart = (
            bb
            and not body_bold
            and s >= body * 0.99
            and len(text.split()) <= 12
            and not text.endswith((".", ",", ";", ":"))
        )
        if bigger or apart:
            b.type = "heading"


def _heading_text(text: str) -> bool:
    return (
        0 < len(text) <= 150
        and text[0] not in BULLETS
        and _two_letters(text)
        and len(text.split()) <= 20
    )


def _two_letters(text: str) -> bool:
    """``sum(c.isalpha() for c in text) >= 2``, stopping at the second letter."""
    seen = False
    for c in text:
        if c.isalpha():
            if seen:
                return True
            seen = True
    return False


def mark_ocr_headings(
    blocks: list[Block],
    low_confidence: float = LOW_CONFIDENCE,
    weights: dict[int, float] | None = None,
) -> None:
    """Headings on an OCR page: estimated text size at least :data:`OCR_HEADING_RATIO`
    times the body size (the size most characters have), or, with stroke ``weights``,
    short lines at least the body size whose strokes are :data:`BOLD_RATIO` times the
    body's (bold), not ending like a sentence; read with at least ``low_confidence``
    (large smudges and noise read as big "words")."""
    weights = weights or {}
    sized = [(b, line_size(b)) for b in blocks if b.bbox is not None and b.text.strip()]
    body = body_size([(b, s) for b, s in sized if s and b.type in ("text", "list_item")])
    if not body:
        return
    body_weight = body_size([(b, weights.get(id(b))) for b, _ in sized if b.type == "text"])
    for b, s in sized:
        if b.type != "text" or not s or b.confidence < low_confidence:
            continue
        if not _heading_text(b.text):
            continue
        text = b.text.strip()
        bold = (
            body_weight is not None
            and weights.get(id(b), 0.0) >= BOLD_RATIO * body_weight
            and s >= 0.9 * body
            and len(text.split()) <= 12
            and not text.endswith((".", ",", ";", ":"))
        )
        if s >= OCR_HEADING_RATIO * body or bold:
            b.type = "heading"


_CAPTION = re.compile(r"^(Figure|Fig\.|Table|Listing|Abbildung|Abb\.|Tabelle|Tableau)\s*\d", re.I)


def mark_captions(blocks: list[Block]) -> None:
    """``Figure 3.``, ``Table 2:``, ``Listing 1:`` ... at the start of a line: a caption."""
    for b in blocks:
        if b.type == "text" and _CAPTION.match(b.text.strip()):
            b.type = "caption"


def mark_list_items(blocks: list[Block]) -> None:
    for b in blocks:
        if b.type == "text" and list_label(b.text) is not None:
            b.type = "list_item"


def assign_paragraphs(blocks: list[Block]) -> None:
    """Set ``paragraph`` on every block (reading order assumed). Paragraphs the blocks
    already have (the engine's, or an earlier call's) are kept apart, and the geometric
    breaks are added."""
    hints = [b.paragraph for b in blocks]
    use_hints = any(h is not None for h in hints)
    boxed = [b for b in blocks if b.bbox is not None]
    h = median(line_height(b) for b in boxed) if boxed else 1.0
    para = -1
    prev: Block | None = None
    prev_hint: int | None = None
    col_right = 0.0
    col_lines = 0
    for b, hint in zip(blocks, hints, strict=True):
        if not b.text.strip():
            b.paragraph = max(para, 0)
            continue
        if prev is None:
            para += 1
        elif b.bbox is None or prev.bbox is None:
            if not use_hints or hint != prev_hint or hint is None:
                para += 1
        else:
            new_col = _new_column(prev, b, h)
            carried = new_col and _carries_on(prev, b, col_right, col_lines, h)
            # the right edge of the body lines of this column so far
            if new_col or prev.type not in ("text", "list_item") or b.type != "text":
                col_right, col_lines = b.bbox[2], 1
            else:
                col_right = max(col_right, prev.bbox[2], b.bbox[2])
                col_lines += 1
            engine_break = use_hints and hint != prev_hint
            if not carried and (new_col or engine_break or _breaks(prev, b, h, col_right)):
                para += 1
        b.paragraph = para
        prev, prev_hint = b, hint


def _carries_on(prev: Block, b: Block, col_right: float, col_lines: int, h: float) -> bool:
    """A paragraph running on into the next column: the column's last line is full
    and does not end a sentence, and the next column starts in lower case."""
    assert prev.bbox is not None
    return (
        prev.type == b.type == "text"
        and col_lines >= 2
        and prev.bbox[2] >= col_right - h
        and not prev.text.rstrip().endswith((".", "!", "?", ":", '"', "”"))
        and b.text.lstrip()[:1].islower()
    )


def _new_column(prev: Block, b: Block, h: float) -> bool:
    assert prev.bbox is not None and b.bbox is not None
    moved_up = b.bbox[1] < prev.bbox[1] - 0.5 * h
    no_overlap = b.bbox[0] > prev.bbox[2] or b.bbox[2] < prev.bbox[0]
    return moved_up or no_overlap


def _breaks(prev: Block, b: Block, h: float, col_right: float) -> bool:
    assert prev.bbox is not None and b.bbox is not None
    if b.type != prev.type and b.type != "text" or b.type == "list_item":
        return True
    if prev.type in ("heading", "furniture", "table") and b.type == "text":
        return True
    if b.bbox[1] - prev.bbox[3] > PARA_GAP * h:
        return True  # a blank line's worth of space
    if prev.type == "list_item":
        # a hanging indent continues the item; anything else ends it
        return abs(b.bbox[0] - _text_left(prev)) > 0.8 * h
    if b.bbox[0] - _text_left(prev) > INDENT * h:
        return True  # indented first line
    # The previous line ended early: the first word of this line would have fit there.
    first = b.words[0].bbox if b.words else None
    if first is None:
        return False
    room = col_right - prev.bbox[2]
    return room > (first[2] - first[0]) + 0.6 * h


def _text_left(b: Block) -> float:
    """Where a line's text starts (after its bullet or label, for a list item)."""
    assert b.bbox is not None
    if b.type == "list_item" and len(b.words) > 1:
        t = b.words[0].text.strip()
        if t in BULLETS or LABEL.match(t + " ") or len(t) <= 2:
            return b.words[1].bbox[0]
    return b.bbox[0]


def flag_confidence(page: Page, threshold: float = LOW_CONFIDENCE) -> None:
    """Line confidence from its words (length-weighted), low-confidence flags, and the
    page's confidence (:func:`ocrkit.models.weighted_confidence`)."""
    for b in page.blocks:
        if b.words and page.source != "text-layer":
            c = weighted_confidence([b])
            if c is not None:
                b.confidence = c
        low = bool(b.text.strip()) and b.confidence < threshold
        if low and "low_confidence" not in b.flags:
            b.flags.append("low_confidence")
        elif not low and "low_confidence" in b.flags:
            b.flags.remove("low_confidence")
    conf = weighted_confidence(page.blocks)
    if conf is not None:
        page.confidence = conf
