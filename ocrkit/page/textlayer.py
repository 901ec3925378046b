"""A PDF page's own text layer: read it, and decide whether it can replace OCR.

A page keeps its text layer (no OCR) only when the layer is *usable*:

1. it has text at all;
2. the text is readable: at most :data:`MAX_GARBAGE` (10 %) of its characters are
   U+FFFD, private-use, unassigned or control characters (fonts without a Unicode map).
   List bullets are not counted: a lone unmapped glyph (or a Symbol/Wingdings bullet in
   the private-use area, U+F0B7 ...) at the start of a line becomes "•". The words that
   still hold unmapped glyphs on a page kept from its layer are read again by OCR
   (:func:`unmapped_words`; the pipeline does it), so U+FFFD never reaches the output;
3. it covers what is visibly printed. The page is rendered small (:data:`PROBE_DPI`)
   in grey; "ink" is every pixel clearly darker than its neighbourhood (an adaptive
   threshold, so large dark areas such as scan borders or smooth photo regions count
   only at their edges, while text strokes count fully). Ink inside the (slightly
   grown) boxes of the text spans is covered. When the uncovered ink is more than
   :data:`MAX_UNCOVERED_PAGE` of the page area *and* more than
   :data:`MAX_UNCOVERED_SHARE` of all ink, the layer is partial (a scanned page with a
   small text stamp, a page whose body is an image) and the page is OCR'd.

Invisible text (render mode 3, as OCRmyPDF writes it) counts: its boxes cover the
scanned words, so such a page keeps its layer.

Coordinates: PyMuPDF reports text in the unrotated page space (points); boxes here are
in pixels of the upright rendered page at ``dpi``: ``rect * page.rotation_matrix *
scale(dpi / 72)``.
"""

from __future__ import annotations

import unicodedata
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pymupdf
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from ocrkit.models import Block, Word

PROBE_MAX_PIXELS = 6_000_000
PROBE_DPI = 72
INK_CONTRAST = 48  # grey levels darker than the local mean
GROW_PT = 1.5  # text boxes grow by this much (points) before covering ink
MAX_GARBAGE = 0.10
BULLET = "\u2022"
# Bullets of the Symbol and Wingdings fonts as Word's PDFs map them (private use area).
PUA_BULLETS = frozenset("\uf0b7\uf0a7\uf0a8\uf076\uf0d8\uf0fc\uf06e\uf0e0\uf0f0\uf06c")
MAX_UNCOVERED_PAGE = 0.004
MAX_UNCOVERED_SHARE = 0.5
# Vector paths and shadings a page may draw besides text and still be taken as covered
# by its text without the probe (a page of outlined text draws hundreds).
MAX_PLAIN_DRAWINGS = 64

# Text flags for both "words" and "dict" so their block/line numbers agree.
FLAGS = (
    pymupdf.TEXT_PRESERVE_WHITESPACE
    | pymupdf.TEXT_PRESERVE_LIGATURES
    | (pymupdf.TEXT_MEDIABOX_CLIP)
)


@dataclass
class TextLayer:
    usable: bool
    reason: str
    blocks: list[Block] = field(default_factory=list)
    # Font size (points) of each block and whether it is set apart from the body text:
    # all bold or all italic (``bold`` for short; ocrkit.layout's headings), same order.
    sizes: list[float] = field(default_factory=list)
    bold: list[bool] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)


def unmapped(c: str) -> bool:
    """U+FFFD, private-use, unassigned, surrogate or control (not whitespace)."""
    return c == "\ufffd" or (
        not c.isspace() and unicodedata.category(c) in ("Co", "Cn", "Cc", "Cs")
    )


def garbage_ratio(text: str) -> float:
    # Each distinct character is judged once (a page has a few dozen, and ~10,000 chars).
    counts = Counter(text)
    total = sum(n for c, n in counts.items() if not c.isspace())
    if not total:
        return 0.0
    return sum(n for c, n in counts.items() if unmapped(c)) / total


