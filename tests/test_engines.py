"""The engines on real pages: Tesseract against the raw ``tesseract`` CLI on the corpus,
RapidOCR on a rendered page, PaddleOCR's refusal without a local model cache."""

from __future__ import annotations

import csv
import os
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import CORPUS, cer
from ocrkit_plugins.engines import paddleocr as paddle_mod
from ocrkit_plugins.engines import rapidocr as rapid_mod
from ocrkit_plugins.engines.tesseract import TesseractEngine, dpi_hint, join_words
from PIL import Image

from ocrkit.errors import EngineUnavailable
from ocrkit.hookspecs import PageResult
from ocrkit.lang.codes import resolve, tesseract_languages
from ocrkit.models import Block

# Tiny single-word images: smoke tests, not accuracy statistics (see the corpus README).
WORD_IMAGES = {"tess_hellogoogle", "tess_viet", "tess_arabic", "tess_raaj"}


def _page_rows() -> list[dict[str, str]]:
    """Clean printed pages, and the rendered non-Latin pages and lines (script support)."""
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    with manifest.open(encoding="utf-8") as f:
        rows = csv.DictReader(f, delimiter="\t")
        wanted = ("printed", "nonlatin")
        return [r for r in rows if r["category"] in wanted and r["id"] not in WORD_IMAGES]


PAGES = _page_rows()


@dataclass
class Measured:
    id: str
    raw_cer: float
    cer: float
    result: PageResult
    size: tuple[int, int]
    seconds: float


def _load(path: Path) -> tuple[Image.Image, int]:
    """The page as the pipeline hands it over: 1-bit made greyscale, the file's dpi."""
    im = Image.open(path)
    im.load()
    dpi = round(float((im.info.get("dpi") or (300, 300))[0]))
    return (im.convert("L") if im.mode == "1" else im), dpi


