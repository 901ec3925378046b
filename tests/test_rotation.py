"""Rotation, skew and blank pages (issue 4) through the real pipeline and real Tesseract.

Made pages have exact truth: every word's ink box is known, the page is turned by a
quarter/half turn (or skewed) with Pillow, OCR'd, and each recognised word's box is
mapped back onto the page as given with :func:`ocrkit.page.orient.box_to_given`.
"""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont, ImageOps

from ocrkit import api
from ocrkit.models import Page
from ocrkit.page import orient
from tests.conftest import FONT, cer

LINES = [
    "Harbour office ledger for March",
    "Seven barrels of salted herring",
    "arrived aboard the schooner Maria",
    "and were weighed before noon.",
]


def made_page(lines: list[str] = LINES, font_size: int = 40) -> tuple[Image.Image, list]:
    """A 1400x900 page and [(word, ink box)] for each word drawn."""
    img = Image.new("L", (1400, 900), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, font_size)
    truth = []
    y = 120
    for line in lines:
        x = 120
        for word in line.split():
            draw.text((x, y), word, font=font, fill=0)
            layer = Image.new("L", img.size, 0)
            ImageDraw.Draw(layer).text((x, y), word, font=font, fill=255)
            truth.append((word, layer.getbbox()))
            x += int(draw.textlength(word + " ", font=font))
        y += int(font_size * 2.2)
    return img, truth


def turn_box(box: tuple[int, ...], size: tuple[int, int], degrees: int) -> list[float]:
    """A box of an image of ``size`` -> the same ink's box after turning the image
    clockwise by ``degrees`` (a multiple of 90)."""
    w, h = size
    x0, y0, x1, y1 = box
    if degrees == 90:
        return [h - y1, x0, h - y0, x1]
    if degrees == 180:
        return [w - x1, h - y1, w - x0, h - y0]
    if degrees == 270:
        return [y0, w - x1, y1, w - x0]
    return [x0, y0, x1, y1]


def recognised_words(page: Page) -> dict[str, list[list[float]]]:
    out: dict[str, list[list[float]]] = {}
    for block in page.blocks:
        for w in block.words:
            out.setdefault(w.text.strip(".,"), []).append(w.bbox)
    return out


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_turned_page_is_read_upright_and_boxes_map_back(tmp_path: Path, turn: int) -> None:
    upright, truth = made_page()
    # The page as given: the upright page turned anticlockwise by `turn`, so ocrkit must
    # turn it clockwise by `turn` to read it.
    given = upright.rotate(turn, expand=True)
    path = tmp_path / f"turned{turn}.png"
    given.save(path, dpi=(300, 300))
    job = api.ocr(path, jobs=1, language="eng")
    page = job.pages[0]
    assert page.rotation == turn and page.extra["engine_rotation"] == turn
    assert (page.width, page.height) == upright.size
    assert cer(" ".join(LINES), page.text) <= 0.02, page.text
    found = recognised_words(page)
    checked = 0
    for word, box in truth:
        if word.strip(".,") not in found:
            continue
        expected = turn_box(box, upright.size, (360 - turn) % 360)  # where it is as given
        got = min(
            (orient.box_to_given(b, page) for b in found[word.strip(".,")]),
            key=lambda b: sum(abs(p - q) for p, q in zip(b, expected, strict=True)),
        )
        assert max(abs(p - q) for p, q in zip(got, expected, strict=True)) <= 3, (word, got)
        checked += 1
    assert checked >= len(truth) - 2


def test_skewed_page_is_deskewed_and_word_centres_map_back(tmp_path: Path) -> None:
    upright, truth = made_page()
    skew = 3.0  # the page as given is turned 3 degrees anticlockwise
    given = upright.rotate(skew, resample=Image.Resampling.BICUBIC, fillcolor=255)
    path = tmp_path / "skewed.png"
    given.save(path, dpi=(300, 300))
    page = api.ocr(path, jobs=1, language="eng").pages[0]
    assert page.rotation == 0
    assert abs(page.extra["deskew"] - skew) <= 0.3  # turned back clockwise by ~3 degrees
    assert cer(" ".join(LINES), page.text) <= 0.02, page.text
    # Truth centres as given: the upright centre turned anticlockwise about the centre.
    cx, cy = upright.width / 2, upright.height / 2
    a = math.radians(skew)
    found = recognised_words(page)
    checked = 0
    for word, box in truth:
        if word.strip(".,") not in found:
            continue
        ux, uy = (box[0] + box[2]) / 2 - cx, (box[1] + box[3]) / 2 - cy
        ex, ey = cx + ux * math.cos(a) + uy * math.sin(a), cy - ux * math.sin(a) + uy * math.cos(a)
        centres = []
        for b in found[word.strip(".,")]:
            g = orient.box_to_given(b, page)
            centres.append(((g[0] + g[2]) / 2, (g[1] + g[3]) / 2))
        gx, gy = min(centres, key=lambda c: abs(c[0] - ex) + abs(c[1] - ey))
        assert abs(gx - ex) <= 3 and abs(gy - ey) <= 3, (word, (gx, gy), (ex, ey))
        checked += 1
    assert checked >= len(truth) - 2


