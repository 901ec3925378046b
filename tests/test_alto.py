"""The ``alto`` exporter: ALTO 4.4 validated against the official schema, read back.

The schema is ``shared/schemas/alto-4-4.xsd`` (ALTO Editorial Board, CC BY-SA 4.0); the
W3C ``xlink.xsd`` it imports from loc.gov is the copy shipped inside the ``xmlschema``
package, so validation runs offline. Every output is validated, then parsed with
:mod:`xml.etree` and compared with the job word by word (text, box, confidence).
"""

from __future__ import annotations

import io
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pymupdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocrkit.hookspecs import ExportContext
from ocrkit.models import Block, Job, Page, Word
from ocrkit.plugins import get_registry

ROOT = Path(__file__).resolve().parent.parent
XSD = ROOT.parent / "shared" / "schemas" / "alto-4-4.xsd"
NS = {"a": "http://www.loc.gov/standards/alto/ns-v4#"}
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
MARKUP = ["AT&T", "<tag>", 'say"hi"', "a&b<c>d\"e'f"]


# The loc.gov xlink.xsd that ALTO imports names its attribute group ``simpleLink``; the
# W3C XLink 1.1 schema shipped in xmlschema names the same attributes (type="simple",
# href, role, arcrole, title, show, actuate) ``simpleAttrs``. This adapter includes the
# shipped schema and gives the group its loc.gov name, so the ALTO schema compiles
# offline. (ocrkit writes no xlink attribute; the group only has to exist.)
XLINK_ADAPTER = """<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
    xmlns:xlink="http://www.w3.org/1999/xlink"
    targetNamespace="http://www.w3.org/1999/xlink">
  <xs:include schemaLocation="{shipped}"/>
  <xs:attributeGroup name="simpleLink">
    <xs:attributeGroup ref="xlink:simpleAttrs"/>
  </xs:attributeGroup>
</xs:schema>
"""


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory):
    import xmlschema

    if not XSD.is_file():
        pytest.fail(f"ALTO schema not found at {XSD}")
    shipped = Path(xmlschema.__file__).parent / "schemas" / "XLINK" / "xlink.xsd"
    assert shipped.is_file(), "xmlschema no longer ships xlink.xsd"
    adapter = tmp_path_factory.mktemp("xsd") / "xlink-loc.xsd"
    adapter.write_text(XLINK_ADAPTER.format(shipped=shipped.as_uri()))
    return xmlschema.XMLSchema(
        str(XSD), locations=[("http://www.w3.org/1999/xlink", str(adapter))], allow="local"
    )


def alto(job: Job) -> bytes:
    return get_registry().exporter("alto").export(job, ExportContext())


def read_back(data: bytes) -> list[dict]:
    """Per page: size, confidence, rotation note, and the words (text, box, wc, rtl)."""
    root = ET.fromstring(data)
    assert root.get("SCHEMAVERSION") == "4.4"
    assert root.findtext("a:Description/a:MeasurementUnit", namespaces=NS) == "pixel"
    settings = {
        p.get("ID"): p.findtext("a:processingStepSettings", namespaces=NS)
        for p in root.findall("a:Description/a:Processing", NS)
    }
    pages = []
    for pg in root.findall("a:Layout/a:Page", NS):
        rotation = 0
        for ref in (pg.get("PROCESSINGREFS") or "").split():
            if (settings.get(ref) or "").startswith("rotation="):
                rotation = int(settings[ref].split("=")[1])
        words = []
        for line in pg.iter(f"{{{NS['a']}}}TextLine"):
            for s in line.findall("a:String", NS):
                box = None
                if s.get("HPOS") is not None:
                    x, y = float(s.get("HPOS")), float(s.get("VPOS"))
                    w, h = float(s.get("WIDTH")), float(s.get("HEIGHT"))
                    box = [x, y, x + w, y + h]
                wc = s.get("WC")
                words.append(
                    {
                        "text": s.get("CONTENT"),
                        "bbox": box,
                        "wc": None if wc is None else float(wc),
                        "rtl": line.get("BASEDIRECTION") == "rtl",
                    }
                )
        pages.append(
            {
                "index": int(pg.get("PHYSICAL_IMG_NR")) - 1,
                "size": (float(pg.get("WIDTH")), float(pg.get("HEIGHT"))),
                "pc": pg.get("PC"),
                "rotation": rotation,
                "words": words,
            }
        )
    return pages


