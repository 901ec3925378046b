"""Exporters, read back with real readers.

Jobs are built from real Tesseract output (``pytesseract.image_to_data``: real words and
boxes) on corpus images, rendered pages and rendered PDF pages, so the searchable PDF is
checked against boxes an engine really produced. Every output is parsed again: json
with ``Job.from_dict``, csv with :mod:`csv`, docx with python-docx, hOCR with
:mod:`xml.etree`, pdf with PyMuPDF.
"""

from __future__ import annotations

import csv
import html as html_lib
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pymupdf
import pytesseract
import pytest
from PIL import Image, ImageChops

from ocrkit.errors import BadOption, ExportFailed
from ocrkit.hookspecs import ExportContext
from ocrkit.models import Block, Cell, Job, Page, Table, Word
from ocrkit.plugins import get_registry

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SCAN = "pdf/scan_fondue_dracula_p54-55.pdf"
TEXT_PDF = "pdf/docling_multi_page.pdf"
PDF_DPI = 150
PUNCT = ".,;:!?()[]'\"«»،؛"


# ------------------------------------------------------------------ building jobs


def ocr_page(img: Image.Image, *, index: int = 0, dpi: int = 300, lang: str = "eng") -> Page:
    """A job page from Tesseract's word boxes: one block per line, paragraphs kept."""
    data = pytesseract.image_to_data(img, lang=lang, output_type=pytesseract.Output.DICT)
    lines: dict[tuple[int, int, int], list[Word]] = {}
    paras: dict[tuple[int, int], int] = {}
    for i, text in enumerate(data["text"]):
        if not text.strip() or float(data["conf"][i]) < 0:
            continue
        x, y, w, h = (data[k][i] for k in ("left", "top", "width", "height"))
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        paras.setdefault(key[:2], len(paras))
        conf = round(float(data["conf"][i]) / 100, 4)
        lines.setdefault(key, []).append(Word(text.strip(), [x, y, x + w, y + h], conf))
    blocks = []
    for key, words in lines.items():
        box = [min(w.bbox[0] for w in words), min(w.bbox[1] for w in words)]
        box += [max(w.bbox[2] for w in words), max(w.bbox[3] for w in words)]
        conf = round(sum(w.confidence for w in words) / len(words), 4)
        text = " ".join(w.text for w in words)
        blocks.append(Block(text, box, conf, words, paragraph=paras[key[:2]]))
    text = "\n".join(b.text for b in blocks)
    return Page(
        index=index,
        width=img.width,
        height=img.height,
        dpi=dpi,
        text=text,
        markdown=text,
        blocks=blocks,
        engine="tesseract",
        confidence=round(sum(b.confidence for b in blocks) / max(len(blocks), 1), 4),
    )


def make_job(pages: list[Page], **kw: object) -> Job:
    job = Job(status="done", pages=pages, **kw)  # type: ignore[arg-type]
    job.finish()
    return job


def image_dpi(img: Image.Image) -> int:
    return round(img.info.get("dpi", (300, 300))[0]) or 300


def render(page: pymupdf.Page, dpi: int = PDF_DPI) -> Image.Image:
    pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY)
    return Image.frombytes("L", (pix.width, pix.height), pix.samples)


@pytest.fixture(scope="session")
def exporters() -> dict:
    return get_registry().exporters


def export(exporters: dict, fmt: str, job: Job, **ctx: object) -> bytes:
    return exporters[fmt].export(job, ExportContext(**ctx))  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def lines_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import ImageDraw, ImageFont

    img = Image.new("L", (1700, 1000), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 44)
    lines = [
        "Quarterly Report",
        "The quick brown fox jumps over the lazy dog.",
        "Prices rose by 12% in March; costs & fees <fell>.",
        "Contact: Dr. Ada Lovelace, 10 Downing Street",
    ]
    for n, line in enumerate(lines):
        draw.text((120, 120 + n * 160), line, font=font, fill=0)
    path = tmp_path_factory.mktemp("img") / "report.png"
    img.save(path, dpi=(200, 200))
    return path


@pytest.fixture(scope="session")
def lines_job(lines_image: Path) -> Job:
    with Image.open(lines_image) as img:
        page = ocr_page(img, dpi=200)
    page.blocks[0].type = "heading"
    return make_job([page], input_type="png", filename="report.png")