@pytest.mark.parametrize("turn", [90, 180])
def test_rapidocr_turned_page_maps_back(tmp_path: Path, turn: int) -> None:
    pytest.importorskip("rapidocr")
    upright, truth = made_page()
    given = upright.rotate(turn, expand=True)
    path = tmp_path / "turned.png"
    given.save(path, dpi=(300, 300))
    page = api.ocr(path, jobs=1, engine="rapidocr", language="en").pages[0]
    assert page.rotation == turn and page.engine == "rapidocr"
    assert cer(" ".join(LINES), page.text) <= 0.05, page.text
    # Line boxes (RapidOCR's word boxes are estimates): each line's centre maps back onto
    # the centre of that line's ink as given.
    line_truth = []
    per_line = [len(line.split()) for line in LINES]
    i = 0
    for n in per_line:
        boxes = [b for _, b in truth[i : i + n]]
        i += n
        ink = (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
        line_truth.append(turn_box(ink, upright.size, (360 - turn) % 360))
    assert len(page.blocks) == len(LINES)
    for block, expected in zip(page.blocks, line_truth, strict=True):
        assert block.bbox is not None
        got = orient.box_to_given(block.bbox, page)
        for axis in (0, 1):
            centre = (got[axis] + got[axis + 2]) / 2
            want = (expected[axis] + expected[axis + 2]) / 2
            assert abs(centre - want) <= 3, (block.text, got, expected)


# ------------------------------------------------------------------ the corpus pages

# Rotated corpus pages and their upright sources (same truth); the big FONDUE pages
# and the UNLV page are measured by `python -m ocrkit.eval.autobench rotation`.
ROTATED = {
    "tess_phototest_rot180": "tess_phototest",
    "tess_phototest_rotL": "tess_phototest",
    "tess_phototest_rotR": "tess_phototest",
    "tess_phototestrot": "tess_phototest",
    "tess_eurotext_skew+3": "tess_eurotext",
}


@pytest.fixture(scope="module")
def manifest(corpus: Path) -> dict[str, dict[str, str]]:
    with (corpus / "MANIFEST.tsv").open(encoding="utf-8") as f:
        return {r["id"]: r for r in csv.DictReader(f, delimiter="\t")}


@pytest.fixture(scope="module")
def upright_cer(corpus: Path, manifest: dict[str, dict[str, str]]) -> dict[str, float]:
    out = {}
    for source in sorted(set(ROTATED.values())):
        row = manifest[source]
        job = api.ocr(corpus / row["file"], jobs=1, language="eng")
        out[source] = cer((corpus / row["truth"]).read_text(encoding="utf-8"), job.text)
    return out


@pytest.mark.parametrize("sample", sorted(ROTATED))
def test_rotated_corpus_cer_close_to_upright(
    corpus: Path, manifest: dict[str, dict[str, str]], upright_cer: dict[str, float], sample: str
) -> None:
    row = manifest[sample]
    job = api.ocr(corpus / row["file"], jobs=1, language="eng")
    got = cer((corpus / row["truth"]).read_text(encoding="utf-8"), job.text)
    assert got <= upright_cer[ROTATED[sample]] + 0.02, (sample, got, job.text[:200])


def test_turned_page_auto_language_and_rotation(corpus: Path) -> None:
    """language=auto on a quarter-turned page: turned, read, and named English."""
    job = api.ocr(corpus / "rotated" / "tess_phototest_rotL.png", jobs=1)
    page = job.pages[0]
    assert page.rotation == 90 and page.detected_languages == ["en"]
    assert job.detected_languages == ["en"]


# ------------------------------------------------------------------ blank pages


def speckled(size: tuple[int, int] = (1700, 2200), seed: int = 7) -> Image.Image:
    """A white page with scanner dust: a few hundred 1-2 px specks and a faint edge."""
    img = Image.new("L", size, 252)
    rnd = random.Random(seed)
    draw = ImageDraw.Draw(img)
    for _ in range(400):
        x, y = rnd.randrange(size[0]), rnd.randrange(size[1])
        r = rnd.choice((0, 1))
        draw.rectangle((x, y, x + r, y + r), fill=rnd.randrange(0, 120))
    draw.rectangle((0, 0, 6, size[1]), fill=200)  # a light scanner edge
    return img


@pytest.mark.parametrize("kind", ["white", "speckled"])
def test_blank_page_gives_empty_text(tmp_path: Path, kind: str) -> None:
    img = Image.new("L", (1700, 2200), 255) if kind == "white" else speckled()
    path = tmp_path / f"{kind}.png"
    img.save(path, dpi=(200, 200))
    job = api.ocr(path, jobs=1)
    page = job.pages[0]
    assert page.text == "" and page.blocks == [] and job.text == ""
    assert page.extra.get("blank") is True
    assert job.status == "done"


def test_near_blank_page_keeps_its_one_line(tmp_path: Path) -> None:
    img = speckled()
    line = "Received with thanks 14 May 1923"
    ImageDraw.Draw(img).text((300, 1500), line, font=ImageFont.truetype(FONT, 36), fill=0)
    path = tmp_path / "one-line.png"
    img.save(path, dpi=(200, 200))
    page = api.ocr(path, jobs=1).pages[0]
    assert cer(line, page.text) <= 0.05, page.text
    assert len(page.blocks) == 1 and "blank" not in page.extra


@pytest.mark.parametrize(("width", "size"), [(480, 20), (960, 16)])
def test_small_screenshot_without_dpi_is_not_blank(tmp_path: Path, width: int, size: int) -> None:
    """A screenshot has no dpi in the file (taken as 300): the blank check must not
    shrink it until its small text fades (it did, and such images read as empty)."""
    img = Image.new("RGB", (width, 70), "white")
    line = "Settings saved at 10:42"
    ImageDraw.Draw(img).text((12, 22), line, font=ImageFont.truetype(FONT, size), fill="black")
    path = tmp_path / "shot.png"
    img.save(path)  # no dpi
    assert not orient.is_blank(img, 300)
    page = api.ocr(path, jobs=1, language="eng").pages[0]
    assert "blank" not in page.extra
    assert cer(line, page.text) <= 0.1, page.text


def test_noise_scraps_are_dropped_but_a_page_number_stays() -> None:
    from ocrkit.models import Block
    from ocrkit.page.read import drop_noise

    blocks = [
        Block("~ .", [0, 0, 5, 5], 0.3),  # a speck read as symbols
        Block("i", [0, 0, 5, 5], 0.2),  # a speck read as a letter
        Block("7", [0, 0, 5, 5], 0.9),  # a page number
        Block("Chapter One", [0, 0, 50, 5], 0.95),
    ]
    assert [b.text for b in drop_noise(blocks)] == ["7", "Chapter One"]


def test_ink_ignores_dust_but_not_a_word() -> None:
    assert orient.is_blank(speckled(), 200)
    img = speckled()
    ImageDraw.Draw(img).text((300, 300), "Hi", font=ImageFont.truetype(FONT, 30), fill=0)
    assert not orient.is_blank(img, 200)
    assert not orient.is_blank(ImageOps.invert(Image.new("L", (400, 400), 255)), 300)


# ------------------------------------------------- searchable PDF of a deskewed page


def _ink_under_words(pdf: bytes, dpi: int = 150) -> list[float]:
    """For each word of the PDF's text layer: the share of its box's rows that have ink
    in the rendered page (text over the words it belongs to: near 1)."""
    import numpy as np
    import pymupdf

    doc = pymupdf.open(stream=pdf, filetype="pdf")
    page = doc[0]
    pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY)
    img = Image.frombytes("L", (pix.width, pix.height), pix.samples)
    out = []
    for x0, y0, x1, y1, *_ in page.get_text("words"):
        box = tuple(round(v * dpi / 72) for v in (x0, y0, x1, y1))
        crop = np.asarray(img.crop(box)) < 128
        out.append(float(crop.any(axis=1).mean()) if crop.size else 0.0)
    return out


@pytest.mark.parametrize("kind", ["png", "pdf"])
def test_searchable_pdf_of_a_skewed_scan_puts_words_on_their_ink(tmp_path: Path, kind: str) -> None:
    import pymupdf

    upright, truth = made_page()
    given = upright.rotate(3.0, resample=Image.Resampling.BICUBIC, fillcolor=255)
    png = tmp_path / "skewed.png"
    given.save(png, dpi=(300, 300))
    path = png
    if kind == "pdf":  # an image-only scan PDF at 300 dpi
        path = tmp_path / "skewed.pdf"
        doc = pymupdf.open()
        page = doc.new_page(width=given.width * 72 / 300, height=given.height * 72 / 300)
        page.insert_image(page.rect, filename=str(png))
        doc.save(path)
    job = api.ocr(path, jobs=1, language="eng")
    assert abs(job.pages[0].extra["deskew"] - 3.0) <= 0.3
    pdf = api.export(job, "pdf", source=path)
    inked = _ink_under_words(pdf)
    assert len(inked) >= len(truth) - 2
    assert min(inked) >= 0.6 and sum(inked) / len(inked) >= 0.85, inked
