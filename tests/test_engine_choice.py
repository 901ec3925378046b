"""The best cpu reader per page when no engine is named (issue 17; ocrkit.pipeline.engine_choice).

Real Tesseract and real RapidOCR on real handwriting from the corpus and a made printed
page: the default keeps Tesseract for print, reads handwriting with RapidOCR and says
so in ``engine``; a named engine is always used.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from ocrkit import api
from ocrkit.plugins import get_registry
from ocrkit.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("OCRKIT_CORPUS", ROOT.parent / "shared" / "corpus"))
HW = CORPUS / "handwriting"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

needs = pytest.mark.skipif(
    not HW.is_dir() or not get_registry().engines["rapidocr"].availability()[0],
    reason="corpus or rapidocr not available",
)


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    img = Image.new("L", (1400, 500), 255)
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 36)
    for i, line in enumerate(
        ["The committee met on Tuesday at noon.", "Minutes were taken by the secretary."]
    ):
        d.text((80, 100 + 120 * i), line, font=font, fill=0)
    path = tmp_path_factory.mktemp("choice") / "printed.png"
    img.save(path)
    return path


@needs
@pytest.mark.slow
def test_default_reads_handwriting_with_rapidocr_and_says_so() -> None:
    path = HW / "poilus_line_AN_0157-0_2.jpg"
    job = api.ocr(path, language="fra", jobs=1)
    page = job.pages[0]
    assert page.engine == "rapidocr" and job.engine == "rapidocr"
    choice = page.extra["engine_choice"]
    assert choice["engine"] == "rapidocr" and "handwritten" in choice["why"]
    named = api.ocr(path, language="fra", engine="tesseract", jobs=1)
    assert named.pages[0].engine == "tesseract" and "engine_choice" not in named.pages[0].extra


@needs
def test_default_keeps_tesseract_for_print(printed: Path) -> None:
    job = api.ocr(printed, jobs=1)
    page = job.pages[0]
    assert page.engine == "tesseract" and "engine_choice" not in page.extra
    assert "committee met on Tuesday" in job.text


@needs
@pytest.mark.slow
def test_handwriting_tool_without_a_server_reads_with_rapidocr(tmp_path: Path) -> None:
    settings = load_settings(env={}, data_dir=tmp_path / "data", vlm_fallback="cpu")
    path = HW / "stanford1905_line_Lettre252_2.jpg"
    job = api.ocr(path, tool="handwriting-to-text", settings=settings, jobs=1, language="eng")
    assert job.engine == "rapidocr"
    assert job.pages[0].extra["engine_choice"]["why"].startswith("handwriting")
    assert any("OCRKIT_VLM_BASE_URL" in w for w in job.warnings)
    # the truth is "The Stanford Association"; RapidOCR reads most of it
    assert "Association" in job.text


@needs
def test_rapidocr_reads_a_long_thin_line_image() -> None:
    """rapidocr's default detector scaling (shorter side to 736 px) blew this 1443 x 116
    line up to 9155 x 736 and found nothing; it reads now."""
    eng = get_registry().engine("rapidocr")
    img = Image.open(HW / "poilus_line_AN_0337-0_1.jpg")
    res = eng.recognize(img, languages=["fra"], dpi=300)
    text = " ".join(b.text for b in res.blocks)
    assert len(text.replace(" ", "")) >= 15, text