@pytest.fixture(scope="session")
def scan_job(corpus: Path) -> Job:
    """Both pages of a scanned PDF OCR'd at PDF_DPI, as the pipeline would."""
    with pymupdf.open(corpus / SCAN) as doc:
        pages = [ocr_page(render(p), index=p.number, dpi=PDF_DPI) for p in doc]
    return make_job(pages, input_type="pdf", filename="scan.pdf", dpi=PDF_DPI)


# ------------------------------------------------------------------ pdf checks


def pdf_words_in_boxes(
    pdf_page: pymupdf.Page, job_page: Page, tol_pt: float = 2.0, *, turned: bool = False
) -> float:
    """Share of the job page's words that the PDF page yields, as that word, inside the
    word's box (mapped to points) grown by ``tol_pt``. ``turned``: the PDF page is
    shown as it was rendered, before the engine turned it (``job_page.rotation`` counts
    the page's /Rotate and the engine's turn, as the pipeline records it)."""
    to_upright = pdf_page.rotation_matrix * pymupdf.Matrix(job_page.dpi / 72, job_page.dpi / 72)
    engine_turn = (job_page.rotation - pdf_page.rotation) % 360 if turned else 0
    if engine_turn:
        w, h = pdf_page.rect.width * job_page.dpi / 72, pdf_page.rect.height * job_page.dpi / 72
        turn = {90: pymupdf.Matrix(0, 1, -1, 0, h, 0), 180: pymupdf.Matrix(-1, 0, 0, -1, w, h)}
        turn[270] = pymupdf.Matrix(0, -1, 1, 0, 0, w)
        to_upright = to_upright * turn[engine_turn]
    tol = tol_pt * job_page.dpi / 72
    found: dict[str, list[pymupdf.Rect]] = {}
    for x0, y0, x1, y1, text, *_ in pdf_page.get_text("words"):
        found.setdefault(text, []).append(pymupdf.Rect(x0, y0, x1, y1) * to_upright)
    words = [w for b in job_page.blocks for w in b.words]
    hits = 0
    for w in words:
        box = pymupdf.Rect(w.bbox) + (-tol, -tol, tol, tol)
        # MuPDF splits the trailing punctuation of right-to-left words into a word of
        # its own; the word itself must still be there, in its box.
        texts = {w.text, w.text.strip(PUNCT)}
        if any(box.contains(r) for t in texts for r in found.get(t, [])):
            hits += 1
    return hits / len(words)


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of two grey images of one size, in grey levels."""
    assert a.size == b.size
    hist = ImageChops.difference(a.convert("L"), b.convert("L")).histogram()
    return sum(n * v for v, n in enumerate(hist)) / sum(hist)


def assert_valid_pdf(data: bytes) -> None:
    """qpdf (through pikepdf) finds nothing wrong with the file's syntax."""
    import pikepdf

    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert pdf.check_pdf_syntax() == []


def assert_invisible(pdf_page: pymupdf.Page) -> None:
    spans = pdf_page.get_texttrace()
    assert spans, "no text on the page"
    assert {s["type"] for s in spans} == {3}, "text must be drawn in render mode 3"


# ------------------------------------------------------------------ text formats


def test_txt_md_json(exporters: dict, lines_job: Job) -> None:
    txt = export(exporters, "txt", lines_job).decode("utf-8")
    assert txt == lines_job.text + "\n"
    assert "quick brown fox" in txt
    assert export(exporters, "md", lines_job).decode("utf-8") == lines_job.markdown + "\n"
    data = json.loads(export(exporters, "json", lines_job))
    assert data["pages"][0]["blocks"][1]["words"][1]["text"] == "quick"
    assert Job.from_dict(data) == lines_job


def test_json_round_trips_everything(exporters: dict, lines_job: Job) -> None:
    page = Page.from_dict(lines_job.pages[0].to_dict())
    page.index, page.source, page.rotation = 1, "text-layer", 90
    page.tables = [Table([Cell(0, 0, "Ä €", [1, 2, 3, 4], row_span=2)], bbox=[1, 2, 3, 4])]
    page.extra = {"note": "日本語", "n": [1, 2.5, None]}
    page.warnings = ["a warning"]
    job = make_job([lines_job.pages[0], page], extra={"k": "v"}, tool="extract-tables")
    out = export(exporters, "json", job)
    assert "日本語".encode() in out  # ensure_ascii=False
    again = Job.from_dict(json.loads(out))
    assert again == job
    assert again.pages[1].tables[0].cells[0].row_span == 2