def _plain(text: str) -> bool:
    """No character of ``text`` is unmapped, a Symbol/Wingdings bullet or an Arabic or
    Hebrew presentation form: :func:`fix_bullet` and :func:`fold_presentation_forms`
    leave each of its words as it is, and its garbage ratio is 0 (most pages)."""
    return not any(unmapped(c) or c in PUA_BULLETS or _presentation(c) for c in set(text))


def fix_bullet(word: str, first: bool) -> str:
    """A Symbol/Wingdings bullet anywhere, or a word of one or two unmapped glyphs
    opening a line (a list marker in a font without a Unicode map), -> "•"."""
    if word and all(c in PUA_BULLETS for c in word):
        return BULLET
    if first and 0 < len(word) <= 2 and all(unmapped(c) for c in word):
        return BULLET
    if word and word[0] in PUA_BULLETS:  # "\uf0b7Item" (no space after the bullet)
        return BULLET + " " + word[1:]
    return word


def _fixed_text(spans: list[dict[str, Any]]) -> str:
    """The spans' text with bullets fixed (what the garbage ratio is judged on)."""
    out: list[str] = []
    prev_line = None
    for s in spans:
        first = (s["block"], s["line"]) != prev_line
        prev_line = (s["block"], s["line"])
        words = s["text"].split()
        out.extend(fix_bullet(w, first and i == 0) for i, w in enumerate(words))
    return " ".join(out)


def _presentation(c: str) -> bool:
    o = ord(c)
    return 0xFB50 <= o <= 0xFDFF or 0xFE70 <= o <= 0xFEFF or 0xFB1D <= o <= 0xFB4F


def fold_presentation_forms(word: str) -> str:
    """Arabic and Hebrew presentation forms (the shaped glyphs some PDF producers map
    to: U+FE8D for alef) -> the letters themselves (NFKC, these characters only), so
    text, search and language detection see ordinary Arabic, Persian and Hebrew."""
    if not any(_presentation(c) for c in word):
        return word
    return "".join(unicodedata.normalize("NFKC", c) if _presentation(c) else c for c in word)


def unmapped_words(blocks: list[Block]) -> list[tuple[int, int]]:
    """(block, word) indices of words that still hold an unmapped glyph."""
    chars = set().union(*(w.text for b in blocks for w in b.words))
    bad = {c for c in chars if unmapped(c)}
    if not bad:
        return []
    return [
        (bi, wi)
        for bi, b in enumerate(blocks)
        for wi, w in enumerate(b.words)
        if not bad.isdisjoint(w.text)
    ]


def _spans(page: pymupdf.Page, textpage: Any = None) -> list[dict[str, Any]]:
    d = page.get_text("dict", flags=FLAGS, textpage=textpage)
    out = []
    for b in d["blocks"]:
        for line_no, line in enumerate(b.get("lines", [])):
            for s in line["spans"]:
                if s["text"].strip():
                    out.append({**s, "block": b["number"], "line": line_no})
    return out


def ink_coverage(
    page: pymupdf.Page, boxes: list[pymupdf.Rect], display: Any = None
) -> tuple[float, float]:
    """(uncovered ink as a share of the page area, uncovered share of all ink).

    ``display``: the page's display list (unrotated), when the caller made one: an
    unrotated page is drawn from it instead of interpreting its content again."""
    zoom = PROBE_DPI / 72
    # Huge pages are probed at a lower resolution: at most PROBE_MAX_PIXELS (a 200-inch
    # page at PROBE_DPI would be hundreds of megapixels).
    area_pt = max(1.0, page.rect.width * page.rect.height)
    zoom = min(zoom, (PROBE_MAX_PIXELS / area_pt) ** 0.5)
    mat = pymupdf.Matrix(zoom, zoom)
    if display is not None and page.rotation % 360 == 0:
        pix = display.get_pixmap(matrix=mat, colorspace=pymupdf.csGRAY, alpha=False)
    else:
        pix = page.get_pixmap(matrix=mat, colorspace=pymupdf.csGRAY, alpha=False)
    grey = Image.frombytes("L", (pix.width, pix.height), pix.samples)
    local = grey.filter(ImageFilter.BoxBlur(6))
    # ink where the pixel is INK_CONTRAST darker than its neighbourhood
    diff = ImageChops.subtract(local, grey)
    mask = Image.new("L", grey.size, 255)  # 0 where the text boxes cover
    draw = ImageDraw.Draw(mask)
    to_px = page.rotation_matrix * mat
    for r in boxes:
        g = (r + (-GROW_PT, -GROW_PT, GROW_PT, GROW_PT)) * to_px
        draw.rectangle([g.x0, g.y0, g.x1, g.y1], fill=0)
    # counted from the differences' histograms (all, and outside the boxes): no ink
    # image thresholded and multiplied by the mask first
    n_ink = sum(diff.histogram()[INK_CONTRAST:])
    n_unc = sum(diff.histogram(mask=mask)[INK_CONTRAST:])
    area = grey.width * grey.height
    return n_unc / area, (n_unc / n_ink if n_ink else 0.0)


