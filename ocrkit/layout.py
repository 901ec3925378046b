"""Layout of one page: lines in reading order, paragraphs, headings, lists, page
furniture, confidence flags; the page's text and Markdown.

Entry points (stable; other parts of ocrkit call them):

* :func:`finish_page` ``(page, sizes=None, bold=None)``: the whole analysis, then
  :func:`render_page`. The pipeline calls it on every page (``sizes``/``bold``: font size
  in points and all-bold flag per line, known for a PDF's own text layer). It is
  idempotent: a tool that changed the page (the ``extract-tables`` tool adds
  ``page.tables``) may call it again; types already set (``heading``, ``list_item``,
  ``furniture``, ..., by an earlier call or by an engine) are kept.
* :func:`render_page` ``(page)``: only ``page.text`` and ``page.markdown`` from the
  blocks as they are (order, types, paragraphs) and ``page.tables``.
* :func:`finish_job` ``(job)``: cross-page running headers/footers; called by
  :meth:`ocrkit.models.Job.finish`.

What :func:`finish_page` does, in order:

1. **Lines.** An engine line that jumps a gap wider than :data:`SPLIT_GAP` text heights
   is split there (Tesseract joins lines across narrow column gutters). A bullet glyph
   set apart from its text (PDFs) is joined to it; an OCR'd bullet (a small blob that
   Tesseract reads as ``e``, ``¢`` or ``«``) becomes ``•``.
2. **Reading order** (:mod:`ocrkit.reading_order`): columns left to right, each top to
   bottom; a line spanning the columns (a heading) before or after them, as it stands.
   Skipped when the engine gave the order itself (a line without a box, i.e. a vlm
   page): lines without a box stay after the line they followed.
3. **Furniture** (``type="furniture"``): a page number (``7``, ``- 7 -``, ``Page 7 of
   9``, ``vii``) in the top or bottom :data:`MARGIN` of the page; across pages,
   :func:`finish_job` also marks lines repeated in those margins on several pages
   (running headers and footers, digits ignored). Furniture lines stay in
   ``page.blocks`` and in ``page.text`` (the text is everything on the page, in order:
   headers first, footers last), and are left out of ``page.markdown`` (and of docx):
   the Markdown is the document, not the page.
4. **Headings** (``type="heading"``): lines whose text size is at least
   :data:`HEADING_RATIO` times the body size (the size most characters have). Text-layer
   pages use the PDF's font sizes, and a short all-bold line in a non-bold body is a
   heading too; OCR pages estimate the size from the word boxes (a word's box height
   over the share of the em its letters reach: ascenders, x-height, descenders).
   Markdown levels: heading sizes are clustered (within 15 %); the largest cluster is
   ``#`` when it is at least :data:`H1_RATIO` times the body size, else ``##``; each
   smaller cluster one level deeper.
5. **Lists** (``type="list_item"``): a line starting with a bullet glyph or ``-``/``*``,
   or with a label ``1.``, ``2)``, ``(3)``, ``a)``. Lines that follow an item and
   start at its text (a hanging indent) continue it (same ``paragraph``, type ``text``).
6. **Paragraphs** (``paragraph`` index): a new paragraph starts at a new column, at a
   vertical gap above :data:`PARA_GAP` line heights, at an indent, after a line that
   ended short of the column, where the engine started one, and where the type changes.
7. **Confidence**: a line with words gets the mean of its words' confidences weighted by
   their length; a line below :data:`LOW_CONFIDENCE` gets ``"low_confidence"`` in
   ``flags``; ``page.confidence`` is :func:`ocrkit.models.weighted_confidence` over all
   words of the page (the job's ``mean_confidence`` is the same over all pages).

Markdown (:func:`page_markdown`): headings ``#``; a paragraph's lines joined by soft
breaks; list items ``- text`` or ``3. text`` (consecutive items form one list); each of
``page.tables`` as a pipe table where its first line was (lines inside a table's box
are the table), or, with no line inside, before the first line below it; text that
would read as Markdown syntax is escaped. Every function accepts ``bbox=None``.
"""

from __future__ import annotations

import re
from collections import Counter
from statistics import median
from typing import TYPE_CHECKING

from ocrkit import reading_order
from ocrkit.models import Block, Page, Table, Word, weighted_confidence

if TYPE_CHECKING:
    from ocrkit.models import Job