# ------------------------------------------------------------------ csv


def read_csv(data: bytes) -> list[list[str]]:
    assert not data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_csv_lines(exporters: dict, lines_job: Job, scan_job: Job) -> None:
    rows = read_csv(export(exporters, "csv", lines_job))
    assert rows[0] == ["page", "line", "text", "confidence", "x0", "y0", "x1", "y1"]
    blocks = lines_job.pages[0].blocks
    assert len(rows) == 1 + len(blocks)
    assert rows[2][:3] == ["1", "2", blocks[1].text]
    assert rows[3][2] == blocks[2].text  # commas, & and < survive quoting
    assert float(rows[2][3]) == pytest.approx(blocks[1].confidence)
    assert [int(v) for v in rows[2][4:]] == blocks[1].bbox
    rows = read_csv(export(exporters, "csv", scan_job))
    assert {r[0] for r in rows[1:]} == {"1", "2"}
    assert sum(r[0] == "2" for r in rows) == len(scan_job.pages[1].blocks)


@pytest.fixture
def tables_job() -> Job:
    def table(rows: list[list[str]], span: bool = False) -> Table:
        cells = [
            Cell(r, c, t, [0, 0, 1, 1]) for r, row in enumerate(rows) for c, t in enumerate(row)
        ]
        if span:  # a header spanning both columns
            cells = [Cell(0, 0, "Both", [0, 0, 2, 1], col_span=2)] + [c for c in cells if c.row > 0]
        return Table(cells, bbox=[0, 0, 10, 10])

    p0 = Page(0, 100, 100, 300, tables=[table([["a", "b"], ["1", "2"]])])
    p1 = Page(
        1,
        100,
        100,
        300,
        tables=[table([["x", "y"], ["3", '4,"q"']], span=True), table([["z"], ["5"]])],
    )
    return make_job([p0, p1])


def test_csv_tables(exporters: dict, tables_job: Job) -> None:
    assert read_csv(export(exporters, "csv", tables_job)) == [["a", "b"], ["1", "2"]]
    two = read_csv(export(exporters, "csv", tables_job, options={"table": "2"}))
    assert two == [["Both", ""], ["3", '4,"q"']]
    every = read_csv(export(exporters, "csv", tables_job, options={"table": "all"}))
    assert every == [["a", "b"], ["1", "2"], [], ["Both", ""], ["3", '4,"q"'], [], ["z"], ["5"]]
    for bad in ("0", "4", "-1", "first"):
        with pytest.raises(BadOption, match="table"):
            export(exporters, "csv", tables_job, options={"table": bad})


def test_csv_table_option_without_tables(exporters: dict, lines_job: Job) -> None:
    with pytest.raises(BadOption, match="0 tables"):
        export(exporters, "csv", lines_job, options={"table": "1"})
    rows = read_csv(export(exporters, "csv", lines_job, options={"table": "all"}))
    assert rows[0][0] == "page"


# ------------------------------------------------------------------ hocr


def test_hocr(exporters: dict, lines_job: Job, scan_job: Job) -> None:
    for job in (lines_job, scan_job):
        root = ET.fromstring(export(exporters, "hocr", job))
        ns = {"h": "http://www.w3.org/1999/xhtml"}
        pages = root.findall(".//h:div[@class='ocr_page']", ns)
        assert len(pages) == len(job.pages)
        assert "ppageno 0" in pages[0].get("title", "")
        w, h = job.pages[0].width, job.pages[0].height
        assert f"bbox 0 0 {w} {h}" in pages[0].get("title", "")
        words = root.findall(".//h:span[@class='ocrx_word']", ns)
        truth = [wd for p in job.pages for b in p.blocks for wd in b.words]
        assert [e.text for e in words] == [wd.text for wd in truth]
        first = truth[0]
        title = words[0].get("title", "")
        assert title.startswith("bbox " + " ".join(str(round(v)) for v in first.bbox))
        assert f"x_wconf {round(first.confidence * 100)}" in title
        assert len(root.findall(".//h:p[@class='ocr_par']", ns)) >= 2
    # The heading line is an ocr_header; markup characters survive escaping.
    job = Job.from_dict(lines_job.to_dict())
    job.pages[0].blocks[2].words[0].text = "<a href='x'>&amp;\""
    root = ET.fromstring(export(exporters, "hocr", job))
    assert root.find(".//*[@class='ocr_header']") is not None
    texts = [e.text for e in root.iter() if e.get("class") == "ocrx_word"]
    assert "<a href='x'>&amp;\"" in texts