def clearly_covered(page: pymupdf.Page, display: Any = None) -> bool:
    """Nothing but text can be ink here: the page draws no image (inline ones included)
    and at most :data:`MAX_PLAIN_DRAWINGS` vector paths and shadings (rules, boxes, a
    tinted background). One pass over the page's drawing operators (no rendering: the
    page's display list replayed when given); a page that fails this is probed
    (:func:`ink_coverage`)."""
    others = 0
    log = page.get_bboxlog() if display is None else _bboxlog(display)
    for kind, _ in log:
        if "image" in kind:  # fill-image, fill-imgmask, clip-image...
            return False
        if "text" not in kind:
            others += 1
            if others > MAX_PLAIN_DRAWINGS:
                return False
    return True


def _display_list(page: pymupdf.Page) -> Any:
    """The page's display list in the unrotated page space (with its annotations, as
    ``get_textpage`` and ``get_bboxlog`` run the page)."""
    rotation = page.rotation
    if rotation != 0:
        page.set_rotation(0)
    try:
        return page.get_displaylist()
    finally:
        if rotation != 0:
            page.set_rotation(rotation)


def _textpage(page: pymupdf.Page, display: Any) -> Any:
    """``page.get_textpage(flags=FLAGS)``, made from the display list."""
    textpage = pymupdf.TextPage(display.get_textpage(flags=FLAGS))
    textpage.parent = weakref.proxy(page)
    return textpage


def _bboxlog(display: Any) -> list[tuple[str, tuple[float, float, float, float]]]:
    """``page.get_bboxlog()``, replayed from the display list."""
    mupdf = pymupdf.mupdf
    out: list[tuple[str, tuple[float, float, float, float]]] = []
    dev = pymupdf.JM_new_bbox_device(out, False)
    mupdf.fz_run_display_list(
        display.this,
        dev,
        mupdf.FzMatrix(),
        mupdf.FzRect(mupdf.FzRect.Fixed_INFINITE),
        mupdf.FzCookie(),
    )
    mupdf.fz_close_device(dev)
    return out


def read_text_layer(page: pymupdf.Page, dpi: int, *, probe: bool = True) -> TextLayer:
    """The page's text as line blocks in pixel space, and whether it is usable.

    The page's content is interpreted once, into a display list (in the unrotated page
    space, as PyMuPDF reports text); the text page (spans and words), the drawing-
    operator pass and the ink probe of an unrotated page replay it. Interpreting the
    content is most of a born-digital page's cost (fonts are loaded there): three
    passes over it cost 2-3x one. The ink probe runs only when the page is not
    :func:`clearly_covered` by its text."""
    display = _display_list(page)
    textpage = _textpage(page, display)
    spans = _spans(page, textpage)
    text = "".join(s["text"] for s in spans)
    if not text.strip():
        return TextLayer(False, "no text layer")
    plain = _plain(text)
    garbage = 0.0 if plain else garbage_ratio(_fixed_text(spans))
    stats: dict[str, float] = {"garbage": round(garbage, 4)}
    if garbage > MAX_GARBAGE:
        return TextLayer(
            False, f"text layer unreadable ({garbage:.0%} unmapped glyphs)", stats=stats
        )
    if probe and not clearly_covered(page, display):
        boxes = [pymupdf.Rect(s["bbox"]) for s in spans]
        unc_page, unc_share = ink_coverage(page, boxes, display)
        stats.update(uncovered_page=round(unc_page, 5), uncovered_share=round(unc_share, 4))
        if unc_page > MAX_UNCOVERED_PAGE and unc_share > MAX_UNCOVERED_SHARE:
            reason = f"text layer covers only part of the page ({unc_share:.0%} of ink uncovered)"
            return TextLayer(False, reason, stats=stats)
    blocks, sizes, bold = _line_blocks(page, spans, dpi, textpage, plain)
    return TextLayer(True, "text layer", blocks, sizes, bold, stats)


