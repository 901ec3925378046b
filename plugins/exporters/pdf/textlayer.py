"""The invisible text layer of the searchable PDF, the way Tesseract and OCRmyPDF write it.

Words are drawn in text render mode 3 (neither fill nor stroke) with a *glyphless*
font: a Type0/CIDFontType2 font whose every code maps to one empty glyph, with
Identity-H encoding (the code is the UTF-16 unit of the character) and a
ToUnicode map that sends each code to itself. So any script in the Basic
Multilingual Plane (Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari, CJK, ...) is
searchable and copyable without embedding real glyphs; characters beyond U+FFFF
(rare CJK, emoji) are left out. The font file is Tesseract's pdf.ttf (572 bytes,
Apache-2.0, from tesseract-ocr), embedded below.

Each word is placed at its own box: font size = box height, baseline = box bottom,
and horizontal scaling (Tz) so the word's advance equals the box width; a space
follows each word so extractors split words. Every glyph is half an em wide (/DW 500).
"""

from __future__ import annotations

import base64
import functools
import unicodedata
import zlib
from collections.abc import Iterable

import pymupdf

from ocrkit.models import Block

GLYPHLESS_TTF = base64.b64decode(
    "AAEAAAAKAIAAAwAgT1MvMlbeyJQAAAEoAAAAYGNtYXAACgA0AAABkAAAAB5nbHlmFSJBJAAAAbgA"
    "AAAYaGVhZAt48WUAAACsAAAANmhoZWEMAgQCAAAA5AAAACRobXR4BAAAAAAAAYgAAAAIbG9jYQAM"
    "AAAAAAGwAAAABm1heHAABAAFAAABCAAAACBuYW1l8usW2gAAAdAAAABLcG9zdAABAAEAAAIcAAAA"
    "IAABAAAAAQAAsJRxEF8PPPUEBwgAAAAAAM+a/G4AAAAA1MOn8gAAAAAEAAgAAAAAEAACAAAAAAAA"
    "AAEAAAgA//8AAAQAAAAAAAQAAAEAAAAAAAAAAAAAAAAAAAACAAEAAAACAAQAAQAAAAAAAQAAAAAA"
    "AAAAAAAAAAAAAAAAAwAAAZAABQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAUAAQABAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAR09PRwBAAAAAAAAB//8AAAABAAGAAAAAAAAAAAAAAAAAAAABAAAAAAAABAAA"
    "AAAAAAIAAQAAAAAAFAADAAAAAAAUAAYACgAAAAAAAAAAAAAAAAAMAAAAAQAAAAAEAAgAAAMAADEh"
    "ESEEAPwACAAAAAADACoAAAADAAAABQAWAAAAAQAAAAAABQALABYAAwABBAkABQAWAAAAVgBlAHIA"
    "cwBpAG8AbgAgADEALgAwVmVyc2lvbiAxLjAAAAEAAAAAAAAAAAAAAAAAAQAAAAAAAAAAAAAAAAAA"
    "AAA="
)
FONT_NAME = "OcrkitGlyphless"
CHAR_WIDTH = 0.5  # em
FONT_RES = "OcrkitF0"  # the resource name pages use for the font
RLM = "\u200f"  # RIGHT-TO-LEFT MARK


def _tounicode_cmap() -> bytes:
    ranges = [f"<{h:02X}00> <{h:02X}FF> <{h:02X}00>" for h in range(256)]
    chunks = [ranges[i : i + 100] for i in range(0, 256, 100)]
    body = "".join(f"{len(c)} beginbfrange\n" + "\n".join(c) + "\nendbfrange\n" for c in chunks)
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + body
        + "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    ).encode()


def put_deflated(doc: pymupdf.Document, xref: int, data: bytes) -> None:
    """Store already-deflated ``data`` as the stream of ``xref`` (an object made already)."""
    doc.update_stream(xref, data, compress=False)
    doc.xref_set_key(xref, "Filter", "/FlateDecode")


def put_stream(doc: pymupdf.Document, xref: int, data: bytes) -> None:
    """``data`` deflated at zlib's default level as the stream of ``xref``. PyMuPDF's
    ``update_stream(compress=True)`` deflates at level 9: 4.6 ms for the 38 KB of a
    640x480 1-bit scan against 0.4 ms here, for 1.5 % more bytes."""
    put_deflated(doc, xref, zlib.compress(data, 6))


@functools.cache
def _deflated(name: str) -> bytes:
    """The font's streams, deflated once per process: the CIDToGIDMap alone is 128 KiB,
    and deflating it again for every searchable pdf cost ~1 ms of the export's ~9."""
    raw = {
        "font": GLYPHLESS_TTF,
        "cid_to_gid": b"\x00\x01" * 65536,
        "to_unicode": _tounicode_cmap(),
    }[name]
    return zlib.compress(raw)


