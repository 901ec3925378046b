"""What a page worker holds per page (issue 14, peak RSS): fewer copies of the page
image, and the same reading. Real Tesseract; nothing here measures memory or time.

* A grey PDF page is one ``bytes`` object: the Pillow image is mapped over it and
  Tesseract is handed the same object (no ``frombytes`` copy, no ``tobytes`` copy).
* :func:`~ocrkit.page.read.read_page` given a :class:`~ocrkit.page.call.PageImage`
  drops the page as loaded once it has the deskewed copy, and loads it again (same
  pixels) only when OSD turns the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pymupdf
import pytest
from ocrkit_plugins.engines.tesseract import tesserocr_backend
from PIL import Image, ImageDraw, ImageFont

from ocrkit.page import orient
from ocrkit.page.call import PageImage
from ocrkit.page.inputs import held_bytes, image_over_bytes, pdf_page_image
from ocrkit.page.read import Reading, read_page
from ocrkit.plugins import get_engine
from tests.conftest import FONT

LINES = [
    "Harbour office ledger for March",
    "Seven barrels of salted herring",
    "arrived aboard the schooner Maria",
    "and were weighed before noon.",
]


def _page(skew: float = 0.0, turn: int = 0) -> Image.Image:
    """A grey 1400x900 page of four lines, turned ``skew`` degrees anticlockwise
    (bicubic), then ``turn`` degrees anticlockwise (exact)."""
    img = Image.new("L", (1400, 900), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 40)
    for i, line in enumerate(LINES):
        draw.text((120, 120 + i * 88), line, font=font, fill=0)
    if skew:
        img = img.rotate(skew, resample=Image.Resampling.BICUBIC, fillcolor=255)
    return img.rotate(turn, expand=True) if turn else img


def _scan_pdf(img: Image.Image, path: Path) -> Path:
    png = path.with_suffix(".png")
    img.save(png, dpi=(300, 300))
    doc = pymupdf.open()
    page = doc.new_page(width=img.width * 72 / 300, height=img.height * 72 / 300)
    page.insert_image(page.rect, filename=str(png))
    doc.save(path)
    return path


def _words(reading: Reading) -> list[tuple[Any, ...]]:
    return [
        (w.text, tuple(w.bbox or ()), w.confidence) for b in reading.result.blocks for w in b.words
    ]


@pytest.mark.skipif(tesserocr_backend._module() is None, reason="tesserocr not installed")
def test_grey_pdf_page_is_one_bytes_object_that_tesseract_is_handed(tmp_path: Path) -> None:
    pdf = _scan_pdf(_page(), tmp_path / "scan.pdf")
    with pymupdf.open(pdf) as doc:
        image = pdf_page_image(doc[0], 300)
    assert image.mode == "L" and image.size == (1400, 900)
    data = held_bytes(image)
    assert data is not None and data == image.tobytes()
    handed, bpp = tesserocr_backend._pixels(image)
    assert handed is data and bpp == 1  # the page's own pixels, not a copy
    # the same words, boxes and confidences as from a copy handed over by tobytes()
    copy = image.copy()
    assert held_bytes(copy) is None
    tsv = tesserocr_backend.recognize_tsv(image, ["eng"], 3, 300)
    assert "Harbour" in tsv
    assert tsv == tesserocr_backend.recognize_tsv(copy, ["eng"], 3, 300)


def test_a_changed_image_is_not_handed_its_old_bytes() -> None:
    page = _page()
    image = image_over_bytes(page.size, page.tobytes())
    assert held_bytes(image) is not None
    image.paste(0, (0, 0, 50, 50))  # Pillow copies a read-only image before writing
    assert held_bytes(image) is None
    assert tesserocr_backend._pixels(image)[0] == image.tobytes()
    assert image.getpixel((10, 10)) == 0


def _tesseract() -> Any:
    engine = get_engine("tesseract")
    assert engine is not None and engine.availability()[0]
    return engine


def test_read_page_drops_the_page_once_deskewed_and_reads_the_same() -> None:
    engine = _tesseract()
    given = _page(skew=3.0)
    plain = read_page(engine, given, dpi=300, languages_=["eng"], auto=False)
    assert abs(plain.deskew - 3.0) <= 0.3
    loads: list[int] = []

    def load() -> Image.Image:
        loads.append(1)
        return given.copy()

    source = PageImage(given.copy(), load)
    handed = read_page(engine, source, dpi=300, languages_=["eng"], auto=False)
    assert not source.held  # dropped: only the deskewed copy was kept for Tesseract
    assert not loads
    assert handed.deskew == plain.deskew and handed.turn == plain.turn == 0
    assert _words(handed) == _words(plain)
    assert handed.image.tobytes() == plain.image.tobytes()


def test_read_page_keeps_a_level_page_it_reads_as_it_is() -> None:
    engine = _tesseract()
    given = _page()
    source = PageImage(given, lambda: pytest.fail("a level page is not loaded again"))
    reading = read_page(engine, source, dpi=300, languages_=["eng"], auto=False)
    assert reading.deskew == 0.0
    assert source.held and reading.image is given  # no copy was made, none dropped


@pytest.mark.skipif(not orient.osd_available(), reason="no Tesseract OSD model")
def test_osd_turn_of_a_deskewed_page_loads_it_again_and_reads_the_same() -> None:
    engine = _tesseract()
    given = _page(skew=3.0, turn=180)  # upside down and skewed
    plain = read_page(engine, given, dpi=300, languages_=["eng"], auto=False)
    assert plain.turn == 180 and plain.deskew
    source = PageImage(given.copy(), given.copy)
    handed = read_page(engine, source, dpi=300, languages_=["eng"], auto=False)
    assert source.loads == 1  # loaded again for the turn, which starts from it
    assert not source.held  # and dropped again once the turned page was deskewed
    assert (handed.turn, handed.deskew) == (plain.turn, plain.deskew)
    assert _words(handed) == _words(plain)
    assert handed.image.tobytes() == plain.image.tobytes()