def assert_equal_to_job(data: bytes, job: Job) -> list[dict]:
    """The ALTO's pages and words are the job's: same text, boxes within the written
    precision (3 decimals), WC = confidence (4 decimals) on OCR pages, none on a text
    layer."""
    pages = read_back(data)
    assert [p["index"] for p in pages] == [p.index for p in job.pages]
    for got, page in zip(pages, job.pages, strict=True):
        assert got["size"] == (page.width, page.height)
        assert got["rotation"] == page.rotation
        words = [w for b in page.blocks if b.text.strip() for w in b.words]
        assert [w["text"] for w in got["words"]] == [w.text for w in words]
        for g, w in zip(got["words"], words, strict=True):
            assert g["bbox"] == pytest.approx(w.bbox, abs=1.01e-3), w.text
            if page.source == "text-layer":
                assert g["wc"] is None
            else:
                assert g["wc"] == pytest.approx(w.confidence, abs=5e-5)
        if page.source == "text-layer":
            assert got["pc"] is None
    return pages


# ------------------------------------------------------------------ made jobs


def test_made_job_validates_and_round_trips(schema) -> None:
    ara = ["مرحبا", "بالعالم"]
    p0 = Page(
        index=0,
        width=1240,
        height=1754,
        dpi=150,
        source="text-layer",
        blocks=[
            Block(
                " ".join(MARKUP),
                [10.5, 20.25, 600.125, 60.0],
                1.0,
                [
                    Word(t, [10.5 + 150 * i, 20.25, 140.333 + 150 * i, 60.0], 1.0)
                    for i, t in enumerate(MARKUP)
                ],
                type="heading",
                paragraph=0,
            ),
        ],
    )
    p1 = Page(
        index=2,
        width=2200,
        height=1700,
        dpi=200,
        rotation=90,
        confidence=0.91,
        detected_languages=["ara"],
        blocks=[
            Block(
                " ".join(ara),
                [100, 100, 700, 150],
                0.9,
                [
                    Word(ara[0], [400, 100, 700, 150], 0.95),
                    Word(ara[1], [100, 100, 380, 150], 0.8512),
                ],
                paragraph=0,
            ),
            # a line without words, and one without a box (unaligned vlm line)
            Block("Total 12", [100, 200, 300, 240], 0.7, [], paragraph=0),
            Block("floating", None, 0.5, [], paragraph=None, flags=["unaligned"]),
            Block("   ", [0, 0, 1, 1], 0.1, []),
        ],
    )
    job = Job(
        status="done",
        pages=[p0, p1],
        filename='a&b "scan".pdf',
        finished_at="2026-01-01T00:00:00+00:00",
    )
    data = alto(job)
    schema.validate(io.BytesIO(data))
    pages = read_back(data)
    assert [w["text"] for w in pages[0]["words"]] == MARKUP
    assert all(w["wc"] is None for w in pages[0]["words"])
    assert pages[0]["words"][1]["bbox"] == pytest.approx([160.5, 20.25, 290.333, 60.0])
    got = pages[1]["words"]
    assert [w["text"] for w in got] == [*ara, "Total 12", "floating"]
    assert [w["rtl"] for w in got] == [True, True, False, False]
    assert got[3]["bbox"] is None and got[2]["bbox"] == [100, 200, 300, 240]
    assert got[1]["wc"] == 0.8512 and got[2]["wc"] == 0.7
    assert pages[1]["rotation"] == 90 and pages[1]["pc"] == "0.91"
    root = ET.fromstring(data)
    assert root.find(".//a:Page[@PHYSICAL_IMG_NR='3']", NS).get("LANG") == "ar"
    assert root.find(".//a:StructureTag", NS).get("LABEL") == "heading"
    assert root.find(".//a:TextLine[@TAGREFS='TYPE_heading']", NS) is not None
    assert root.findtext(".//a:fileName", namespaces=NS) == 'a&b "scan".pdf'
    assert get_registry().exporter("alto").extension == "xml"
    # ALTO needs at least one Page: a job without pages is refused with a clear error.
    from ocrkit.errors import ExportFailed

    with pytest.raises(ExportFailed, match="no pages"):
        alto(Job(status="done"))


