"""Inputs: type sniffing, page ranges, spooling, limits, broken files, PDF text layers."""

from __future__ import annotations

import io
import os
import stat
import struct
import time
import zlib
from pathlib import Path

import pymupdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocrkit import api
from ocrkit.errors import BadInput, BadOption, EncryptedInput, LimitExceeded
from ocrkit.page import inputs
from ocrkit.page.inputs import Limits, parse_page_ranges, sniff
from ocrkit.page.textlayer import garbage_ratio, read_text_layer

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def text_image(lines: list[str], size: tuple[int, int] = (900, 300), font_size: int = 32):
    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, font_size)
    for i, line in enumerate(lines):
        draw.text((40, 40 + i * int(font_size * 1.8)), line, font=font, fill=0)
    return img


def encoded(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


# ----------------------------------------------------------------------------- sniff


@pytest.mark.parametrize(
    ("fmt", "kind"),
    [
        ("PNG", "png"),
        ("JPEG", "jpeg"),
        ("WEBP", "webp"),
        ("GIF", "gif"),
        ("BMP", "bmp"),
        ("TIFF", "tiff"),
    ],
)
def test_sniff_images(fmt: str, kind: str) -> None:
    assert sniff(encoded(Image.new("RGB", (8, 8), "white"), fmt)[:32]) == kind


def test_sniff_pdf_and_rejects() -> None:
    assert sniff(b"%PDF-1.7\n%\xe2\xe3") == "pdf"
    with pytest.raises(BadInput, match="empty"):
        sniff(b"")
    with pytest.raises(BadInput, match="unsupported input type"):
        sniff(b"hello, I am a text file")


def test_type_is_read_from_bytes_not_name(tmp_path: Path) -> None:
    fake = tmp_path / "scan.png"
    fake.write_text("not an image at all")
    with pytest.raises(BadInput, match="unsupported input type"):
        api.ocr(fake, jobs=1)
    # a real PNG named .pdf is read as a PNG
    real = tmp_path / "doc.pdf"
    real.write_bytes(encoded(text_image(["Named wrong"]), "PNG"))
    job = api.ocr(real, jobs=1)
    assert job.input_type == "png"
    assert "wrong" in job.text.lower()


# ------------------------------------------------------------------------ page ranges


def test_page_ranges() -> None:
    assert parse_page_ranges(None, 4) == [0, 1, 2, 3]
    assert parse_page_ranges("1-3,7", 10) == [0, 1, 2, 6]
    assert parse_page_ranges("2, 2-3", 5) == [1, 2]
    assert parse_page_ranges("4-", 5) == [3, 4]
    assert parse_page_ranges("-2", 5) == [0, 1]
    assert parse_page_ranges("3-9", 5) == [2, 3, 4]  # clipped to the document


@pytest.mark.parametrize("spec", ["0", "3-1", "a", "1-2-3", "1,,2", "6", "-", "1 2"])
def test_bad_page_ranges(spec: str) -> None:
    with pytest.raises(BadOption):
        parse_page_ranges(spec, 5)


# ---------------------------------------------------------------------------- sources


def test_bytes_are_spooled_privately_and_removed() -> None:
    seen: list[Path] = []
    with inputs.open_source(b"%PDF-1.4 spooled", Limits()) as path:
        seen.append(path)
        assert path.read_bytes() == b"%PDF-1.4 spooled"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not seen[0].exists()
    with pytest.raises(BadInput), inputs.open_source(io.BytesIO(b""), Limits()):
        pass
    with (
        pytest.raises(LimitExceeded, match="larger than"),
        inputs.open_source(io.BytesIO(b"x" * 5000), Limits(max_bytes=4096)),
    ):
        pass


def test_spooled_file_removed_after_error() -> None:
    before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("ocrkit-*.input"))
    with pytest.raises(BadInput):
        api.ocr(b"garbage bytes, not a document", jobs=1)
    after = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("ocrkit-*.input"))
    assert after <= before


def test_zero_bytes_and_missing_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(BadInput, match="empty"):
        api.ocr(empty, jobs=1)
    with pytest.raises(BadInput, match="empty"):
        api.ocr(b"", jobs=1)
    with pytest.raises(BadInput, match="cannot read"):
        api.ocr(tmp_path / "missing.png", jobs=1)


