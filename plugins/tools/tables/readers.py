"""Which reader's words a table is built from, per table, when the caller named no engine.

* A born-digital page (``page.source == "text-layer"``): the text layer's own words,
  always; nothing is read again.
* A scanned page read by the default engine (Tesseract): the table's words in image
  pixels decide. Small text (median word height under :data:`SMALL_TEXT_PX` image
  pixels: a screen-resolution crop, a dense table set in small type) is read again by
  RapidOCR, which reads 7-10 px text far better than Tesseract; the table is then found
  again from RapidOCR's words inside the table's region. Larger text (a clean 300 dpi
  scan) keeps Tesseract's words.
* A small image (a table crop: longer side up to :data:`CROP_SIDE`) whose text is
  small is read again whole by RapidOCR, and its tables found in RapidOCR's words:
  Tesseract's misreading of small print decides neither whether there is a table (it
  may find none) nor where the tables end (a PubTabNet crop came back as its top four
  rows, or as two tables, from Tesseract 5.3.4's words).

A table re-read is kept only when RapidOCR is available and finds a table there;
otherwise the first result stands. The choice is recorded in the page's ``extra``
(``table_readers``: one reader name per table).
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import median
from typing import TYPE_CHECKING, Any

from ocrkit.models import Page, Table

from .words import W, page_words

if TYPE_CHECKING:
    from PIL import Image

# Median word height (image pixels) below which RapidOCR reads the table.
SMALL_TEXT_PX = 22
# An image this small (pixels, longer side) with no table found is read again whole.
CROP_SIDE = 1800
RAPID = "rapidocr"

Finder = Callable[[Page, "Image.Image | None", "list[W] | None"], list[Table]]


def _inside(w: W, box: list[float]) -> bool:
    return box[0] <= w.cx <= box[2] and box[1] <= w.cy <= box[3]


def _centre_in(t: list[float], box: list[float]) -> bool:
    cx, cy = (t[0] + t[2]) / 2, (t[1] + t[3]) / 2
    return box[0] <= cx <= box[2] and box[1] <= cy <= box[3]


def text_height_px(words: list[W], scale: float) -> float | None:
    """Median height of the words in image pixels (``scale``: page px per image px)."""
    # Horizontal words only: Tesseract reads a table's small print as tall, narrow
    # fragments ("EERERERE" 9 x 77 px) that would make the text look large.
    hs = [w.h / scale for w in words if len(w.text) > 1 and w.x1 - w.x0 >= w.h]
    return median(hs) if hs else None


def _rapid_words(
    image: Image.Image, box: tuple[int, int, int, int], options: dict[str, Any], dpi: int
) -> list[W] | None:
    """RapidOCR's words of ``image`` cropped to ``box`` (image pixels), in image pixels of
    the whole image; None when RapidOCR cannot run here."""
    try:
        from ocrkit.plugins import get_engine

        engine = get_engine(RAPID)
        if engine is None or not engine.availability()[0]:
            return None
        crop = image.crop(box).convert("RGB")
        result = engine.recognize(crop, languages=list(options.get("languages") or []), dpi=dpi)
    except Exception:  # not installed, a language it lacks, a model error: keep the first
        return None
    out: list[W] = []
    for b in result.blocks:
        for w in b.words or []:
            if w.text.strip():
                x0, y0, x1, y1 = w.bbox
                out.append(W(w.text.strip(), x0 + box[0], y0 + box[1], x1 + box[0], y1 + box[1]))
    return out


def _small(words: list[W], scale: float) -> bool:
    height = text_height_px(words, scale)
    return height is not None and height < SMALL_TEXT_PX


def _scaled(words: list[W], scale: float) -> list[W]:
    return [W(w.text, w.x0 * scale, w.y0 * scale, w.x1 * scale, w.y1 * scale) for w in words]


def first_reader(page: Page) -> str:
    """What gave the page's words: ``text-layer`` or the engine's name."""
    return "text-layer" if page.source == "text-layer" else (page.engine or "ocr")


def reread(
    page: Page,
    image: Image.Image | None,
    found: list[Table],
    options: dict[str, Any],
    finder: Finder,
) -> list[Table]:
    """``found`` with each small-text table rebuilt from RapidOCR's words (see the module
    docstring)."""
    readers = [first_reader(page)] * len(found)
    if page.source == "text-layer" or image is None or not image.width or page.engine == RAPID:
        page.extra["table_readers"] = readers
        return found
    scale = page.width / image.width if page.width else 1.0
    words = page_words(page)
    out: list[Table] = []
    dpi = page.dpi or 300
    regions: list[tuple[Table | None, list[float]]] = [(t, t.bbox) for t in found if t.bbox]
    whole = [0.0, 0.0, float(page.width), float(page.height)]
    if max(image.size) <= CROP_SIDE and (
        not found or _small([w for w in words if any(_inside(w, b) for _, b in regions)], scale)
    ):
        # A small image (a table crop) whose text is small: Tesseract's misread words
        # decide neither where its tables are nor how far they reach (a PubTabNet crop
        # came back as the table's top four rows, or as two tables), so RapidOCR reads
        # the whole image and finds the tables in its words (none found there: the
        # first reading's tables stand).
        regions = [(None, whole)]
    readers = []
    for table, box in regions:
        inside = [w for w in words if _inside(w, box)]
        height = text_height_px(inside, scale)
        if height is None or height >= SMALL_TEXT_PX:
            kept = [table] if table is not None else found
            out.extend(kept)
            readers.extend([first_reader(page)] * len(kept))
            continue
        margin = 2 * height
        ibox = (
            max(0, int(box[0] / scale - margin)),
            max(0, int(box[1] / scale - margin)),
            min(image.width, int(box[2] / scale + margin) + 1),
            min(image.height, int(box[3] / scale + margin) + 1),
        )
        rapid = _rapid_words(image, ibox, options, dpi)
        again = finder(page, image, _scaled(rapid, scale)) if rapid else []
        # Only tables in this region: the ruled finder sees the whole page image.
        again = [t for t in again if t.bbox and _centre_in(t.bbox, box)]
        if again:
            out.extend(again)
            readers.extend([RAPID] * len(again))
        else:  # RapidOCR found no table here: the first reading's stand
            kept = [table] if table is not None else found
            out.extend(kept)
            readers.extend([first_reader(page)] * len(kept))
    pairs = sorted(
        zip(out, readers, strict=True),
        key=lambda p: (p[0].bbox[1], p[0].bbox[0]) if p[0].bbox else (0.0, 0.0),
    )
    page.extra["table_readers"] = [r for _, r in pairs]
    return [t for t, _ in pairs]