def add_glyphless_font(doc: pymupdf.Document) -> int:
    """Add the glyphless Type0 font to ``doc``; return the font dictionary's xref."""

    def new(obj: str, stream: str | None = None) -> int:
        xref = doc.get_new_xref()
        doc.update_object(xref, obj)
        if stream is not None:
            put_deflated(doc, xref, _deflated(stream))
        return xref

    font_file = new(f"<< /Length1 {len(GLYPHLESS_TTF)} >>", "font")
    descriptor = new(
        f"<< /Type /FontDescriptor /FontName /{FONT_NAME} /Flags 5"
        f" /FontBBox [0 0 {int(1000 * CHAR_WIDTH)} 1000] /ItalicAngle 0 /Ascent 1000"
        f" /Descent 0 /CapHeight 1000 /StemV 80 /FontFile2 {font_file} 0 R >>"
    )
    cid_to_gid = new("<< >>", "cid_to_gid")
    cid_font = new(
        f"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{FONT_NAME}"
        " /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >>"
        f" /FontDescriptor {descriptor} 0 R /DW {int(1000 * CHAR_WIDTH)} /W [{_zero_widths()}]"
        f" /CIDToGIDMap {cid_to_gid} 0 R >>"
    )
    to_unicode = new("<< >>", "to_unicode")
    return new(
        f"<< /Type /Font /Subtype /Type0 /BaseFont /{FONT_NAME} /Encoding /Identity-H"
        f" /DescendantFonts [{cid_font} 0 R] /ToUnicode {to_unicode} 0 R >>"
    )


# Right-to-left combining marks (Arabic harakat, Hebrew points) take no advance, or
# extractors drop them; other scripts' marks keep the default width, which extracts well.
ZERO_WIDTH_RANGES: tuple[tuple[int, int], ...] = (
    (0x0591, 0x05C7),
    (0x0610, 0x061A),
    (0x064B, 0x065F),
    (0x0670, 0x0670),
    (0x06D6, 0x06ED),
    (0x200E, 0x200F),  # LRM, RLM (bidi marks the right-to-left words carry)
)


def _is_zero_width(c: str) -> bool:
    return unicodedata.category(c) in ("Mn", "Cf") and any(
        a <= ord(c) <= b for a, b in ZERO_WIDTH_RANGES
    )


def _zero_widths() -> str:
    return " ".join(f"{a} {b} 0" for a, b in ZERO_WIDTH_RANGES)


def _hex(text: str) -> str:
    return "".join(f"{ord(c):04X}" for c in text if ord(c) <= 0xFFFF)


def _f(v: float) -> str:
    s = f"{v:.4f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def content_stream(blocks: Iterable[Block], matrix: pymupdf.Matrix, font: str = FONT_RES) -> bytes:
    """A content stream drawing the blocks' words invisibly.

    ``matrix`` maps the page's upright pixel space (y down) to the PDF user space of
    the page the stream is drawn on.
    """
    m = matrix
    ops = [f"q {_f(m.a)} {_f(m.b)} {_f(m.c)} {_f(m.d)} {_f(m.e)} {_f(m.f)} cm BT 3 Tr"]
    for block in blocks:
        if block.bbox is None and not block.words:
            continue  # an unaligned vlm line: no place on the page to put it
        if not block.words and block.bbox is not None:  # no word boxes: text over the line
            ops.extend(_word(block.text, block.bbox, font))
        words = block.words
        if words and not block.text.isascii() and is_rtl(block.text):
            # Right-to-left: words left to right as shown (visual order), each in its
            # box; the space between two words fills the gap between their boxes, never
            # more: a fixed-width space ran into the next word, and PyMuPDF then split
            # the line and emitted its pieces in the wrong order.
            shown = sorted((w for w in words if w.text.strip()), key=lambda w: w.bbox[0])
            for i, w in enumerate(shown):
                ops.extend(_word(w.text, w.bbox, font, space=False))
                if i + 1 < len(shown):
                    ops.extend(_gap(w.bbox, shown[i + 1].bbox, font))
            continue
        for w in words:
            ops.extend(_word(w.text, w.bbox, font))
    ops.append("ET Q")
    return "\n".join(ops).encode()


def _gap(left: list[float], right: list[float], font: str) -> list[str]:
    """A space exactly filling the gap between two boxes on a line (none if they touch)."""
    x0, x1 = left[2], right[0]
    if x1 - x0 < 0.5:
        return []
    size = max(left[3] - left[1], 1.0)
    scale = 100.0 * (x1 - x0) / (CHAR_WIDTH * size)
    return [
        f"/{font} {_f(size)} Tf {_f(scale)} Tz 1 0 0 -1 {_f(x0)} {_f(left[3])} Tm",
        "<0020> Tj",
    ]