def test_max_bytes(tmp_path: Path) -> None:
    data = encoded(text_image(["x"]), "PNG")
    with pytest.raises(LimitExceeded):
        api.ocr(data, jobs=1, limits=Limits(max_bytes=len(data) - 1))


# ------------------------------------------------------------------- broken inputs


def test_truncated_png(tmp_path: Path) -> None:
    data = encoded(text_image(["Truncated"]), "PNG")
    with pytest.raises(BadInput, match="truncated|corrupt"):
        api.ocr(data[: len(data) // 2], jobs=1)


def test_truncated_pdf(tmp_path: Path) -> None:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "hello")
    data = doc.tobytes()
    with pytest.raises(BadInput):
        api.ocr(data[:60], jobs=1)


def test_truncated_corpus_pdfs(corpus: Path) -> None:
    scan = (corpus / "pdf" / "scan_fondue_dracula_p54-55.pdf").read_bytes()
    with pytest.raises(BadInput, match="no pages"):
        api.ocr(scan[: len(scan) // 2], jobs=1)
    digital = (corpus / "pdf" / "docling_multi_page.pdf").read_bytes()
    job = api.ocr(digital[: len(digital) // 2], jobs=1, dpi=72)  # MuPDF repairs it
    assert any("repaired" in w for w in job.warnings)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_png_refused_quickly() -> None:
    data = _png_header_only(100_000, 100_000)
    t0 = time.monotonic()
    with pytest.raises(LimitExceeded, match="megapixels"):
        api.ocr(data, jobs=1)
    assert time.monotonic() - t0 < 2
    # just over a custom limit (below Pillow's 2x error threshold): still LimitExceeded
    with pytest.raises(LimitExceeded):
        api.ocr(_png_header_only(1100, 1000), jobs=1, limits=Limits(max_pixels=1_000_000))


def test_a_jobs_pixel_limit_does_not_stay_in_pillow() -> None:
    """A job's limit applies to its own images only: Pillow's process-wide limit is the
    caller's again afterwards (it was left at the last job's limit, and a later plain
    ``Image.open`` of a 2 Mpx page in the same process failed)."""
    before = Image.MAX_IMAGE_PIXELS
    page = io.BytesIO()
    Image.new("L", (600, 500), 255).save(page, "PNG")
    job = api.ocr(page.getvalue(), jobs=1, limits=Limits(max_pixels=1_000_000))
    assert job.pages and before == Image.MAX_IMAGE_PIXELS
    with pytest.raises(LimitExceeded):
        api.ocr(_png_header_only(1100, 1000), jobs=1, limits=Limits(max_pixels=1_000_000))
    assert before == Image.MAX_IMAGE_PIXELS


def test_huge_pdf_page_rendered_smaller_or_refused() -> None:
    assert inputs.render_dpi((612, 792), 300, Limits()) == (300, "")
    dpi, warning = inputs.render_dpi((14400, 14400), 300, Limits())
    assert 36 <= dpi < 300 and "instead of 300" in warning
    assert (14400 * dpi / 72) ** 2 <= Limits().max_pixels
    with pytest.raises(LimitExceeded):
        inputs.render_dpi((14400, 14400), 300, Limits(max_pixels=1000))


def test_too_many_pages() -> None:
    doc = pymupdf.open()
    for i in range(5):
        doc.new_page().insert_text((72, 72), f"page {i}")
    data = doc.tobytes()
    with pytest.raises(LimitExceeded, match="limit is 3 pages"):
        api.ocr(data, jobs=1, limits=Limits(max_pages=3))
    job = api.ocr(data, jobs=1, limits=Limits(max_pages=3), pages="2-4", dpi=72)
    assert [p.index for p in job.pages] == [1, 2, 3]
    assert job.page_count == 3 and job.extra["input_pages"] == 5


def test_password_pdf(tmp_path: Path) -> None:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "Secret quarterly numbers", fontsize=14)
    path = tmp_path / "locked.pdf"
    doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="s3cret", owner_pw="own")
    with pytest.raises(EncryptedInput, match="password"):
        api.ocr(path, jobs=1)
    with pytest.raises(EncryptedInput, match="wrong password"):
        api.ocr(path, jobs=1, password="nope")
    job = api.ocr(path, jobs=1, password="s3cret", dpi=72)
    assert "Secret quarterly numbers" in job.text
    assert job.pages[0].source == "text-layer"


# --------------------------------------------------------------------- text layers


def test_garbage_ratio() -> None:
    assert garbage_ratio("plain text") == 0
    assert garbage_ratio("\ufffd\ufffdab") == 0.5
    assert garbage_ratio("\ue000\ue001\ue002x") == 0.75


def test_unmapped_glyphs_are_not_a_usable_layer() -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 100), "\ue000\ue001\ue002\ue003 \ue004\ue005", fontsize=20,
                     fontfile=FONT, fontname="dv")  # fmt: skip
    layer = read_text_layer(page, 72)
    assert not layer.usable and "unreadable" in layer.reason
    assert layer.stats["garbage"] > 0.25


def test_ocrmypdf_style_invisible_text_is_usable(corpus: Path) -> None:
    import pytesseract

    scan = pymupdf.open(corpus / "pdf" / "scan_fondue_dracula_p54-55.pdf")[0]
    pix = scan.get_pixmap(dpi=100, colorspace=pymupdf.csGRAY)
    img = Image.frombytes("L", (pix.width, pix.height), pix.samples)
    pdf = pytesseract.image_to_pdf_or_hocr(img, extension="pdf")  # image + invisible text
    page = pymupdf.open(stream=pdf, filetype="pdf")[0]
    layer = read_text_layer(page, 100)
    assert layer.usable, layer.stats
    assert layer.stats["uncovered_share"] < 0.1


def stamped_scan(corpus: Path) -> pymupdf.Document:
    src = pymupdf.open(corpus / "pdf" / "scan_fondue_dracula_p54-55.pdf")
    doc = pymupdf.open()
    doc.insert_pdf(src, from_page=0, to_page=0)
    doc[0].insert_text((380, 40), "RECEIVED 2024-05-01", fontsize=10)
    return doc


def test_scan_with_small_stamp_is_not_usable(corpus: Path) -> None:
    layer = read_text_layer(stamped_scan(corpus)[0], 72)
    assert not layer.usable
    assert "covers only part" in layer.reason
    assert layer.stats["uncovered_share"] > 0.9


def test_born_digital_corpus_pages_are_usable(corpus: Path) -> None:
    for name in ("docling_amt_handbook_sample.pdf", "docling_code_and_formula.pdf"):
        for page in pymupdf.open(corpus / "pdf" / name):
            layer = read_text_layer(page, 72)
            assert layer.usable, (name, page.number, layer.reason, layer.stats)


def _ink(img: Image.Image, box: list[float]) -> int:
    crop = img.convert("L").crop(tuple(int(round(v)) for v in box))
    return sum(crop.point(lambda v: 255 if v < 128 else 0).histogram()[255:])


@pytest.mark.parametrize(("rotation", "crop"), [(0, False), (90, False), (270, False), (90, True)])
def test_text_layer_boxes_land_on_rendered_words(rotation: int, crop: bool) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=500, height=300)
    page.insert_text((40, 60), "Alpha beta gamma", fontsize=24)
    page.insert_text((260, 250), "delta", fontsize=24)
    if crop:  # a cropbox that does not start at the origin
        page.set_cropbox(pymupdf.Rect(20, 20, 480, 290))
    page.set_rotation(rotation)
    dpi = 100
    layer = read_text_layer(page, dpi)
    img = inputs.pdf_page_image(page, dpi)
    words = [w for b in layer.blocks for w in b.words]
    assert [w.text for w in words] == ["Alpha", "beta", "gamma", "delta"]
    for w in words:
        x0, y0, x1, y1 = w.bbox
        assert 0 <= x0 < x1 <= img.width and 0 <= y0 < y1 <= img.height
        assert _ink(img, w.bbox) > 20, (w.text, w.bbox)
    # and the page outside the word boxes is blank
    blank = img.convert("L").copy()
    draw = ImageDraw.Draw(blank)
    for w in words:
        draw.rectangle(w.bbox, fill=255)
    assert _ink(blank, [0, 0, img.width, img.height]) == 0