# ------------------------------------------------------------------ docx


def test_docx(exporters: dict, lines_job: Job, scan_job: Job) -> None:
    import docx

    page = Page.from_dict(lines_job.pages[0].to_dict())
    page.index = 1
    item = Block("• first item", [0, 800, 300, 830], 0.9, type="list_item", paragraph=90)
    more = Block("goes on", [0, 830, 300, 860], 0.9, paragraph=90)
    numbered = Block("2. second", [0, 860, 300, 890], 0.9, type="list_item", paragraph=91)
    page.blocks += [item, more, numbered]
    page.blocks.append(Block("Q1 10", [120, 950, 400, 990], 0.9, type="table"))
    page.tables = [
        Table(
            [
                Cell(0, 0, "Region", [120, 950, 300, 990], col_span=2),
                Cell(1, 0, "North", [120, 990, 200, 1030]),
                Cell(1, 1, "10", [200, 990, 300, 1030]),
            ],
            bbox=[100, 940, 500, 1040],
        )
    ]
    job = make_job([scan_job.pages[0], page], filename="scan.pdf")
    document = docx.Document(io.BytesIO(export(exporters, "docx", job)))
    assert document.core_properties.title == "scan"
    paras = document.paragraphs
    headings = [p.text for p in paras if p.style.name.startswith("Heading")]
    assert headings == [lines_job.pages[0].blocks[0].text]
    body = [p.text for p in paras if p.style.name == "Normal" and p.text]
    # Each Tesseract paragraph of the scan became one Word paragraph of its lines.
    scan_paras = {b.paragraph for b in scan_job.pages[0].blocks}
    assert len(body) == len(scan_paras) + 3
    assert "quick brown fox jumps" in " ".join(body)
    assert [p.text for p in paras if p.style.name == "List Bullet"] == ["first item goes on"]
    assert [p.text for p in paras if p.style.name == "List Paragraph"] == ["2. second"]
    xml = document.element.xml
    assert xml.count('w:type="page"') == 1
    (table,) = document.tables
    assert table.cell(0, 0)._tc is table.cell(0, 1)._tc  # merged
    assert table.cell(0, 0).text == "Region"
    assert [c.text for c in table.rows[1].cells] == ["North", "10"]


# ------------------------------------------------------------------ pdf, image input


def test_pdf_needs_source(exporters: dict, lines_job: Job) -> None:
    with pytest.raises(ExportFailed, match="--source"):
        export(exporters, "pdf", lines_job)


def test_pdf_from_png(exporters: dict, lines_image: Path, lines_job: Job) -> None:
    out = export(exporters, "pdf", lines_job, source=lines_image)
    with pymupdf.open(stream=out, filetype="pdf") as doc:
        (page,) = doc
        assert tuple(page.rect) == pytest.approx((0, 0, 1700 * 72 / 200, 1000 * 72 / 200))
        assert pdf_words_in_boxes(page, lines_job.pages[0]) >= 0.95
        assert_invisible(page)
        (img,) = page.get_images()
        assert img[2:4] == (1700, 1000)
        assert "quick brown fox" in page.get_text()
        assert page.search_for("Lovelace")
    # Without a source: the upright page image from the pipeline.
    with Image.open(lines_image) as img:
        img.load()
    again = export(exporters, "pdf", lines_job, page_image=lambda i: img)
    with pymupdf.open(stream=again, filetype="pdf") as doc:
        assert pdf_words_in_boxes(doc[0], lines_job.pages[0]) >= 0.95


def test_pdf_text_layer_is_invisible(exporters: dict, lines_image: Path, lines_job: Job) -> None:
    """Rendering with and without the text layer gives the same pixels."""
    empty = make_job([Page.from_dict({**lines_job.pages[0].to_dict(), "blocks": []})])
    with_text = export(exporters, "pdf", lines_job, source=lines_image)
    without = export(exporters, "pdf", empty, source=lines_image)
    with pymupdf.open(stream=with_text) as a, pymupdf.open(stream=without) as b:
        assert a[0].get_text().strip() and not b[0].get_text().strip()
        assert a[0].get_pixmap(dpi=50).samples == b[0].get_pixmap(dpi=50).samples