PARA_GAP = 0.9
INDENT = 1.2
HEADING_RATIO = 1.2
OCR_HEADING_RATIO = 1.25  # estimated sizes are noisier
H1_RATIO = 1.5
SPLIT_GAP = 1.2
MARGIN = 0.1
LOW_CONFIDENCE = 0.75  # tesseract: clean print 0.9+, a line with misreads below
BULLETS = "•◦▪●○■□‣⁃∙·➢►▶–"
_OCR_BULLETS = set("•◦▪●○■□‣⁃∙·eoO0©®¢«»°*+-·.")
_LABEL = re.compile(r"^(\(?(\d{1,3}|[a-zA-Z]|[ivxIVX]{1,4})[.)])(?=\s)")
_PAGE_NUMBER = re.compile(
    r"^(page\s+|p\.\s*|seite\s+)?[-–—]?\s*(\d{1,4}|[ivxlc]{1,6})\s*[-–—]?"
    r"(\s*(of|/|von)\s*\d{1,4})?$",
    re.IGNORECASE,
)

# ------------------------------------------------------------------ sizes of lines

_ASC = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789bdfhklt()[]{}|/\\!?%&$#@")
_DESC = set("gjpqy()[]{}|")
# Share of the em a word's box covers: (ascender, descender) present.
_EM_SHARE = {(True, True): 0.96, (True, False): 0.74, (False, True): 0.76, (False, False): 0.54}


def _word_em(w: Word) -> float | None:
    h = w.bbox[3] - w.bbox[1]
    letters = [c for c in w.text if c.isalnum()]
    if not letters or h <= 0:
        return None
    if any(not (c.isascii() or c in "äöüÄÖÜéèàç") for c in letters):
        return h / 0.9  # other scripts: the box is most of the em
    asc = any(c in _ASC or c in "ÄÖÜ" for c in w.text)
    desc = any(c in _DESC for c in w.text)
    return h / _EM_SHARE[(asc, desc)]


def line_size(b: Block, source: str = "ocr") -> float | None:
    """A number proportional to the line's font size (None without a box).

    Text-layer boxes are the font's full height, so their height is used; OCR boxes hug
    the ink, so the size is estimated word by word."""
    if b.bbox is None:
        return None
    if source != "text-layer" and b.words:
        ems = [e for e in (_word_em(w) for w in b.words) if e]
        if ems:
            return median(ems)
    return max(1.0, b.bbox[3] - b.bbox[1])


def _height(b: Block) -> float:
    return max(1.0, b.bbox[3] - b.bbox[1]) if b.bbox is not None else 1.0


# ------------------------------------------------------------------ lines


def _box(words: list[Word]) -> list[float]:
    return [
        min(w.bbox[0] for w in words),
        min(w.bbox[1] for w in words),
        max(w.bbox[2] for w in words),
        max(w.bbox[3] for w in words),
    ]


def _word_spans(text: str, words: list[Word]) -> list[tuple[int, int]] | None:
    """Where each word of a line is in the line's text (None when they are not there)."""
    pos, spans = 0, []
    for w in words:
        at = text.find(w.text, pos)
        if at < 0:
            return None
        pos = at + len(w.text)
        spans.append((at, pos))
    return spans


def _sub_text(text: str, words: list[Word], first: int, last: int) -> str:
    """The part of ``text`` that ``words[first:last]`` came from (the engine's own
    spacing, e.g. none between CJK words)."""
    spans = _word_spans(text, words)
    if spans is None:
        return " ".join(w.text for w in words[first:last])
    return text[spans[first][0] : spans[last - 1][1]]


def _is_label(word: Word, line_h: float) -> bool:
    """A bullet blob or a list label as the first word of a line."""
    t = word.text.strip()
    small = word.bbox[3] - word.bbox[1] < 0.55 * line_h
    return bool(_LABEL.match(t + " ")) or (len(t) <= 2 and (t[:1] in BULLETS or small))