def _word(text: str, bbox: list[float], font: str, *, space: bool = True) -> list[str]:
    text = text.strip()
    ascii_only = text.isascii()
    if ascii_only:  # most words: one UTF-16 code and one advance a character, left to right
        code = text.encode("utf-16-be").hex().upper()
        n = len(text)
    else:
        code = _hex(text)
        n = sum(
            ord(c) <= 0xFFFF and not _is_zero_width(c) and unicodedata.category(c) != "Cf"
            for c in text
        )
    if not code:
        return []
    n = n or 1
    x0, y0, x1, y1 = bbox
    size = max(y1 - y0, 1.0)
    scale = 100.0 * max(x1 - x0, 1.0) / (n * CHAR_WIDTH * size)
    # The pixel space has y down: flip the text matrix so glyphs stand upright.
    # Right-to-left words are written in visual order, as PDF producers do; viewers
    # and extractors apply the bidi algorithm to get the logical order back.
    if not ascii_only and is_rtl(text):
        # A right-to-left mark at each end: punctuation at the line's ends (the full
        # stop, shown at the far left) is then between strong right-to-left characters,
        # and PyMuPDF (MuPDF's bidi) as well as pdftotext put it back at the logical end.
        # An RLM after each neutral punctuation mark ties it to the word before it:
        # pdftotext otherwise made "مدنها. تقع" into "مدنها .تقع".
        marked = "".join(
            c + RLM if unicodedata.bidirectional(c) in ("CS", "ON", "ET", "ES") else c for c in text
        )
        code = _hex(RLM + visual_order(marked) + RLM)
    return [
        f"/{font} {_f(size)} Tf {_f(scale)} Tz 1 0 0 -1 {_f(x0)} {_f(y1)} Tm",
        f"<{code}{'0020' if space else ''}> Tj",
    ]


def is_rtl(text: str) -> bool:
    """True when most strong characters of ``text`` are right-to-left (Arabic, Hebrew)."""
    rtl = ltr = 0
    for c in text:
        kind = unicodedata.bidirectional(c)
        rtl += kind in ("R", "AL")
        ltr += kind == "L"
    return rtl > ltr


def visual_order(text: str) -> str:
    """A right-to-left word or line left to right as shown: runs of left-to-right
    characters and digits keep their order (with the spaces and punctuation between
    two such runs: "PDF 2.0" inside Arabic), the rest is mirrored (the bidi algorithm,
    simplified to a right-to-left paragraph)."""
    kinds = [unicodedata.bidirectional(c) in ("L", "EN", "AN") for c in text]
    # neutrals (spaces, punctuation) between two forward characters are forward too
    strong = [
        i
        for i, c in enumerate(text)
        if unicodedata.bidirectional(c) in ("L", "EN", "AN", "R", "AL")
    ]
    for a, b in zip(strong, strong[1:], strict=False):
        if kinds[a] and kinds[b]:
            for i in range(a + 1, b):
                kinds[i] = True
    runs: list[tuple[bool, str]] = []
    for c, forward in zip(text, kinds, strict=True):
        if runs and runs[-1][0] == forward:
            runs[-1] = (forward, runs[-1][1] + c)
        else:
            runs.append((forward, c))
    return "".join(run if forward else run[::-1] for forward, run in reversed(runs))


def text_layer_page(
    doc: pymupdf.Document,
    font_xref: int,
    size: pymupdf.Rect,
    blocks: list[Block],
    matrix: pymupdf.Matrix,
) -> pymupdf.Page:
    """Append to ``doc`` a page of ``size`` holding only the invisible words.

    ``matrix`` maps upright pixels to this page's top-left-origin coordinates (points,
    y down, as PyMuPDF counts them).
    """
    page = doc.new_page(width=size.width, height=size.height)
    doc.xref_set_key(page.xref, "Resources", f"<< /Font << /{FONT_RES} {font_xref} 0 R >> >>")
    to_pdf = pymupdf.Matrix(1, 0, 0, -1, 0, size.height)
    xref = doc.get_new_xref()
    doc.update_object(xref, "<< >>")
    # Not deflated: the page is only read back (show_pdf_page copies its content into
    # a Form XObject, deflating it there); deflating it here too cost ~5 ms a page of
    # text, half the CPU the searchable PDF's export spent in MuPDF.
    doc.update_stream(xref, content_stream(blocks, matrix * to_pdf), compress=False)
    doc.xref_set_key(page.xref, "Contents", f"{xref} 0 R")
    return page


def draw_on_page(
    doc: pymupdf.Document,
    page: pymupdf.Page,
    font_xref: int,
    blocks: list[Block],
    matrix: pymupdf.Matrix,
) -> None:
    """Draw the invisible words straight into ``page``'s own content (a page of a pdf
    made here, with no /Rotate and its media box at the origin), after what it shows.

    ``matrix`` maps upright pixels to the page's top-left-origin coordinates (points, y
    down). The same words as :func:`text_layer_page` placed with ``show_pdf_page``, without
    a second document, two Form XObjects and the graft: ~1.5 ms CPU less per page."""
    to_pdf = pymupdf.Matrix(1, 0, 0, -1, 0, page.rect.height)
    xref = doc.get_new_xref()
    doc.update_object(xref, "<< >>")
    put_stream(doc, xref, content_stream(blocks, matrix * to_pdf))
    kind, value = doc.xref_get_key(page.xref, "Resources")
    holder, key = (
        (int(value.split()[0]), "Font") if kind == "xref" else (page.xref, "Resources/Font")
    )
    doc.xref_set_key(holder, f"{key}/{FONT_RES}", f"{font_xref} 0 R")
    shown = " ".join(f"{x} 0 R" for x in page.get_contents())
    doc.xref_set_key(page.xref, "Contents", f"[{shown} {xref} 0 R]")
