"""The page pipeline end to end with real Tesseract and real files; layout rules."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymupdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocrkit import api, hookimpl
from ocrkit.errors import BadOption, EngineFailed, EngineUnavailable
from ocrkit.hookspecs import Engine, ExportContext, Exporter, PageResult, Tool
from ocrkit.layout import page as layout
from ocrkit.models import Block, Job, Page, Word
from ocrkit.plugins import build_registry, get_plugin_manager
from ocrkit.settings import load_settings
from tests.conftest import cer

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LINES = ["The quick brown fox jumps", "over the lazy dog near", "the riverbank at dawn"]


def text_image(lines: list[str], size: tuple[int, int] = (1000, 330), font_size: int = 36):
    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, font_size)
    for i, line in enumerate(lines):
        draw.text((50, 50 + i * int(font_size * 2)), line, font=font, fill=0)
    return img


def assert_reads(text: str, lines: list[str], max_cer: float = 0.05) -> None:
    assert cer(" ".join(lines), text) <= max_cer, text


# ----------------------------------------------------------------- every image type


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "BMP"])
def test_single_image_types(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "page.bin"
    text_image(LINES).convert("RGB").save(
        path, format=fmt, **({"lossless": True} if fmt == "WEBP" else {})
    )
    job = api.ocr(path, jobs=1)
    assert job.status == "done" and job.input_type == fmt.lower() and job.page_count == 1
    page = job.pages[0]
    assert (page.width, page.height, page.rotation, page.source) == (1000, 330, 0, "ocr")
    assert page.engine == "tesseract" == job.engine
    assert_reads(job.text, LINES)
    assert all(b.words and len(b.bbox) == 4 for b in page.blocks)


def test_jpeg_exif_orientation_is_honoured(tmp_path: Path) -> None:
    upright = text_image(LINES).convert("RGB")
    # Orientation 6: the stored pixels must be turned 90 degrees clockwise to display.
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "photo.jpg"
    stored.save(path, format="JPEG", quality=95, exif=exif.tobytes(), dpi=(200, 200))
    job = api.ocr(path, jobs=1)
    page = job.pages[0]
    assert page.rotation == 90
    assert (page.width, page.height) == upright.size
    assert page.dpi == 200
    assert_reads(job.text, LINES)


def test_multipage_tiff_and_gif_frames(tmp_path: Path) -> None:
    frames = [text_image([f"Page number {w} of three"]) for w in ("one", "two", "three")]
    tiff = tmp_path / "pages.tif"
    frames[0].save(tiff, save_all=True, append_images=frames[1:], compression="tiff_lzw")
    gif = tmp_path / "pages.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100)
    for path, kind in ((tiff, "tiff"), (gif, "gif")):
        job = api.ocr(path, jobs=1, pages="2-3")
        assert job.input_type == kind and job.extra["input_pages"] == 3
        assert [p.index for p in job.pages] == [1, 2]
        assert "two" in job.pages[0].text and "three" in job.pages[1].text
        assert job.text == job.pages[0].text + "\f" + job.pages[1].text


def test_bytes_and_stream_inputs(tmp_path: Path) -> None:
    data = io.BytesIO()
    text_image(LINES).save(data, format="PNG")
    by_bytes = api.ocr(data.getvalue(), jobs=1)
    data.seek(0)
    by_stream = api.ocr(data, jobs=1, filename="stdin.png")
    assert by_bytes.filename is None and by_stream.filename == "stdin.png"
    assert by_bytes.text == by_stream.text
    assert_reads(by_stream.text, LINES)


# ------------------------------------------------------------------------------- PDFs


def test_born_digital_pdf_keeps_text_layer(corpus: Path) -> None:
    path = corpus / "pdf" / "docling_multi_page.pdf"
    job = api.ocr(path, dpi=150, jobs=1)
    assert job.input_type == "pdf" and job.page_count == 5
    assert {p.source for p in job.pages} == {"text-layer"}
    assert job.engine == "pdf-text" and job.mean_confidence == 1.0
    truth = (corpus / "pdf" / "docling_multi_page.gt.txt").read_text()
    assert cer(truth, job.text) < 0.05
    first = job.pages[0]
    assert (first.width, first.height, first.dpi) == (1240, 1754, 150)
    assert first.markdown.startswith("## The Evolution of the Word Processor\n\n")
    assert "- IBM MT/ST" in first.markdown


def test_scanned_pdf_is_ocrd(corpus: Path) -> None:
    path = corpus / "pdf" / "scan_fondue_dracula_p54-55.pdf"
    job = api.ocr(path, dpi=200, jobs=1, pages="2")
    page = job.pages[0]
    assert page.index == 1 and page.source == "ocr" and page.engine == "tesseract"
    assert (page.dpi, page.width, page.height) == (200, 1700, 2200)
    assert page.extra["text_layer"]["reason"] == "no text layer"
    truth = (corpus / "pdf" / "scan_fondue_dracula_p54-55.gt.txt").read_text().split("\f")
    assert len(truth) == 2
    assert cer(truth[1], job.text) < 0.05


def mixed_pdf(tmp_path: Path) -> Path:
    """Page 1 born-digital; page 2 a scanned image; page 3 a scan with a text stamp."""
    doc = pymupdf.open()
    p1 = doc.new_page(width=420, height=300)
    p1.insert_text((40, 60), "Born digital invoice text", fontsize=16)
    p1.insert_text((40, 100), "Total amount due today", fontsize=16)
    scans = [
        (["Scanned letter page", "with some printed words"], None),
        (["Stamped scan content", "hidden under a stamp"], "APPROVED"),
    ]
    for words, stamp in scans:
        page = doc.new_page(width=420, height=300)
        buf = io.BytesIO()
        text_image(words, size=(1167, 833), font_size=48).save(buf, format="PNG")
        page.insert_image(page.rect, stream=buf.getvalue())
        if stamp:
            page.insert_text((330, 290), stamp, fontsize=8)
    path = tmp_path / "mixed.pdf"
    doc.save(path)
    return path


def test_mixed_pdf_decides_page_by_page(tmp_path: Path) -> None:
    path = mixed_pdf(tmp_path)
    seen: list[int] = []
    job = api.ocr(path, dpi=200, jobs=1, on_page=lambda p: seen.append(p.index))
    assert sorted(seen) == [0, 1, 2]
    assert [p.source for p in job.pages] == ["text-layer", "ocr", "ocr"]
    assert [p.engine for p in job.pages] == ["pdf-text", "tesseract", "tesseract"]
    assert job.engine == "pdf-text+tesseract"
    assert "Born digital invoice text" in job.pages[0].text
    assert "Scanned letter page" in job.pages[1].text
    assert "Stamped scan content" in job.pages[2].text  # OCR read the image, not just the stamp
    assert "covers only part" in job.pages[2].extra["text_layer"]["reason"]
    forced = api.ocr(path, dpi=200, jobs=1, pages="1", force_ocr=True)
    assert forced.pages[0].source == "ocr"
    assert "invoice" in forced.pages[0].text


def test_text_layer_boxes_match_tesseract_boxes(tmp_path: Path) -> None:
    path = mixed_pdf(tmp_path)
    layer = api.ocr(path, dpi=200, jobs=1, pages="1").pages[0]
    ocrd = api.ocr(path, dpi=200, jobs=1, pages="1", force_ocr=True).pages[0]
    a = {w.text: w.bbox for b in layer.blocks for w in b.words}
    b = {w.text: w.bbox for b in ocrd.blocks for w in b.words}
    common = set(a) & set(b)
    assert len(common) >= 5
    for word in common:
        cx_a, cy_a = (a[word][0] + a[word][2]) / 2, (a[word][1] + a[word][3]) / 2
        cx_b, cy_b = (b[word][0] + b[word][2]) / 2, (b[word][1] + b[word][3]) / 2
        assert abs(cx_a - cx_b) < 10 and abs(cy_a - cy_b) < 10, (word, a[word], b[word])


def test_images_dir_and_export_page_images(tmp_path: Path) -> None:
    path = mixed_pdf(tmp_path)
    images = tmp_path / "images"
    job = api.ocr(path, dpi=100, jobs=1, images_dir=images, pages="1,3")
    assert sorted(p.name for p in images.iterdir()) == ["page-0.png", "page-2.png"]
    with Image.open(images / "page-2.png") as im:
        assert im.size == (job.pages[1].width, job.pages[1].height)

    class SizesExporter(Exporter):
        name = "sizes"

        def export(self, job: Job, ctx: ExportContext) -> bytes:
            assert ctx.page_image is not None
            return repr([ctx.page_image(p.index).size for p in job.pages]).encode()

    class Plugin:
        @hookimpl
        def register_exporters(self, register: Callable[[Exporter], None]) -> None:
            register(SizesExporter())

    reg = build_registry(get_plugin_manager(extra_plugins=[Plugin()]))
    expected = repr([(p.width, p.height) for p in job.pages]).encode()
    assert api.export(job, "sizes", images_dir=images, registry=reg) == expected
    assert api.export(job, "sizes", source=path, registry=reg) == expected  # rendered
    with pytest.raises(BadOption, match="unknown format"):
        api.export(job, "nope", registry=reg)


# ------------------------------------------------------------------ parallel pages


def test_jobs_two_equals_jobs_one(tmp_path: Path) -> None:
    frames = [text_image([f"Parallel page {n}", "same text either way"]) for n in range(3)]
    tiff = tmp_path / "three.tif"
    frames[0].save(tiff, save_all=True, append_images=frames[1:])
    one = api.ocr(tiff, jobs=1)
    two = api.ocr(tiff, jobs=2)
    assert one.text == two.text and "Parallel page 2" in two.text
    assert [p.to_dict() for p in one.pages] == [p.to_dict() for p in two.pages]


# ------------------------------------------------------------ options and engines


def test_languages_validated_before_work(
    tmp_path: Path, reduced_tessdata: Callable[..., Path]
) -> None:
    data = io.BytesIO()
    text_image(["Guten Tag"]).save(data, format="PNG")
    with pytest.raises(BadOption, match="xx"):
        api.ocr(data.getvalue(), language="xx", jobs=1)
    # A language without a model is no error before work any more (issue 16: text-layer
    # pages need none): a page needing OCR is read with auto and says so.
    reduced_tessdata("eng", "osd", "deu")
    job = api.ocr(data.getvalue(), language="ko", jobs=1)
    assert "tesseract-ocr-kor" in " ".join(job.warnings) and "Guten Tag" in job.text
    job = api.ocr(data.getvalue(), language="de+en", jobs=1)
    assert job.language == "de+en" and "Guten Tag" in job.text
    with pytest.raises(BadOption, match="unknown engine"):
        api.ocr(data.getvalue(), engine="nope", jobs=1)
    with pytest.raises(BadOption, match="tier"):
        api.ocr(data.getvalue(), tier="gpu", jobs=1)
    with pytest.raises(BadOption, match="page range"):
        api.ocr(data.getvalue(), pages="x", jobs=1)


def test_vlm_tier_without_server_falls_back_or_refuses() -> None:
    data = io.BytesIO()
    text_image(["Fallback page"]).save(data, format="PNG")
    job = api.ocr(data.getvalue(), tier="vlm", jobs=1, settings=load_settings(env={}))
    assert job.tier == "vlm" and job.engine == "tesseract"
    assert any("OCRKIT_VLM_BASE_URL" in w for w in job.warnings)
    off = load_settings(env={"OCRKIT_VLM_FALLBACK": "off"})
    with pytest.raises(EngineUnavailable, match="OCRKIT_VLM_BASE_URL"):
        api.ocr(data.getvalue(), tier="vlm", jobs=1, settings=off)


class TurningEngine(Engine):
    """Reports that it turned the page 90 degrees (as an OSD-capable engine may)."""

    name = "turning"

    def recognize(self, image: Any, *, languages: list[str], dpi: int) -> PageResult:
        w, h = image.height, image.width  # after the turn
        word = Word("turned", [1, 1, w - 1, h - 1], 0.5)
        return PageResult(blocks=[Block("turned", [1, 1, w - 1, h - 1], 0.5, [word])], rotation=90)


class CrashingEngine(Engine):
    name = "crashing"

    def recognize(self, image: Any, *, languages: list[str], dpi: int) -> PageResult:
        raise RuntimeError("boom")


class EnginesPlugin:
    @hookimpl
    def register_engines(self, register: Callable[[Engine], None]) -> None:
        register(TurningEngine())
        register(CrashingEngine())


def test_engine_rotation_and_failure(tmp_path: Path) -> None:
    reg = build_registry(get_plugin_manager(extra_plugins=[EnginesPlugin()]))
    data = io.BytesIO()
    text_image(["x"], size=(300, 100)).save(data, format="PNG")
    images = tmp_path / "img"
    job = api.ocr(data.getvalue(), engine="turning", jobs=1, registry=reg, images_dir=images)
    page = job.pages[0]
    assert (page.width, page.height, page.rotation) == (100, 300, 90)
    with Image.open(images / "page-0.png") as im:
        assert im.size == (100, 300)
    assert job.mean_confidence == 0.5 and job.engine == "turning"
    with pytest.raises(EngineFailed, match="page 1.*boom"):
        api.ocr(data.getvalue(), engine="crashing", jobs=1, registry=reg)


def test_job_fields() -> None:
    data = io.BytesIO()
    text_image(LINES).save(data, format="PNG")
    job = api.ocr(data.getvalue(), jobs=1, dpi=300)
    d = job.to_dict()
    assert d["status"] == "done" and d["language"] == "auto" and d["tier"] == "cpu"
    assert d["created_at"].endswith("+00:00") and d["finished_at"] >= d["created_at"]
    assert d["page_count"] == d["pages_done"] == 1 and d["uuid"]
    assert Job.from_dict(d).to_dict() == d
    assert 0 < job.mean_confidence <= 1


# ---------------------------------------------------------------------------- layout


def line(text: str, x0: float, y0: float, x1: float, h: float = 20) -> Block:
    words, x = [], x0
    for w in text.split():
        width = (x1 - x0) * len(w) / max(1, len(text))
        words.append(Word(w, [x, y0, x + width, y0 + h], 1.0))
        x += width + 5
    return Block(text, [x0, y0, x1, y0 + h], 1.0, words)


def test_paragraphs_from_gaps_indents_and_short_lines() -> None:
    blocks = [
        line("first paragraph runs the full width of", 10, 0, 500),
        line("the column and ends short.", 10, 25, 300),
        line("second paragraph starts here after a short", 10, 50, 500),
        line("line and continues to the end.", 10, 75, 480),
        line("third after a gap", 10, 140, 300),
        line("    indented fourth paragraph begins now", 60, 165, 500),
    ]
    layout.assign_paragraphs(blocks)
    assert [b.paragraph for b in blocks] == [0, 0, 1, 1, 2, 3]
    page = Page(0, 600, 300, 300, blocks=blocks)
    assert layout.page_text(page).count("\n\n") == 3


def test_markdown_escapes_line_starts() -> None:
    for raw, md in [
        ("# not a heading", "\\# not a heading"),
        ("- not a list", "\\- not a list"),
        ("1. not a list", "1\\. not a list"),
        ("> not a quote", "\\> not a quote"),
        ("---", "\\---"),
        ("```", "\\```"),
        ("plain #1 text", "plain #1 text"),
        ("2024 was a year", "2024 was a year"),
    ]:
        assert layout.escape_line(raw) == md


def test_markdown_headings_lists_and_tables() -> None:
    blocks = [
        line("Annual Report", 10, 0, 200, h=40),
        line("Body text line one", 10, 60, 500),
        line("• bullet item", 10, 85, 200),
    ]
    page = Page(0, 600, 300, 300, blocks=blocks)
    layout.finish_page(page, sizes=[24.0, 10.0, 10.0], bold=[True, False, False])
    assert blocks[0].type == "heading"
    # 2.4 times the body size: a title, level 1 (ocrkit.layout.H1_RATIO)
    assert page.markdown.splitlines()[0] == "# Annual Report"
    assert "- bullet item" in page.markdown
    assert page.text.startswith("Annual Report\n\nBody text line one")


class NoteTool(Tool):
    name = "note"
    preset = {"force_ocr": True, "note": "from the preset"}

    def process_page(self, page: Page, image: Any, options: dict[str, Any]) -> Page:
        page.extra["note"] = options["note"]
        page.extra["image_size"] = list(image.size)
        return page

    def process_job(self, job: Job, options: dict[str, Any]) -> Job:
        job.extra["translate_to"] = options["translate_to"]
        return job


class ToolPlugin:
    @hookimpl
    def register_tools(self, register: Callable[[Tool], None]) -> None:
        register(NoteTool())


def test_tool_preset_and_hooks(tmp_path: Path) -> None:
    reg = build_registry(get_plugin_manager(extra_plugins=[ToolPlugin()]))
    path = mixed_pdf(tmp_path)
    job = api.ocr(path, dpi=100, jobs=1, pages="1", tool="note", translate_to="de", registry=reg)
    page = job.pages[0]
    assert page.source == "ocr"  # the preset's force_ocr applied
    assert page.extra["note"] == "from the preset"
    assert page.extra["image_size"] == [page.width, page.height]
    assert job.tool == "note" and job.extra["translate_to"] == "de"
    with pytest.raises(BadOption, match="unknown tool"):
        api.ocr(path, jobs=1, tool="missing", registry=reg)


def test_shared_executor_survives_a_cancelled_job(tmp_path: Path) -> None:
    """The server's pattern: one pool for many jobs; on_page raising stops a job."""
    from ocrkit.pipeline.pages import make_executor

    frames = [text_image([f"Shared pool page {n}"]) for n in range(4)]
    tiff = tmp_path / "four.tif"
    frames[0].save(tiff, save_all=True, append_images=frames[1:])

    class Cancelled(Exception):
        pass

    def cancel(page: Page) -> None:
        raise Cancelled

    with make_executor(2) as pool:
        with pytest.raises(Cancelled):
            api.ocr(tiff, executor=pool, on_page=cancel)
        job = api.ocr(tiff, executor=pool)
    assert [p.index for p in job.pages] == [0, 1, 2, 3]
    assert "Shared pool page 3" in job.pages[3].text