@pytest.mark.parametrize(
    ("name", "lang"),
    [
        ("printed/tess_phototest.tif", "eng"),
        ("printed/kovalewsky_fr_p69.jpg", "fra"),
        ("nonlatin/udhr_ru_corp_page.jpg", "rus"),
        ("nonlatin/udhr_zh_corp_page.jpg", "chi_sim"),
        ("nonlatin/udhr_ar_corp_page.jpg", "ara"),
        ("nonlatin/udhr_hi_corp_page.jpg", "hin"),
    ],
)
def test_pdf_from_corpus_image(exporters: dict, corpus: Path, name: str, lang: str) -> None:
    path = corpus / name
    with Image.open(path) as img:
        page = ocr_page(img, dpi=image_dpi(img), lang=lang)
    job = make_job([page], input_type=path.suffix.lstrip("."), filename=path.name)
    out = export(exporters, "pdf", job, source=path)
    assert_valid_pdf(out)
    with pymupdf.open(stream=out, filetype="pdf") as doc:
        pdf_page = doc[0]
        assert pdf_page.rect.width == pytest.approx(page.width * 72 / page.dpi)
        assert pdf_page.rect.height == pytest.approx(page.height * 72 / page.dpi)
        share = pdf_words_in_boxes(pdf_page, page)
        assert share >= 0.95, f"{name}: {share:.1%} of the words in their boxes"
        assert_invisible(pdf_page)
        longest = max((w.text for b in page.blocks for w in b.words), key=len)
        assert pdf_page.search_for(longest), f"{longest!r} is not searchable"
        if path.suffix == ".jpg":  # the JPEG is embedded as it is
            (xref, *_) = pdf_page.get_images()[0]
            assert doc.extract_image(xref)["image"] == path.read_bytes()
            assert len(out) < path.stat().st_size + 60_000


def test_pdf_from_turned_image(exporters: dict, corpus: Path) -> None:
    """An image ocrkit turned 90 degrees clockwise: the original bytes are placed
    turned, so the page shows the upright image under the words."""
    path = corpus / "rotated/tess_phototest_rotL.png"
    with Image.open(path) as img:
        upright = img.convert("L").rotate(-90, expand=True)
    page = ocr_page(upright, dpi=200)
    page.rotation = 90
    assert "quick" in page.text
    out = export(exporters, "pdf", make_job([page]), source=path)
    with pymupdf.open(stream=out, filetype="pdf") as doc:
        assert tuple(doc[0].rect) == pytest.approx((0, 0, 640 * 72 / 200, 480 * 72 / 200))
        assert pdf_words_in_boxes(doc[0], page) >= 0.95
        shown = render(doc[0], dpi=200)
    assert shown.size == upright.size
    assert mean_difference(shown, upright) < 8


def test_pdf_from_multipage_tiff(exporters: dict, corpus: Path, tmp_path: Path) -> None:
    frames = [
        Image.open(corpus / f"printed/{n}.tif") for n in ("tess_phototest", "tess_hellogoogle")
    ]
    path = tmp_path / "two.tif"
    frames[0].save(path, save_all=True, append_images=frames[1:], compression="group4")
    pages = [ocr_page(f, index=i, dpi=image_dpi(f)) for i, f in enumerate(frames)]
    out = export(exporters, "pdf", make_job(pages, input_type="tiff"), source=path)
    with pymupdf.open(stream=out, filetype="pdf") as doc:
        assert doc.page_count == 2
        for pdf_page, page, frame in zip(doc, pages, frames, strict=True):
            assert pdf_page.get_images()[0][2:4] == frame.size
            assert pdf_words_in_boxes(pdf_page, page) >= 0.95