def test_schema_rejects_broken_alto(schema) -> None:
    """The validation really checks: a String without CONTENT, and a WC over 1, fail."""
    import xmlschema

    job = Job(
        status="done",
        pages=[
            Page(
                0,
                100,
                100,
                300,
                blocks=[Block("x", [1, 1, 5, 5], 0.5, [Word("x", [1, 1, 5, 5], 0.5)])],
            )
        ],
    )
    good = alto(job).decode()
    schema.validate(io.StringIO(good))
    for bad in (
        good.replace('CONTENT="x"', ""),
        good.replace('WC="0.5"', 'WC="1.5"'),
        good.replace("<MeasurementUnit>pixel</MeasurementUnit>", ""),
    ):
        assert bad != good
        with pytest.raises(xmlschema.XMLSchemaValidationError):
            schema.validate(io.StringIO(bad))


# ------------------------------------------------------------------ the real pipeline


def _text_image(lines: list[str], size: tuple[int, int] = (1240, 900)) -> Image.Image:
    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 34)
    for n, line in enumerate(lines):
        draw.text((80, 100 + n * 70), line, font=font, fill=0)
    return img


def mixed_pdf(path: Path) -> None:
    """Page 1: a text layer with markup characters and an Arabic line (right to left);
    page 2: a scan turned 90 degrees; page 3: an upright scan."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((72, 100), 'Fees AT&T <costs> say"hi" & more', fontsize=14)
    # Arabic letters in logical order (DejaVu Sans has them; no shaping is needed for
    # the text layer, which is what the pipeline reads on this page).
    page.insert_text((300, 160), "مرحبا بالعالم", fontsize=16, fontname="dejavu", fontfile=FONT)
    for turn, lines in (
        (90, ["The rotated page says hello.", "Second line of the turned scan."]),
        (0, ["An upright scan closes the file.", "Numbers 12 34 and words."]),
    ):
        img = _text_image(lines).rotate(turn, expand=True)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        w, h = img.width * 72 / 150, img.height * 72 / 150
        p = doc.new_page(width=w, height=h)
        p.insert_image(p.rect, stream=buf.getvalue())
    doc.save(path)


@pytest.mark.slow
def test_pipeline_job_round_trips_through_alto(schema, tmp_path: Path) -> None:
    import ocrkit

    src = tmp_path / "mixed.pdf"
    mixed_pdf(src)
    job = ocrkit.ocr(src, jobs=1, dpi=150, language="eng")
    p0, p1, p2 = job.pages
    assert p0.source == "text-layer" and p1.source == "ocr" and p2.source == "ocr"
    assert p1.rotation in (90, 270), p1.rotation
    texts = [w.text for b in p0.blocks for w in b.words]
    assert "AT&T" in texts and "<costs>" in texts and 'say"hi"' in texts
    data = alto(job)
    schema.validate(io.BytesIO(data))
    pages = assert_equal_to_job(data, job)
    rtl = [w["text"] for w in pages[0]["words"] if w["rtl"]]
    assert len(rtl) == 2 and all("\u0600" <= ch <= "\u06ff" for t in rtl for ch in t), rtl
    assert pages[1]["rotation"] == p1.rotation and pages[1]["size"] == (p1.width, p1.height)
    assert "rotated" in " ".join(w["text"] for w in pages[1]["words"])

    # The CLI writes the same file with -f alto, and picks alto from a .xml name.
    job_file = tmp_path / "job.json"
    job_file.write_text(get_registry().exporter("json").export(job, ExportContext()).decode())
    out = tmp_path / "out.xml"
    run = subprocess.run(
        [sys.executable, "-m", "ocrkit", "export", str(job_file), "-o", str(out)],
        capture_output=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    schema.validate(str(out))
    assert_equal_to_job(out.read_bytes(), job)