def test_page_to_dict_is_asdict_written_out() -> None:
    """Page.to_dict is written out by hand (issue 14: asdict took 0.5 ms a page, the server
    converts each page three times): same keys in the same order, same values, copies, and
    every field of the dataclasses covered, on a real page with tables, extras and flags."""
    from dataclasses import asdict, fields

    from ocrkit.models import Cell, Table

    data = io.BytesIO()
    text_image(LINES).save(data, format="PNG")
    page = api.ocr(data.getvalue(), jobs=1, dpi=300).pages[0]
    assert page.blocks and page.blocks[0].words
    page.blocks[0].extra = {"box": "estimated", "n": [1, {"a": 2}]}
    page.blocks[-1].flags = ["low_confidence"]
    page.tables = [Table(cells=[Cell(0, 0, "a", [1, 2, 3, 4], col_span=2)], bbox=[0, 0, 9, 9])]
    page.extra = {"plugin": {"k": [1, 2]}}
    page.original_text = "before"

    def reference(p: Page) -> dict[str, Any]:  # the former definition
        d = asdict(p)
        if not p.tables:
            d.pop("tables")
        for b in d["blocks"]:
            if not b.get("extra"):
                b.pop("extra", None)
        return d

    for p in (page, Page(index=3, width=1, height=2, dpi=300)):
        got, want = p.to_dict(), reference(p)
        assert got == want
        assert json.dumps(got) == json.dumps(want)  # key order too
        assert Page.from_dict(got) == p
    assert set(page.to_dict()) == {f.name for f in fields(Page)}
    assert set(page.to_dict()["blocks"][0]) == {f.name for f in fields(Block)}
    assert set(page.to_dict()["blocks"][0]["words"][0]) == {f.name for f in fields(Word)}
    # Copies: changing the dict leaves the page as it was.
    d = page.to_dict()
    d["blocks"][0]["bbox"][0] = -1
    d["blocks"][0]["words"][0]["bbox"][0] = -1
    d["blocks"][0]["extra"]["n"][1]["a"] = 0
    d["blocks"][-1]["flags"].append("x")
    d["extra"]["plugin"]["k"].append(3)
    d["warnings"].append("x")
    assert page.to_dict() == reference(page) != d