def split_wide_gaps(blocks: list[Block]) -> list[Block]:
    """Split lines at word gaps wider than :data:`SPLIT_GAP` times the line's height.
    When any line was split, the engine's paragraphs are dropped (they were made
    across the columns, too)."""
    out: list[Block] = []
    split = False
    for b in blocks:
        if b.bbox is None or len(b.words) < 2:
            out.append(b)
            continue
        h = median(w.bbox[3] - w.bbox[1] for w in b.words)
        h = max(h, 1.0)
        parts: list[list[Word]] = [[b.words[0]]]
        for prev, w in zip(b.words, b.words[1:], strict=False):
            first = len(parts) == 1 and len(parts[0]) == 1
            if w.bbox[0] - prev.bbox[2] > SPLIT_GAP * h and not (
                first and _is_label(prev, _height(b))
            ):
                parts.append([w])
            else:
                parts[-1].append(w)
        if len(parts) == 1:
            out.append(b)
            continue
        split = True
        start = 0
        for ws in parts:
            start += len(ws)
            out.append(
                Block(
                    text=_sub_text(b.text, b.words, start - len(ws), start),
                    bbox=_box(ws),
                    confidence=weighted_confidence([Block("", None, 0.0, ws)]) or b.confidence,
                    words=ws,
                    type=b.type,
                    paragraph=b.paragraph,
                    flags=list(b.flags),
                )
            )
    if split:
        for b in out:
            b.paragraph = None
    return out


def merge_bullets(blocks: list[Block]) -> list[Block]:
    """Join a line that is only a bullet glyph to the line beside it (PDFs often set
    the bullet apart from its text)."""
    out: list[Block] = []
    i = 0
    while i < len(blocks):
        b = blocks[i]
        nxt = blocks[i + 1] if i + 1 < len(blocks) else None
        if (
            nxt is not None
            and b.bbox is not None
            and nxt.bbox is not None
            and b.text.strip() in set(BULLETS)
            and _same_row(b, nxt)
        ):
            nxt.text = b.text.strip() + " " + nxt.text
            nxt.words = [*b.words, *nxt.words]
            nxt.bbox = [
                min(b.bbox[0], nxt.bbox[0]),
                min(b.bbox[1], nxt.bbox[1]),
                max(b.bbox[2], nxt.bbox[2]),
                max(b.bbox[3], nxt.bbox[3]),
            ]
            if nxt.type == "text":
                nxt.type = "list_item"
            i += 1
            continue
        out.append(b)
        i += 1
    return out


def _same_row(a: Block, b: Block) -> bool:
    if a.bbox is None or b.bbox is None:
        return False
    overlap = min(a.bbox[3], b.bbox[3]) - max(a.bbox[1], b.bbox[1])
    return overlap > 0.3 * min(_height(a), _height(b))


def fix_ocr_bullets(blocks: list[Block]) -> None:
    """A small blob before a line's first word is a bullet, whatever Tesseract read."""
    for b in blocks:
        if b.bbox is None or len(b.words) < 2 or b.type != "text":
            continue
        w0, w1 = b.words[0], b.words[1]
        t = w0.text.strip()
        h0 = w0.bbox[3] - w0.bbox[1]
        rest = median(w.bbox[3] - w.bbox[1] for w in b.words[1:])
        if (
            t not in BULLETS
            and len(t) <= 2
            and all(c in _OCR_BULLETS for c in t)
            and h0 < 0.6 * rest
            and w1.bbox[0] - w0.bbox[2] > 0.3 * rest
        ):
            w0.text = "•"
            b.text = "• " + _sub_text(b.text, b.words, 1, len(b.words))


# ------------------------------------------------------------------ reading order


def order_blocks(blocks: list[Block], width: float) -> list[Block]:
    """Blocks in reading order; lines without a box stay after the line they followed."""
    boxed = [b for b in blocks if b.bbox is not None]
    if not boxed:
        return list(blocks)
    ordered = [boxed[i] for i in reading_order.order([b.bbox for b in boxed], width)]  # type: ignore[misc]
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


# ------------------------------------------------------------------ furniture


def _in_margin(b: Block, page: Page) -> str | None:
    if b.bbox is None or not page.height:
        return None
    cy = (b.bbox[1] + b.bbox[3]) / 2
    if cy < MARGIN * page.height:
        return "top"
    if cy > (1 - MARGIN) * page.height:
        return "bottom"
    return None


def mark_page_numbers(page: Page) -> None:
    """A page number alone on a line in the top or bottom margin is furniture."""
    body = [b for b in page.blocks if b.text.strip()]
    if len(body) < 2:
        return  # a lone line is content, whatever it says
    for b in body:
        if b.type == "text" and _in_margin(b, page) and _PAGE_NUMBER.match(b.text.strip()):
            b.type = "furniture"


