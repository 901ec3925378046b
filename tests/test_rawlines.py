"""Tesseract's text-line images handed to the LSTM as raw pixels instead of a PNG
encode + decode per line (issue 14: the round trip was 9-18% of a page's CPU in the
tesserocr wheel's Tesseract 5.3.4). Same pixels, so the same words, boxes and
confidences."""

from __future__ import annotations

import ctypes

import pytest
from conftest import FONT
from ocrkit_plugins.engines.tesseract import rawlines, tesserocr_backend
from PIL import Image, ImageDraw, ImageFont

pytestmark = pytest.mark.skipif(
    tesserocr_backend._module() is None, reason="tesserocr not installed"
)


def _page(mode: str) -> Image.Image:
    font = ImageFont.truetype(FONT, 34)
    img = Image.new("RGB", (1400, 420), (250, 246, 236))
    d = ImageDraw.Draw(img)
    lines = [
        "The harbour master counted forty ships",
        "before the fog came in from the west",
        "and the bells of the town rang twice",
    ]
    for i, line in enumerate(lines):
        d.text((40, 40 + i * 120), line, font=font, fill=(30, 30, 90))
    return img.convert(mode)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_lines_skip_the_png_round_trip_and_read_the_same(mode: str) -> None:
    img = _page(mode)
    with_png = None
    try:
        tsv = tesserocr_backend.recognize_tsv(img, ["eng"], 3, 300)  # installs the redirect
        assert rawlines.active(), "libtesseract's pixWriteMem still writes PNG line images"
        rawlines.set_active(False)
        with_png = tesserocr_backend.recognize_tsv(img, ["eng"], 3, 300)
    finally:
        rawlines.set_active(True)
    assert "harbour" in tsv and "twice" in tsv
    assert tsv == with_png  # words, boxes and confidences identical


def test_the_slot_points_at_leptonicas_raw_pix_writer() -> None:
    tesserocr_backend.recognize_tsv(_page("L"), ["eng"], 3, 300)
    assert rawlines.install()
    state = rawlines._STATE
    assert ctypes.c_uint64.from_address(state["slot"]).value == state["raw"] != state["original"]
    assert "lines as raw pixels" in tesserocr_backend.describe()