def _raw_tesseract(path: Path, langs: list[str]) -> str:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    cmd = ["tesseract", str(path), "stdout", "-l", "+".join(langs)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout


def _measure(row: dict[str, str]) -> Measured:
    path, langs = CORPUS / row["file"], resolve(row["language"])
    truth = (CORPUS / row["truth"]).read_text(encoding="utf-8")
    raw = _raw_tesseract(path, langs)
    image, dpi = _load(path)
    start = time.monotonic()
    result = TesseractEngine().recognize(image, languages=langs, dpi=dpi)
    seconds = time.monotonic() - start
    text = "\n".join(b.text for b in result.blocks)
    return Measured(row["id"], cer(truth, raw), cer(truth, text), result, image.size, seconds)


@pytest.fixture(scope="session")
def printed(corpus: Path) -> dict[str, Measured]:
    """Every page of PAGES through raw tesseract and ocrkit, once per session."""
    with ThreadPoolExecutor(2) as pool:
        return {m.id: m for m in pool.map(_measure, PAGES)}


# ------------------------------------------------------------------------ tesseract


@pytest.mark.parametrize("page", [r["id"] for r in PAGES])
def test_tesseract_cer_matches_raw_cli(printed: dict[str, Measured], page: str) -> None:
    m = printed[page]
    assert m.result.blocks, f"{page}: no text"
    assert m.cer <= m.raw_cer + 0.01, f"{page}: ocrkit CER {m.cer:.4f} vs raw {m.raw_cer:.4f}"


def test_tesseract_clean_book_pages_are_near_perfect(printed: dict[str, Measured]) -> None:
    fondue = [m for m in printed.values() if m.id.startswith("fondue_")]
    assert len(fondue) >= 5
    assert max(m.cer for m in fondue) < 0.01  # the truth's own typos are ~0.5 %


def _check_structure(blocks: list[Block], size: tuple[int, int]) -> None:
    w, h = size
    last_paragraph = -1
    for b in blocks:
        assert b.text == join_words([word.text for word in b.words])
        assert b.words and all(word.text.strip() for word in b.words)
        for word in b.words:
            x0, y0, x1, y1 = word.bbox
            assert all(isinstance(v, int) for v in word.bbox)
            assert 0 <= x0 <= x1 <= w and 0 <= y0 <= y1 <= h
            assert 0.0 <= word.confidence <= 1.0
        # Words in reading order within a line (right to left in Arabic).
        xs = [word.bbox[0] for word in b.words]
        assert xs in (sorted(xs), sorted(xs, reverse=True))
        union = [
            min(wd.bbox[0] for wd in b.words),
            min(wd.bbox[1] for wd in b.words),
            max(wd.bbox[2] for wd in b.words),
            max(wd.bbox[3] for wd in b.words),
        ]
        assert b.bbox == union
        mean = sum(wd.confidence for wd in b.words) / len(b.words)
        assert b.confidence == pytest.approx(mean, abs=1e-3)
        assert b.paragraph is not None and last_paragraph <= b.paragraph <= last_paragraph + 1
        last_paragraph = b.paragraph


def test_tesseract_blocks_are_lines_with_words(printed: dict[str, Measured]) -> None:
    for m in printed.values():
        _check_structure(m.result.blocks, m.size)
    # A single-column book page: lines top to bottom, several paragraphs.
    page = printed["fondue_en_dracula_p51"]
    tops = [b.bbox[1] for b in page.result.blocks]
    assert tops == sorted(tops)
    assert len(page.result.blocks) > 20
    assert page.result.blocks[-1].paragraph and page.result.blocks[-1].paragraph >= 2


def test_tesseract_sets_one_omp_thread(
    monkeypatch: pytest.MonkeyPatch, render_page: Callable[..., Path]
) -> None:
    monkeypatch.delenv("OMP_THREAD_LIMIT", raising=False)
    page = Image.open(render_page(["Hello world"], size=(600, 200)))
    result = TesseractEngine().recognize(page, languages=["eng"], dpi=200)
    assert os.environ.get("OMP_THREAD_LIMIT") == "1"
    assert " ".join(b.text for b in result.blocks) == "Hello world"


def test_tesseract_blank_page_has_no_blocks() -> None:
    blank = Image.new("L", (400, 300), 255)
    assert TesseractEngine().recognize(blank, languages=["eng"], dpi=300).blocks == []


def test_tesseract_uninstalled_language(reduced_tessdata: Callable[..., Path]) -> None:
    # Every Debian language is installed by default: a reduced TESSDATA_PREFIX lacks yor.
    reduced_tessdata("eng", "osd")
    assert "yor" not in tesseract_languages()
    with pytest.raises(EngineUnavailable, match="installed: .*eng"):
        TesseractEngine().recognize(Image.new("L", (50, 50), 255), languages=["yor"], dpi=300)


def test_tesseract_engine_info() -> None:
    eng = TesseractEngine()
    assert eng.availability() == (True, "")
    assert "eng" in eng.languages() and "osd" not in eng.languages()


def test_chinese_and_japanese_lines_are_not_spaced(printed: dict[str, Measured]) -> None:
    zh = printed["udhr_zh_corp_page"].result.blocks[0].text
    assert " " not in zh and len(zh) > 10
    assert join_words(["Hello", "world."]) == "Hello world."
    assert join_words(["加盟", "国", "は", "、", "国"]) == "加盟国は、国"
    assert join_words(["自由", ",不", "分"]) == "自由,不分"
    assert join_words(["ISO", "9001", "规格"]) == "ISO 9001 规格"


def test_dpi_hint_distrusts_screen_defaults() -> None:
    assert [dpi_hint(d) for d in (0, 72, 96, 150, 200, 300, 600)] == [
        300,
        300,
        300,
        150,
        200,
        300,
        600,
    ]


# ------------------------------------------------------------------------- rapidocr

RAPID_LINES = [
    "The quick brown fox jumps over the lazy dog.",
    "Invoice number 4711, total 215.00 USD.",
    "Please pay within thirty days of receipt.",
    "Thank you for your business!",
]


def test_rapidocr_reads_a_rendered_english_page(
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    render_page: Callable[..., Path],
) -> None:
    from rapidocr.utils.download_file import DownloadFile

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("rapidocr tried to download a model")

    monkeypatch.setattr(DownloadFile, "run", no_download)
    monkeypatch.setattr(rapid_mod, "_engines", {})  # load them here, under the guard
    engine = rapid_mod.RapidOcrEngine()
    assert engine.availability() == (True, "")
    assert {"eng", "chi_sim"} <= set(engine.languages())
    page = Image.open(render_page(RAPID_LINES, size=(1300, 600), font_size=36))
    result = engine.recognize(page, languages=["eng"], dpi=200)
    text = "\n".join(b.text for b in result.blocks)
    assert cer("\n".join(RAPID_LINES), text) < 0.03, text
    assert len(result.blocks) == len(RAPID_LINES)
    for b in result.blocks:
        assert (
            0 <= b.bbox[0] < b.bbox[2] <= page.width and 0 <= b.bbox[1] < b.bbox[3] <= page.height
        )
        assert 0.0 <= b.confidence <= 1.0
        assert len(b.words) > 1  # word boxes, not just the line
        for w in b.words:
            assert b.bbox[0] - 2 <= w.bbox[0] <= w.bbox[2] <= b.bbox[2] + 2
    tops = [b.bbox[1] for b in result.blocks]
    assert tops == sorted(tops)
    assert capfd.readouterr().out == ""  # stdout is for data


def test_rapidocr_reads_chinese(corpus: Path) -> None:
    # Tesseract's chi_sim reads this rendered line at CER 0.33; PP-OCR at ~0.
    line = corpus / "nonlatin" / "udhr_zh_corp_line1.png"
    truth = line.with_name("udhr_zh_corp_line1.gt.txt").read_text(encoding="utf-8")
    result = rapid_mod.RapidOcrEngine().recognize(Image.open(line), languages=["chi_sim"], dpi=300)
    text = "".join(b.text for b in result.blocks)
    assert cer(truth.replace(" ", ""), text.replace(" ", "")) < 0.05, text


def test_rapidocr_refuses_languages_it_cannot_read() -> None:
    with pytest.raises(EngineUnavailable, match="rapidocr cannot read ara"):
        rapid_mod.RapidOcrEngine().recognize(
            Image.new("L", (50, 50), 255), languages=["ara"], dpi=300
        )


# ------------------------------------------------------------------------ paddleocr


def test_paddleocr_unavailable_without_local_models(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PADDLE_PDX_CACHE_HOME", str(tmp_path))
    engine = paddle_mod.PaddleOcrEngine()
    ok, reason = engine.availability()
    assert not ok and reason
    assert "never downloads" in reason
    assert engine.info()["available"] is False
    with pytest.raises(EngineUnavailable, match="paddleocr") as err:
        engine.recognize(Image.new("RGB", (50, 50), "white"), languages=["eng"], dpi=300)
    assert reason in err.value.message


def test_paddleocr_finds_models_in_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(paddle_mod, "missing_packages", lambda: [])
    monkeypatch.setenv("PADDLE_PDX_CACHE_HOME", str(tmp_path))
    models = tmp_path / "official_models"
    (models / "PP-OCRv5_mobile_det").mkdir(parents=True)
    (models / "PP-OCRv5_mobile_det" / "inference.json").write_text("{}")
    ok, reason = paddle_mod.PaddleOcrEngine().availability()
    assert not ok and "PP-OCRv5_server_rec" in reason  # detector found, recogniser missing
    (models / "PP-OCRv5_mobile_rec").mkdir()
    (models / "PP-OCRv5_mobile_rec" / "inference.json").write_text("{}")
    assert paddle_mod.PaddleOcrEngine().availability() == (True, "")
    found, _ = paddle_mod.find_models()
    assert found["det"][0] == "PP-OCRv5_mobile_det" and found["rec"][0] == "PP-OCRv5_mobile_rec"
    assert paddle_mod.PaddleOcrEngine().languages() == ["chi_sim", "chi_tra", "eng", "jpn"]


def test_exactly_one_opencv_distribution_provides_cv2() -> None:
    """rapidocr, rapid_layout and img2table pull different OpenCV builds that all
    install ``cv2`` over each other; only the headless one may be installed."""
    from importlib import metadata

    opencv = sorted(
        {
            d.metadata["Name"].lower()
            for d in metadata.distributions()
            if d.metadata["Name"] and d.metadata["Name"].lower().startswith("opencv")
        }
    )
    assert opencv == ["opencv-python-headless"], opencv
    import cv2

    assert cv2.__version__


def test_tesseract_reads_screen_sized_text_from_a_larger_copy() -> None:
    """9-px text (a screenshot): one Tesseract pass misreads it; the engine reads a 3x
    copy as well, keeps the better reading and maps its boxes back to this image."""
    from conftest import FONT
    from ocrkit_plugins.engines import tesseract as tess
    from PIL import ImageDraw, ImageFont

    lines = [
        "Quarterly revenue grew 12% to 4.2 million",
        "while costs fell in every region we serve",
    ]
    img = Image.new("L", (330, 50), 255)
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((6, 6 + i * 17), line, font=ImageFont.truetype(FONT, 9), fill=0)
    truth = "\n".join(lines)
    once = tess._read(img, ["eng"], 300)
    result = TesseractEngine().recognize(img, languages=["eng"], dpi=300)
    read = "\n".join(b.text for b in result.blocks)
    assert cer(truth, read) <= 0.02 < cer(truth, "\n".join(b.text for b in once)), read
    _check_structure(result.blocks, img.size)
    first = result.blocks[0].bbox
    assert first is not None and 2 <= first[0] <= 10 and 2 <= first[1] <= 10 and first[3] <= 22