def _furniture_key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def finish_job(job: Job) -> None:
    """Mark running headers and footers: a line in the top or bottom margin whose text
    (digits ignored) recurs in the same margin on at least two pages and on at least
    40 % of the pages. Affected pages are rendered again."""
    pages = [p for p in job.pages if p.blocks]
    if len(pages) < 2:
        return
    seen: Counter[tuple[str, str]] = Counter()
    cand: list[tuple[Page, Block, tuple[str, str]]] = []
    for p in pages:
        keys = set()
        for b in p.blocks:
            zone = _in_margin(b, p)
            if zone and b.text.strip() and b.type in ("text", "heading", "furniture"):
                key = (zone, _furniture_key(b.text))
                keys.add(key)
                cand.append((p, b, key))
        seen.update(keys)
    need = max(2, -(-len(pages) * 2 // 5))
    changed: dict[int, Page] = {}
    for p, b, key in cand:
        if seen[key] >= need and b.type != "furniture":
            b.type = "furniture"
            changed[id(p)] = p
    for p in changed.values():
        assign_paragraphs(p.blocks)
        render_page(p)


# ------------------------------------------------------------------ headings


def mark_headings(blocks: list[Block], sizes: list[float], bold: list[bool] | None = None) -> None:
    """Mark headings on a text-layer page: lines whose font is at least
    :data:`HEADING_RATIO` times the body size, or short all-bold lines when the body
    text is not bold. Sets ``type="heading"`` on ``text`` lines."""
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
        if bigger or (bb and not body_bold and s >= body * 0.99 and not text.endswith(",")):
            b.type = "heading"


def _heading_text(text: str) -> bool:
    return (
        0 < len(text) <= 150
        and text[0] not in BULLETS
        and sum(c.isalpha() for c in text) >= 2
        and len(text.split()) <= 20
    )


def mark_ocr_headings(blocks: list[Block]) -> None:
    """Headings on an OCR page: estimated text size at least :data:`OCR_HEADING_RATIO`
    times the body size (the size most characters have)."""
    sized = [(b, line_size(b)) for b in blocks if b.bbox is not None and b.text.strip()]
    body = _body_size([(b, s) for b, s in sized if s and b.type in ("text", "list_item")])
    if not body:
        return
    for b, s in sized:
        if b.type == "text" and s and s >= OCR_HEADING_RATIO * body and _heading_text(b.text):
            b.type = "heading"


def _body_size(sized: list[tuple[Block, float | None]]) -> float | None:
    """Median size over characters."""
    values = sorted((s, len(b.text)) for b, s in sized if s)
    total = sum(n for _, n in values)
    acc = 0
    for s, n in values:
        acc += n
        if acc * 2 >= total:
            return s
    return None


def heading_levels(page: Page) -> dict[int, int]:
    """``id(block)`` -> Markdown level for the page's heading lines."""
    source = page.source
    heads = [b for b in page.blocks if b.type == "heading"]
    if not heads:
        return {}
    body = _body_size(
        [(b, line_size(b, source)) for b in page.blocks if b.type in ("text", "list_item")]
    )
    sized = sorted(
        ((line_size(b, source) or 0.0, b) for b in heads), key=lambda t: t[0], reverse=True
    )
    levels: dict[int, int] = {}
    top = sized[0][0]
    level = 1 if body and top >= H1_RATIO * body else 2
    anchor = top
    for s, b in sized:
        if s and anchor and s < anchor / 1.15:
            level, anchor = min(level + 1, 6), s
        levels[id(b)] = level
    return levels


# ------------------------------------------------------------------ lists


def _list_label(text: str) -> tuple[str, str] | None:
    """(marker, rest) when the line starts a list item: marker "-" or "3." / "3)"."""
    t = text.strip()
    if len(t) > 1 and (t[0] in BULLETS or (t[0] in "-*" and t[1] == " ")):
        rest = t[1:].strip()
        return ("-", rest) if rest else None
    m = _LABEL.match(t)
    if m and len(t) > len(m.group(1)) + 1:
        label, rest = m.group(1), t[len(m.group(1)) :].strip()
        if label[:-1].isdigit():
            return label, rest
        return "-", t  # a), (iv): keep the label, as a bullet item
    return None


def mark_list_items(blocks: list[Block]) -> None:
    for b in blocks:
        if b.type == "text" and _list_label(b.text) is not None:
            b.type = "list_item"


# ------------------------------------------------------------------ paragraphs


def assign_paragraphs(blocks: list[Block]) -> None:
    """Set ``paragraph`` on every block (reading order assumed). Paragraphs the blocks
    already have (the engine's, or an earlier call's) are kept apart, and the geometric
    breaks are added."""
    hints = [b.paragraph for b in blocks]
    use_hints = any(h is not None for h in hints)
    boxed = [b for b in blocks if b.bbox is not None]
    h = median(_height(b) for b in boxed) if boxed else 1.0
    para = -1
    prev: Block | None = None
    prev_hint: int | None = None
    col_right = 0.0
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
            # the right edge of the body lines of this column so far
            if new_col or prev.type not in ("text", "list_item") or b.type != "text":
                col_right = b.bbox[2]
            else:
                col_right = max(col_right, prev.bbox[2], b.bbox[2])
            engine_break = use_hints and hint != prev_hint
            if new_col or engine_break or _breaks(prev, b, h, col_right):
                para += 1
        b.paragraph = para
        prev, prev_hint = b, hint


def _new_column(prev: Block, b: Block, h: float) -> bool:
    assert prev.bbox is not None and b.bbox is not None
    moved_up = b.bbox[1] < prev.bbox[1] - 0.5 * h
    no_overlap = b.bbox[0] > prev.bbox[2] or b.bbox[2] < prev.bbox[0]
    return moved_up or no_overlap


def _breaks(prev: Block, b: Block, h: float, col_right: float) -> bool:
    assert prev.bbox is not None and b.bbox is not None
    if b.type != prev.type and b.type != "text" or b.type == "list_item":
        return True
    if prev.type in ("heading", "furniture", "table", "caption") and b.type == "text":
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
        if t in BULLETS or _LABEL.match(t + " ") or len(t) <= 2:
            return b.words[1].bbox[0]
    return b.bbox[0]


# ------------------------------------------------------------------ confidence


def flag_confidence(page: Page, threshold: float = LOW_CONFIDENCE) -> None:
    """Line confidence from its words (length-weighted), low-confidence flags, and the
    page's confidence (:func:`ocrkit.models.weighted_confidence`)."""
    for b in page.blocks:
        if b.words and page.source != "text-layer":
            c = weighted_confidence([Block("", None, 0.0, b.words)])
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


# ------------------------------------------------------------------ the page


def _inside(b: Block, t: Table) -> bool:
    if not t.bbox or b.bbox is None:
        return False
    cx, cy = (b.bbox[0] + b.bbox[2]) / 2, (b.bbox[1] + b.bbox[3]) / 2
    return t.bbox[0] <= cx <= t.bbox[2] and t.bbox[1] <= cy <= t.bbox[3]


def finish_page(
    page: Page,
    sizes: list[float] | None = None,
    bold: list[bool] | None = None,
    *,
    low_confidence: float = LOW_CONFIDENCE,
) -> None:
    """The layout analysis of the module docstring, then :func:`render_page`."""
    blocks = page.blocks
    text_layer = bool(sizes) and len(sizes or []) == len(blocks)
    if text_layer:
        mark_headings(blocks, sizes or [], bold)
        blocks = merge_bullets(blocks)
    blocks = split_wide_gaps(blocks)
    if not text_layer:
        fix_ocr_bullets(blocks)
    engine_order = any(b.bbox is None for b in blocks)
    if not engine_order:
        blocks = order_blocks(blocks, page.width or 1.0)
    page.blocks = blocks
    mark_page_numbers(page)
    for b in blocks:
        if b.type == "text" and any(_inside(b, t) for t in page.tables):
            b.type = "table"
    if not text_layer and page.source != "text-layer":
        mark_ocr_headings(blocks)
    mark_list_items(blocks)
    _furniture_to_edges(page)
    assign_paragraphs(page.blocks)
    flag_confidence(page, low_confidence)
    render_page(page)


def _furniture_to_edges(page: Page) -> None:
    """Top-margin furniture first, bottom-margin furniture last."""
    top = [b for b in page.blocks if b.type == "furniture" and _in_margin(b, page) == "top"]
    bottom = [b for b in page.blocks if b.type == "furniture" and _in_margin(b, page) == "bottom"]
    if not top and not bottom:
        return
    moved = {id(b) for b in top + bottom}
    page.blocks = [*top, *(b for b in page.blocks if id(b) not in moved), *bottom]


def render_page(page: Page) -> None:
    """``page.text`` and ``page.markdown`` from the page's blocks and tables as they are."""
    page.text = page_text(page)
    page.markdown = page_markdown(page)


def _paragraphs(blocks: list[Block]) -> list[list[Block]]:
    out: list[list[Block]] = []
    last: object = object()
    for b in blocks:
        if not b.text.strip():
            continue
        if not out or b.paragraph != last or b.paragraph is None:
            out.append([])
        out[-1].append(b)
        last = b.paragraph
    return out


def page_text(page: Page) -> str:
    return "\n\n".join("\n".join(b.text for b in p) for p in _paragraphs(page.blocks))


# ------------------------------------------------------------------ Markdown

_LINE_START = re.compile(
    r"^(\s*)(#{1,6}(?=\s|$)|>|[-+*](?=\s|$)|\d{1,9}[.)](?=\s|$)|`{3,}|~{3,}"
    r"|[=\-_*]{3,}\s*$|=+\s*$|\||\\)"
)


def _escape_inline(text: str) -> str:
    """HTML-like ``<tags`` and a line-end backslash (a hard break), escaped."""
    text = re.sub(r"<(?=[A-Za-z/!?])", r"\\<", text.strip())
    if text.endswith("\\") and not text.endswith("\\\\"):
        text += "\\"
    return text


def escape_line(text: str) -> str:
    """Escape Markdown syntax in a line of plain text: at its start (so it never turns
    into a heading, list, quote, fence or rule by accident) and inline HTML/code."""
    text = _escape_inline(text)
    m = _LINE_START.match(text)
    if not m:
        return text
    token = m.group(2)
    if token[0].isdigit():  # "1." -> "1\."
        return token[:-1] + "\\" + token[-1] + text[len(token) :]
    return "\\" + text


def _join(lines: list[str]) -> str:
    """Lines of one paragraph as one string; a line-end hyphen before a lower-case
    letter is joined (``infor-`` + ``mation``)."""
    out = ""
    for line in (ln.strip() for ln in lines):
        if out.endswith("-") and line[:1].islower() and out[-2:-1].isalpha():
            out = out[:-1] + line
        else:
            out = f"{out} {line}" if out else line
    return out


def page_markdown(page: Page) -> str:
    """The page as Markdown (see the module docstring)."""
    levels = heading_levels(page)
    tables = list(page.tables)
    placed = [t for t in tables if any(_inside(b, t) for b in page.blocks)]
    parts: list[tuple[str, str]] = []  # (kind, markdown); list items join tightly
    for para in _paragraphs([b for b in page.blocks if b.type != "furniture"]):
        inside = [t for t in page.tables if any(_inside(b, t) for b in para)]
        for t in inside:
            if t in tables:
                tables.remove(t)
                parts.append(("table", table_markdown(t)))
        if inside:
            continue
        for t in _tables_above(para[0], [t for t in tables if t not in placed]):
            tables.remove(t)
            parts.append(("table", table_markdown(t)))
        first = para[0]
        if first.type == "heading":
            text = _join([b.text for b in para]).rstrip("#").strip()
            parts.append(("heading", "#" * levels.get(id(first), 2) + " " + _escape_heading(text)))
            continue
        label = _list_label(first.text) if first.type == "list_item" else None
        if label is not None:
            marker, rest = label
            body = _join([rest] + [b.text for b in para[1:]])
            kind = "bullet" if marker == "-" else "ordered" + marker[-1]
            parts.append((kind, f"{marker} {escape_line(body)}"))
            continue
        parts.append(("text", "\n".join(escape_line(b.text) for b in para)))
    parts.extend(("table", table_markdown(t)) for t in tables)
    out = ""
    prev = ""
    for kind, md in parts:
        if not md:
            continue
        if out:
            tight = kind == prev and kind.startswith(("bullet", "ordered"))
            out += "\n" if tight else "\n\n"
        out += md
        prev = kind
    return out


def _escape_heading(text: str) -> str:
    # after "# " only a closing "#" sequence is syntax (stripped before)
    return _escape_inline(text)


def _tables_above(b: Block, tables: list[Table]) -> list[Table]:
    """Tables (with no line inside) that stand above this line in its column."""
    if b.bbox is None:
        return []
    out = []
    for t in tables:
        if t.bbox and t.bbox[1] <= b.bbox[1] and t.bbox[0] < b.bbox[2] and b.bbox[0] < t.bbox[2]:
            out.append(t)
    return out


def table_markdown(table: Table) -> str:
    grid = table.grid()
    if not grid or not grid[0]:
        return ""

    def cell(s: str) -> str:
        return " ".join(s.split()).replace("\\", "\\\\").replace("|", "\\|")

    rows = ["| " + " | ".join(cell(c) for c in r) + " |" for r in grid]
    sep = "| " + " | ".join("---" for _ in grid[0]) + " |"
    return "\n".join([rows[0], sep, *rows[1:]])
