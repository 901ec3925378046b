"""The checks before OCR (blank page, skew, letter height) do the same work for less:
the same numbers as the formulas they replaced, without extra copies of the page."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from ocrkit_plugins.engines.tesseract import textsize
from PIL import Image, ImageDraw, ImageFont

from ocrkit.hookspecs import Engine, PageResult
from ocrkit.models import Block, Word
from ocrkit.page import orient
from ocrkit.page.read import read_page
from tests.conftest import FONT


def text_page(mode: str = "L", skew: float = 0.0) -> Image.Image:
    """A 1200x900 page of six lines of 28-px text, turned ``skew`` degrees."""
    img = Image.new("L", (1200, 900), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 28)
    for i in range(6):
        line = "Seven barrels of salted herring, weighed at noon"
        draw.text((90, 100 + 110 * i), line, font=font, fill=0)
    if skew:
        img = img.rotate(skew, resample=Image.Resampling.BICUBIC, fillcolor=255)
    return img.convert(mode)


def reference_score(ys: Any, xs: Any, angle: float) -> float:
    """The skew estimate's profile score as it was computed before (main at 6f07709)."""
    shifted = ys - xs * math.tan(math.radians(angle))
    idx = np.round(shifted).astype(np.int64)
    idx -= idx.min()
    hist = np.bincount(idx, minlength=1).astype(np.float64)
    return float((hist * hist).sum())


SEARCHED = [*np.arange(-6.0, 6.0 + 1e-9, 0.25), *np.arange(-6.25, 6.25 + 1e-9, 0.05)]


def test_profile_scores_are_the_old_formulas_numbers() -> None:
    rng = np.random.default_rng(7)
    sets = []
    for n, h, w in ((1500, 60, 2000), (60_000, 1650, 1275), (20_000, 3000, 300)):
        ys = rng.integers(0, h, n).astype(np.float64)
        xs = rng.integers(0, w, n).astype(np.float64)
        sets.append((ys, xs - xs.mean()))
    # and the dark pixels of a skewed page (the points the estimate really sees)
    arr = np.asarray(text_page(skew=2.5))
    ys, xs = np.nonzero(arr < orient.INK_THRESHOLD)
    sets.append((ys.astype(np.float64), xs.astype(np.float64) - xs.mean()))
    for ys, xs in sets:
        profiles = orient._Profiles(ys, xs)
        for angle in SEARCHED:
            assert profiles.score(float(angle)) == reference_score(ys, xs, float(angle)), angle


def test_skew_of_a_turned_page_is_found() -> None:
    # turned back clockwise
    assert orient.estimate_skew(text_page(skew=2.5), 300) == pytest.approx(2.5, abs=0.1)
    assert orient.estimate_skew(text_page(), 300) == 0.0


def test_grey_page_is_not_copied_by_the_blank_and_skew_checks(monkeypatch: Any) -> None:
    page = text_page("L", skew=2.0)
    expected = (orient.is_blank(page, 300), orient.estimate_skew(page, 300))

    def no_convert(self: Image.Image, *a: Any, **k: Any) -> Image.Image:
        raise AssertionError(f"a {self.mode} page was converted ({a})")

    monkeypatch.setattr(Image.Image, "convert", no_convert)
    assert (orient.is_blank(page, 300), orient.estimate_skew(page, 300)) == expected
    assert orient.grey(page) is page


class OneLineEngine(Engine):
    """Reads every page as one confident English line (no OSD, no second pass)."""

    name = "oneline"
    tier = "cpu"

    def languages(self) -> list[str]:
        return ["eng"]

    def recognize(self, image: Image.Image, *, languages: list[str], dpi: int) -> PageResult:
        word = Word("herring", [90, 100, 300, 130], 0.95)
        return PageResult(blocks=[Block("herring", [90, 100, 300, 130], 0.95, words=[word])])


def test_colour_page_is_converted_to_grey_once_for_the_checks(monkeypatch: Any) -> None:
    page = text_page("RGB")
    grey = page.convert("L")
    expected = (orient.is_blank(grey, 300), orient.estimate_skew(grey, 300))
    assert expected == (orient.is_blank(page, 300), orient.estimate_skew(page, 300))
    calls: list[str] = []
    convert = Image.Image.convert

    def counted(self: Image.Image, *a: Any, **k: Any) -> Image.Image:
        if self is page:
            calls.append(str(a))
        return convert(self, *a, **k)

    monkeypatch.setattr(Image.Image, "convert", counted)
    reading = read_page(OneLineEngine(), page, dpi=300, languages_=["eng"], auto=False)
    assert reading.result.blocks[0].text == "herring" and reading.deskew == expected[1]
    assert len(calls) == 1, calls


def test_letter_height_reads_pillows_histogram_not_a_copy_of_every_pixel(monkeypatch: Any) -> None:
    page = text_page("L")
    before = textsize.letters(page)
    assert before is not None and 14 <= before.height <= 24
    sizes: list[int] = []
    bincount = np.bincount

    def recorded(x: Any, *a: Any, **k: Any) -> Any:
        sizes.append(int(np.size(x)))
        return bincount(x, *a, **k)

    monkeypatch.setattr(np, "bincount", recorded)
    assert textsize.letters(page) == before
    assert not [n for n in sizes if n >= page.width * page.height // 4], sizes