def _poppler_words(pdf: bytes, tmp_path: Path) -> list[tuple[str, pymupdf.Rect]]:
    """The words poppler's pdftotext finds on the first page, with their boxes (points,
    y down): a second reader besides MuPDF."""
    import shutil
    import subprocess

    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "read.pdf"
    path.write_bytes(pdf)
    html = subprocess.run(
        ["pdftotext", "-bbox", "-f", "1", "-l", "1", str(path), "-"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    words = []
    for m in re.finditer(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>',
        html,
    ):
        box = pymupdf.Rect(*(float(v) for v in m.groups()[:4]))
        words.append((html_lib.unescape(m.group(5)).strip(), box))
    return words


@pytest.mark.parametrize("mode", ["1", "L", "RGB"])
def test_pdf_from_tiff_frame_reads_back(
    exporters: dict, corpus: Path, tmp_path: Path, mode: str
) -> None:
    """A TIFF scan (1-bit, grey or colour) goes into the pdf as its own pixels, drawn by
    the page itself with the words on top (no second document, no Form XObject: made
    so, the pdf of a 640x480 page takes about half the CPU). Read back: the page renders
    as the frame, pixel for pixel, at its own bit depth; MuPDF and poppler both find the
    words in their boxes."""
    with Image.open(corpus / "printed/tess_phototest.tif") as src:
        frame = src.copy() if mode == "1" else src.convert(mode)
    if mode != "1":  # a grey or coloured patch away from the words: not black and white
        frame.paste((90, 160, 220)[: len(mode)] if mode == "RGB" else 128, (560, 420, 630, 470))
    path = tmp_path / f"scan-{mode}.tif"
    frame.save(path, dpi=(200, 200))
    page = ocr_page(frame.convert("L"), dpi=200)
    out = export(exporters, "pdf", make_job([page], input_type="tiff"), source=path)
    with pymupdf.open(stream=out, filetype="pdf") as doc:
        pdf_page = doc[0]
        assert pdf_words_in_boxes(pdf_page, page) >= 0.95
        assert_invisible(pdf_page)
        assert pdf_page.get_xobjects() == []  # the words are in the page's own content
        ((*_, width, height, bits, space, _alt, _name, _filter, _inv),) = pdf_page.get_images(
            full=True
        )
        assert (width, height, bits) == (640, 480, 1 if mode == "1" else 8)
        assert space == ("DeviceRGB" if mode == "RGB" else "DeviceGray")
        cs = pymupdf.csRGB if mode == "RGB" else pymupdf.csGRAY
        pix = pdf_page.get_pixmap(dpi=200, colorspace=cs)
        shown = Image.frombytes(
            "RGB" if mode == "RGB" else "L", (pix.width, pix.height), pix.samples
        )
    assert shown.size == frame.size
    assert ImageChops.difference(shown, frame.convert(shown.mode)).getbbox() is None
    # poppler: each job word found as that word where its box (points) is, within 2 pt
    # (poppler's boxes reach below the baseline by a descent of its own: the bottom edge
    # is not compared)
    found: dict[str, list[pymupdf.Rect]] = {}
    for text, rect in _poppler_words(out, tmp_path):
        found.setdefault(text, []).append(rect)
    words = [w for b in page.blocks for w in b.words]
    to_pt = 72 / page.dpi
    hits = 0
    for w in words:
        x0, y0, x1, _ = (v * to_pt for v in w.bbox)
        hits += any(
            max(abs(r.x0 - x0), abs(r.y0 - y0), abs(r.x1 - x1)) <= 2 for r in found.get(w.text, [])
        )
    assert hits >= 0.9 * len(words), f"poppler: {hits} of {len(words)} words in their boxes"


# ------------------------------------------------------------------ pdf, pdf input


def test_pdf_encrypted_source(exporters: dict, corpus: Path, scan_job: Job, tmp_path: Path) -> None:
    path = tmp_path / "locked.pdf"
    with pymupdf.open(corpus / SCAN) as doc:
        doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="s3cret", owner_pw="o")
    with pytest.raises(ExportFailed, match="password"):
        export(exporters, "pdf", scan_job, source=path)
    out = export(exporters, "pdf", scan_job, source=path, options={"password": "s3cret"})
    with pymupdf.open(stream=out, filetype="pdf") as doc:
        assert doc.needs_pass and doc.authenticate("s3cret")
        assert pdf_words_in_boxes(doc[1], scan_job.pages[1]) >= 0.95


def test_pdf_from_scanned_pdf(exporters: dict, corpus: Path, scan_job: Job) -> None:
    source = corpus / SCAN
    out = export(exporters, "pdf", scan_job, source=source)
    assert_valid_pdf(out)
    with pymupdf.open(source) as before, pymupdf.open(stream=out, filetype="pdf") as after:
        assert after.page_count == before.page_count
        for a, b, job_page in zip(after, before, scan_job.pages, strict=True):
            assert a.rect == b.rect and a.mediabox == b.mediabox
            assert pdf_words_in_boxes(a, job_page) >= 0.95
            assert_invisible(a)
            # The scan itself is kept: same image, same pixels.
            assert a.get_images()[0][2:4] == b.get_images()[0][2:4]
    assert len(out) < source.stat().st_size * 1.1 + 60_000


def test_pdf_rotated_page_turned_by_engine(
    exporters: dict, corpus: Path, scan_job: Job, tmp_path: Path
) -> None:
    """A page with /Rotate 90 shows the scan sideways; the engine turned the rendered
    page 270 degrees clockwise to read it, which gives back the upright scan and its
    boxes. page.rotation = /Rotate + engine turn = 0."""
    with pymupdf.open(corpus / SCAN) as doc:
        doc[0].set_rotation(90)
        doc.select([0])
        doc.save(tmp_path / "rotated.pdf")
        turned = render(doc[0]).rotate(90, expand=True)  # 270 clockwise
    assert mean_difference(turned, render_scan(corpus)) < 2
    job_page = Page.from_dict({**scan_job.pages[0].to_dict(), "rotation": 0})
    job = make_job([job_page])
    out = export(exporters, "pdf", job, source=tmp_path / "rotated.pdf")
    with pymupdf.open(stream=out, filetype="pdf") as doc:
        assert doc[0].rotation == 90
        assert pdf_words_in_boxes(doc[0], job_page, turned=True) >= 0.95


def upright_rotated_pdf(corpus: Path, path: Path) -> None:
    """A landscape page whose content is drawn sideways and /Rotate 90 shows it
    upright: as displayed (and rendered), it is exactly the scan's first page."""
    with pymupdf.open(corpus / SCAN) as src:
        doc = pymupdf.open()
        page = doc.new_page(width=src[0].rect.height, height=src[0].rect.width)
        page.show_pdf_page(page.rect, src, 0, rotate=90)
        page.set_rotation(90)
        doc.save(path)


def render_scan(corpus: Path) -> Image.Image:
    with pymupdf.open(corpus / SCAN) as doc:
        return render(doc[0])


def test_pdf_rotated_page_shown_upright(
    exporters: dict, corpus: Path, scan_job: Job, tmp_path: Path
) -> None:
    upright_rotated_pdf(corpus, tmp_path / "upright.pdf")
    with pymupdf.open(tmp_path / "upright.pdf") as doc:
        shown = render(doc[0])
    assert mean_difference(shown, render_scan(corpus)) < 2
    job_page = Page.from_dict({**scan_job.pages[0].to_dict(), "rotation": 90})
    out = export(exporters, "pdf", make_job([job_page]), source=tmp_path / "upright.pdf")
    with pymupdf.open(stream=out, filetype="pdf") as doc:
        assert doc[0].rotation == 90
        assert pdf_words_in_boxes(doc[0], job_page) >= 0.95


@pytest.mark.parametrize("rotate", [90, 270])
def test_pdf_odd_page_geometry(exporters: dict, corpus: Path, tmp_path: Path, rotate: int) -> None:
    """/Rotate, a crop box inside the media box and a media box off the origin: the
    words of a real page (its own text, then removed) land back where they were."""
    with pymupdf.open(corpus / TEXT_PDF) as src:
        doc = pymupdf.open()
        doc.insert_pdf(src, from_page=0, to_page=0)
    page = doc[0]
    doc.xref_set_key(page.xref, "MediaBox", "[10 -100 600 741.92]")
    page.set_cropbox(pymupdf.Rect(40, 50, 560, 740))
    page.set_rotation(rotate)
    to_px = page.rotation_matrix * pymupdf.Matrix(PDF_DPI / 72, PDF_DPI / 72)
    words = [Word(w[4], list(pymupdf.Rect(w[:4]) * to_px), 1.0) for w in page.get_text("words")]
    w, h = (round(v * PDF_DPI / 72) for v in (page.rect.width, page.rect.height))
    words = [wd for wd in words if pymupdf.Rect(0, 0, w, h).contains(pymupdf.Rect(wd.bbox))]
    page.add_redact_annot(page.rect * page.derotation_matrix)
    page.apply_redactions()
    doc.save(tmp_path / "odd.pdf")
    blocks = [Block("x", [0, 0, w, h], 1.0, words)]
    job_page = Page(0, w, h, PDF_DPI, rotation=rotate, blocks=blocks)
    assert len(words) > 200
    out = export(exporters, "pdf", make_job([job_page]), source=tmp_path / "odd.pdf")
    with pymupdf.open(stream=out, filetype="pdf") as result:
        assert result[0].rotation == rotate
        assert result[0].cropbox == pymupdf.Rect(40, 50, 560, 740)
        assert pdf_words_in_boxes(result[0], job_page) >= 0.95


def test_pdf_keeps_text_layer_pages(exporters: dict, corpus: Path) -> None:
    """Pages that kept their text layer are untouched; only the OCR'd page gains text."""
    source = corpus / TEXT_PDF
    with pymupdf.open(source) as doc:
        before = [p.get_text() for p in doc]
        rects = [p.rect for p in doc]
        pages = []
        for p in doc:
            words = [
                Word(w[4], [v * PDF_DPI / 72 for v in w[:4]], 1.0) for w in p.get_text("words")
            ]
            w, h = (round(v * PDF_DPI / 72) for v in (p.rect.width, p.rect.height))
            pages.append(
                Page(
                    p.number,
                    w,
                    h,
                    PDF_DPI,
                    source="text-layer",
                    blocks=[Block("x", [0, 0, w, h], 1, words)],
                )
            )
    # Pretend page 2 was OCR'd (e.g. --force-ocr) with one extra word.
    pages[1].source = "ocr"
    pages[1].blocks = [
        Block("Zyxwv", [150, 150, 400, 200], 0.9, [Word("Zyxwv", [150, 150, 400, 200], 0.9)])
    ]
    out = export(exporters, "pdf", make_job(pages), source=source)
    with pymupdf.open(stream=out, filetype="pdf") as doc:
        assert [p.rect for p in doc] == rects
        assert doc[0].get_text() == before[0]
        assert all(doc[i].get_text() == before[i] for i in range(2, doc.page_count))
        assert "Zyxwv" in doc[1].get_text() and "Zyxwv" not in before[1]
        assert pdf_words_in_boxes(doc[1], pages[1]) == 1.0


def test_pdf_source_mismatch(exporters: dict, corpus: Path, lines_job: Job) -> None:
    with pytest.raises(ExportFailed, match="does not match"):
        export(exporters, "pdf", lines_job, source=corpus / SCAN)


def test_every_exporter_declares_itself(exporters: dict) -> None:
    for name in ("txt", "md", "json", "csv", "docx", "pdf", "hocr"):
        exp = exporters[name]
        assert exp.name == name and exp.extension and exp.media_type and exp.description
        assert exp.is_text == (name not in ("docx", "pdf"))


_: Callable[..., object] = export


# ------------------------------------------------------------------ with the real pipeline


def test_pipeline_rotated_pdf_to_searchable_pdf(corpus: Path, tmp_path: Path) -> None:
    """ocrkit.ocr then ocrkit.export on a /Rotate 90 page: the conventions of the
    pipeline (page.rotation, sizes, dpi) and of this exporter agree."""
    import ocrkit

    upright_rotated_pdf(corpus, tmp_path / "upright.pdf")
    job = ocrkit.ocr(tmp_path / "upright.pdf", jobs=1, dpi=PDF_DPI, language="eng")
    (page,) = job.pages
    assert page.source == "ocr" and page.rotation == 90
    out = ocrkit.export(job, "pdf", source=tmp_path / "upright.pdf")
    with pymupdf.open(stream=out, filetype="pdf") as doc:
        assert pdf_words_in_boxes(doc[0], page, turned=True) >= 0.95
        assert "long road together" in doc[0].get_text()


def test_pipeline_exif_rotated_jpeg(lines_image: Path, tmp_path: Path) -> None:
    """A JPEG stored sideways with EXIF orientation 6: the PDF shows it upright with the
    words on it (the bytes are re-encoded: viewers disagree about EXIF in PDFs)."""
    import ocrkit

    with Image.open(lines_image) as img:
        upright = img.convert("L")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    path = tmp_path / "sideways.jpg"
    upright.rotate(90, expand=True).save(path, quality=92, dpi=(200, 200), exif=exif)
    job = ocrkit.ocr(path, jobs=1, language="eng")
    (page,) = job.pages
    assert (page.width, page.height, page.rotation) == (1700, 1000, 90)
    out = ocrkit.export(job, "pdf", source=path)
    with pymupdf.open(stream=out, filetype="pdf") as doc:
        assert pdf_words_in_boxes(doc[0], page) >= 0.95
        assert mean_difference(render(doc[0], dpi=200), upright) < 8