def _line_blocks(
    page: pymupdf.Page,
    spans: list[dict[str, Any]],
    dpi: int,
    textpage: Any = None,
    plain: bool = False,
) -> tuple[list[Block], list[float], list[bool]]:
    """``plain``: :func:`_plain` of the spans' text (the same characters as the words'),
    so no word needs fixing."""
    to_px = page.rotation_matrix * pymupdf.Matrix(dpi / 72, dpi / 72)
    size_of: dict[tuple[int, int], float] = {}
    bold_of: dict[tuple[int, int], bool] = {}
    italic_of: dict[tuple[int, int], bool] = {}
    for s in spans:
        key = (s["block"], s["line"])
        size_of[key] = max(size_of.get(key, 0.0), float(s["size"]))
        bold = bool(s["flags"] & pymupdf.TEXT_FONT_BOLD) or "bold" in s["font"].lower()
        bold_of[key] = bold_of.get(key, True) and bold
        font = s["font"].lower()
        italic = (
            bool(s["flags"] & pymupdf.TEXT_FONT_ITALIC) or "italic" in font or "oblique" in font
        )
        italic_of[key] = italic_of.get(key, True) and italic
    lines: dict[tuple[int, int], list[Word]] = {}
    a, b, c, d, e, f = to_px
    # /Rotate is a quarter turn, so to_px maps boxes to boxes: two corners are enough
    # (plain arithmetic: a pymupdf.Rect per word cost more than the text extraction).
    axis = (b == 0 and c == 0) or (a == 0 and d == 0)
    for x0, y0, x1, y1, word, block_no, line_no, _ in page.get_text(
        "words", flags=FLAGS, textpage=textpage
    ):
        if not word.strip():
            continue
        if axis:
            u0, v0 = a * x0 + c * y0 + e, b * x0 + d * y0 + f
            u1, v1 = a * x1 + c * y1 + e, b * x1 + d * y1 + f
            bbox = [
                round(min(u0, u1), 1),
                round(min(v0, v1), 1),
                round(max(u0, u1), 1),
                round(max(v0, v1), 1),
            ]
        else:
            r = pymupdf.Rect(x0, y0, x1, y1) * to_px
            bbox = [round(r.x0, 1), round(r.y0, 1), round(r.x1, 1), round(r.y1, 1)]
        words_ = lines.setdefault((block_no, line_no), [])
        if not plain:
            word = fold_presentation_forms(fix_bullet(word, not words_))
        words_.append(Word(word, bbox, 1.0))
    blocks: list[Block] = []
    sizes: list[float] = []
    bolds: list[bool] = []
    for key, words in lines.items():
        box = [
            min(w.bbox[0] for w in words),
            min(w.bbox[1] for w in words),
            max(w.bbox[2] for w in words),
            max(w.bbox[3] for w in words),
        ]
        text = " ".join(w.text for w in words)
        blocks.append(Block(text=text, bbox=box, confidence=1.0, words=words))
        sizes.append(size_of.get(key, 0.0))
        bolds.append(bold_of.get(key, False) or italic_of.get(key, False))
    return blocks, sizes, bolds
