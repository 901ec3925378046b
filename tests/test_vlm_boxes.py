"""Boxes for the vlm tier's lines where the cpu engine cannot read the words (issue 21).

Real Tesseract, the real line detector, the stand-in model server over real HTTP
answering with the true text. Truth boxes never come from our detector: the corpus's
single-line images have the ink's bounding box (dark pixels in pieces whose centre lies
in the annotated line, bench/vlm_boxes.py), and made handwriting-style pages
(bench/handpages.py) have each line's own ink box.
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pymupdf
import pytest
from openai_standin import StandinServer
from PIL import Image

from ocrkit import api
from ocrkit.models import Job
from ocrkit.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import handpages  # noqa: E402
from bench.vlm_boxes import ink_box, iou  # noqa: E402

CORPUS = Path(os.environ.get("OCRKIT_CORPUS", ROOT.parent / "shared" / "corpus"))

pytestmark = pytest.mark.skipif(not handpages.fonts(), reason="no handwriting fonts")


class Truth:
    """A stand-in whose answer is set per page."""

    def __init__(self) -> None:
        self.answer = ""

    def __call__(self, req: Any) -> str:
        return self.answer


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Any:
    truth = Truth()
    with StandinServer(truth) as srv:
        settings = load_settings(
            env={},
            vlm_base_url=srv.url,
            vlm_model="standin",
            data_dir=tmp_path_factory.mktemp("vlm-boxes"),
            vlm_timeout=60.0,
            vlm_retries=0,
        )
        yield truth, settings


def read(standin: Any, path: Path, text: str, language: str, **kw: Any) -> Job:
    truth, settings = standin
    truth.answer = text
    return api.ocr(path, tier="vlm", settings=settings, jobs=1, language=language, **kw)


def line_samples() -> list[dict[str, str]]:
    rows = list(csv.DictReader((CORPUS / "MANIFEST.tsv").open(), delimiter="\t"))
    return [r for r in rows if r["category"] == "handwriting" and "_line_" in r["id"]]


@pytest.mark.slow
@pytest.mark.skipif(not (CORPUS / "MANIFEST.tsv").is_file(), reason="corpus not found")
def test_every_single_line_image_gets_one_box_on_its_ink(standin: Any) -> None:
    samples = line_samples()
    assert len(samples) == 8
    for r in samples:
        path = CORPUS / r["file"]
        text = (CORPUS / r["truth"]).read_text(encoding="utf-8").strip()
        job = read(standin, path, text, "fra" if r["language"] == "fr" else "eng")
        page = job.pages[0]
        boxes = [b.bbox for b in page.blocks if b.bbox is not None]
        assert len(page.blocks) == 1 and len(boxes) == 1, (r["id"], page.blocks)
        img = Image.open(path)
        w, h = img.size
        ink = ink_box(img, [12.0, 8.0, w - 12.0, h - 8.0])
        assert ink is not None
        assert iou(boxes[0], ink) >= 0.7, (r["id"], boxes[0], ink)
        block = page.blocks[0]
        assert block.extra["box"] in ("words", "line", "estimated")
        assert block.extra["words"] == "estimated"
        assert " ".join(w.text for w in block.words) == " ".join(text.split())
        assert page.extra["reading_order"] == "engine"


@pytest.mark.slow
@pytest.mark.parametrize("seed", handpages.held_out_seeds(2))
def test_made_handwriting_pages_lines_boxed_in_order(
    standin: Any, seed: int, tmp_path: Path
) -> None:
    made = handpages.make_page(seed)
    path = tmp_path / "page.jpg"
    made.image.save(path, quality=95)
    job = read(standin, path, "\n".join(made.lines), "eng+fra")
    page = job.pages[0]
    assert [b.text for b in page.blocks] == made.lines
    boxed = [b for b in page.blocks if b.bbox is not None]
    assert len(boxed) >= 0.9 * len(made.lines)
    good = sum(
        b.bbox is not None and iou(b.bbox, t) >= 0.5
        for b, t in zip(page.blocks, made.boxes, strict=True)
    )
    assert good >= 0.9 * len(made.lines), [
        (b.text, b.bbox, t) for b, t in zip(page.blocks, made.boxes, strict=True)
    ]
    centres = [(b.bbox[1] + b.bbox[3]) / 2 for b in boxed if b.bbox is not None]
    assert centres == sorted(centres)  # top to bottom, in the model's order
    for b in boxed:
        assert b.extra["box"] in ("words", "line", "estimated") and b.words
        assert all(b.bbox[0] - 1 <= w.bbox[0] <= w.bbox[2] <= b.bbox[2] + 1 for w in b.words)


@pytest.mark.slow
def test_searchable_pdf_puts_the_transcription_over_the_writing(
    standin: Any, tmp_path: Path
) -> None:
    made = handpages.make_page(handpages.held_out_seeds(1)[0])
    path = tmp_path / "page.png"
    made.image.save(path)
    job = read(standin, path, "\n".join(made.lines), "eng+fra")
    page = job.pages[0]
    pdf = api.export(job, "pdf", source=path)
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        pp = doc[0]
        scale = pp.rect.width / page.width  # points per pixel
        for line, true_box in zip(made.lines, made.boxes, strict=True):
            # the text under the line's true place on the page, read back by MuPDF
            clip = pymupdf.Rect(*(v * scale for v in true_box))
            words = pp.get_text("words")  # (x0, y0, x1, y1, text, ...) in reading order
            got = " ".join(w[4] for w in words if _centre_in(w[:4], clip))
            # Word boxes are estimates: a word at either end may land just outside the
            # written line (a pen stroke beside it read as a word widens the line's box),
            # but what lies over the line is that line's text, in order, nearly all of it.
            assert got and got in line, (line, got)
            assert len(got.replace(" ", "")) >= 0.75 * len(line.replace(" ", "")), (line, got)


def _centre_in(r: Any, clip: Any) -> bool:
    return clip.contains(pymupdf.Point((r[0] + r[2]) / 2, (r[1] + r[3]) / 2))


def test_a_line_with_no_plausible_place_stays_without_a_box(standin: Any, tmp_path: Path) -> None:
    """Two written lines, three model lines: the third (much longer than either) has no
    line left to go to and stays bbox null, flagged unaligned."""
    made = handpages.make_page(handpages.held_out_seeds(3)[2])
    two = made.lines[:2]
    img = made.image.crop((0, 0, made.image.width, int(made.boxes[1][3]) + 40))
    path = tmp_path / "two.png"
    img.save(path)
    extra = "and a third line that the writer never wrote on this page at all"
    job = read(standin, path, "\n".join([*two, extra]), "eng+fra")
    page = job.pages[0]
    assert [b.text for b in page.blocks] == [*two, extra]
    assert all(b.bbox is not None for b in page.blocks[:2])
    last = page.blocks[2]
    assert last.bbox is None and "unaligned" in last.flags and not last.words
    assert page.extra["vlm"]["boxed"] == 2 and page.extra["vlm"]["lines"] == 3
    data = job.to_dict()["pages"][0]["blocks"]
    assert "extra" not in data[2] and data[0]["extra"]["words"] == "estimated"


def _real_pages() -> dict[str, Any]:
    import json

    from bench.vlm_boxes import DATA

    return dict(json.loads(DATA.read_text(encoding="utf-8")))


@pytest.mark.slow
@pytest.mark.skipif(not (CORPUS / "MANIFEST.tsv").is_file(), reason="corpus not found")
def test_real_handwritten_pages_held_out_half_boxed_against_annotated_lines(
    standin: Any,
) -> None:
    """The corpus's real handwritten pages of the held-out half (never looked at while
    tuning; bench.vlm_boxes.real_page_half), against the annotators' ALTO line boxes
    (bench/data/handwriting_lines.json; not our detector's, not OCR's). Measured when
    the gate was set: 43/43 boxed, 29/43 with IoU >= 0.5 (one page, AN_0001, is placed
    one row off: 0/13), no line out of top-to-bottom order."""
    from bench.vlm_boxes import _against, real_page_half

    alto = _real_pages()
    held = [k for k in sorted(alto) if real_page_half(k, list(alto)) == "held_out"]
    assert len(held) == 4
    results = []
    for key in held:
        sid, _, index = key.partition("#")
        if index:
            path = CORPUS / "pdf" / f"{sid}.pdf"
            text = (CORPUS / "pdf" / f"{sid}.gt.txt").read_text(encoding="utf-8")
            part = text.split("\f")[int(index)]
            job = read(standin, path, part, "fra", pages=str(int(index) + 1))
        else:
            path = CORPUS / "handwriting" / f"{sid}.jpg"
            text = (CORPUS / "handwriting" / f"{sid}.gt.txt").read_text(encoding="utf-8")
            job = read(standin, path, text, "fra")
        results.append(_against(key, job.pages[0], alto[key]))
    lines = sum(r["lines"] for r in results)
    assert lines == 43
    assert sum(r["boxed"] for r in results) >= 0.9 * lines, results
    assert sum(r["iou_ge_0.5"] for r in results) >= 0.6 * lines, results
    assert sum(r["order_breaks"] for r in results) == 0, results
    # the page with the most lines: nearly every line on its written line
    big = next(r for r in results if r["id"] == "poilus_page_AN_0232-0")
    assert big["iou_ge_0.5"] >= 0.9 * big["lines"], big


def _body(top: float, chars: list[int], left: float = 200.0) -> list[list[float]]:
    """Line boxes of a written body: 20 px per character, 40 px high, 60 px apart."""
    return [[left, top + 60 * i, left + 20 * c, top + 60 * i + 40] for i, c in enumerate(chars)]


def test_heading_notes_and_stamps_above_the_text_are_left_over() -> None:
    """A page number and a stamp far above the writing, and a registration note below
    it: the model transcribed only the letter, whose lines go to the letter's rows."""
    from ocrkit_plugins.engines.vlm.answer import place_on_pieces

    chars = [30, 29, 30, 31, 30, 29]
    body = _body(900.0, chars)
    pieces = [
        (0, [1200.0, 40.0, 1500.0, 80.0]),  # a number top right
        (1, [200.0, 120.0, 800.0, 160.0]),  # a heading note as wide as a line
        *[(2 + i, b) for i, b in enumerate(body)],
        (8, [600.0, 1400.0, 1100.0, 1440.0]),  # a note under the letter
    ]
    texts = ["x" * c for c in chars]
    places = place_on_pieces(texts, pieces, [None] * len(texts))
    assert [p.box for p in places] == body


def test_a_note_in_the_margin_the_model_wrote_first_goes_to_the_margin() -> None:
    """The model transcribed a two-line note of the left margin before the text (as the
    annotators did on a real will): the note's lines go to the margin, the text's to
    the body, though the note sits beside the body's fourth and fifth lines."""
    from ocrkit_plugins.engines.vlm.answer import place_on_pieces

    chars = [30, 28, 31, 29, 27, 30, 26]
    body = _body(300.0, chars, left=400.0)
    note = [[20.0, 480.0, 300.0, 520.0], [30.0, 540.0, 250.0, 580.0]]
    pieces: list[tuple[int, list[float]]] = []
    for i, b in enumerate(body):
        row = [b] + [n for n in note if abs(n[1] - b[1]) < 30]
        pieces += [(i, p) for p in sorted(row, key=lambda p: p[0])]
    texts = ["n" * 14, "n" * 11] + ["x" * c for c in chars]
    places = place_on_pieces(texts, pieces, [None] * len(texts))
    assert [p.box for p in places] == note + body


SERIF = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")
PRINTED_LINES = [
    "The committee met on the first Monday of the month",
    "in the hall behind the church, as it had done",
    "for many years.",
    "Items: the repair of the bridge on the mill road,",
    "the price of coal for the winter, and the request",
    "of Mr Harris to build a shed behind the forge.",
    "Received with thanks the sum of forty two pounds",
    "for the rent of the lower field.",
]


def _draw_line(
    page: Image.Image,
    xy: tuple[int, int],
    text: str,
    font: Any,
    ink: Any,
    *,
    turn: float = 0.0,
    ink_above: int = 0,
) -> list[float]:
    """Draw one line of ``text`` on ``page`` in ``ink`` (turned ``turn`` degrees about
    ``xy``) and return its box: the pixels of its own layer above ``ink_above`` (the
    truth: where the line was drawn, not read)."""
    from PIL import ImageDraw

    layer = Image.new("L", page.size, 0)
    ImageDraw.Draw(layer).text(xy, text, font=font, fill=255)
    if turn:
        layer = layer.rotate(turn, center=xy, resample=Image.Resampling.BICUBIC)
    inked = layer.point(lambda v: 255 if v > ink_above else 0) if ink_above else layer
    box = inked.getbbox()
    assert box is not None
    page.paste(ink, (0, 0), layer)
    return [float(v) for v in box]


def _made_printed_page(turn: int) -> tuple[Image.Image, list[list[float]]]:
    """A printed page turned ``turn`` degrees counter-clockwise (PIL), with each line's
    own ink box turned with it (the truth: where the line was drawn, not read)."""
    from PIL import ImageFont

    font = ImageFont.truetype(str(SERIF), 30)
    w, h = 1275, 1000
    page = Image.new("L", (w, h), 255)
    boxes = [
        _draw_line(page, (120, 120 + 56 * i), text, font, 0) for i, text in enumerate(PRINTED_LINES)
    ]
    return page.rotate(turn, expand=True), [_turned(b, turn, w, h) for b in boxes]


def _turned(box: list[float], turn: int, w: int, h: int) -> list[float]:
    """``box`` of a ``w`` x ``h`` image on the image turned ``turn`` degrees
    counter-clockwise (the corners moved, then min/max)."""
    pts = [(box[0], box[1]), (box[2], box[3])]
    if turn == 90:
        pts = [(y, w - x) for x, y in pts]
    elif turn == 180:
        pts = [(w - x, h - y) for x, y in pts]
    elif turn == 270:
        pts = [(h - y, x) for x, y in pts]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return [min(xs), min(ys), max(xs), max(ys)]


@pytest.mark.slow
@pytest.mark.skipif(not SERIF.is_file(), reason="no DejaVu Serif")
@pytest.mark.parametrize("turn", [90, 180, 270])
def test_a_turned_printed_page_keeps_a_box_on_every_line(
    standin: Any, tmp_path: Path, turn: int
) -> None:
    """The vlm tier does not turn pages upright. On a page lying on its side the DB
    detector finds letter fragments only and Tesseract reads the lines as nonsense (one
    way round); upside down, the lines read bottom to top. Every line still gets its
    own line's box: the placement is tried on the page turned."""
    image, truth = _made_printed_page(turn)
    path = tmp_path / f"turned{turn}.png"
    image.save(path)
    job = read(standin, path, "\n".join(PRINTED_LINES), "eng")
    page = job.pages[0]
    assert [b.text for b in page.blocks] == PRINTED_LINES
    got = [(b.bbox, t) for b, t in zip(page.blocks, truth, strict=True)]
    assert all(b is not None and iou(b, t) >= 0.5 for b, t in got), (turn, got)


def test_a_centred_heading_the_detector_left_out_still_gets_a_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A short centred heading (a date) above a made handwritten body. The text
    detector left it out (as the DB model does with a large date at the top of a real
    letter): its regions are the body's only. The heading's ink still becomes a
    detected line (IoU >= 0.7 with its true ink box), above the body's lines, and the
    model's heading line is placed there, the body's lines on the body."""
    from ocrkit_plugins.engines.vlm import detect
    from ocrkit_plugins.engines.vlm.answer import place_on_pieces
    from PIL import ImageFont

    font = ImageFont.truetype(handpages.fonts()[0], 52)
    w, h = 1600, 1400
    page = Image.new("L", (w, h), 235)
    body = [
        "the weather has turned cold again and the river",
        "is high after three days of rain. Father went",
        "to town on Tuesday to sell the two calves and",
        "came back with a new lamp, some coffee and",
    ]
    texts = ["Lyon, 3 May 1916", *body]
    truth: list[list[float]] = []
    for i, text in enumerate(texts):
        x = 560 if i == 0 else 120
        truth.append(_draw_line(page, (x, 150 + 120 * i + (60 if i else 0)), text, font, 30))
    real = detect.detect_regions

    def without_heading(image: Image.Image) -> tuple[list[detect.Region], str]:
        regions, _ = real(image)
        head = truth[0]
        kept = [r for r in regions if r.box[3] > head[3] + 10]
        return kept, "db"

    monkeypatch.setattr(detect, "detect_regions", without_heading)
    lines, how = detect.detect_lines(page.convert("RGB"))
    assert how == "db"
    heading = [ln for ln in lines if iou(ln.box, truth[0]) >= 0.7]
    assert len(heading) == 1, [ln.box for ln in lines]
    assert lines[0] is heading[0]
    pieces = [(r, p) for r, d in enumerate(lines) for p in d.parts]
    places = place_on_pieces(texts, pieces, [None] * len(texts))
    assert all(p.box is not None for p in places)
    assert [round(iou(p.box, t), 1) >= 0.5 for p, t in zip(places, truth, strict=True)] == [
        True
    ] * len(texts), [p.box for p in places]


STAMP_TEXT = ["Signé par Nous Juge", "pour Monsieur le Président", "Tribunal Civil de la Seine"]


def _page_with_a_stamp() -> tuple[Image.Image, list[str], list[list[float]]]:
    """A made letter in brown handwriting ending with a large signature at the bottom
    right, and a purple stamp of three printed lines at the bottom left, its top above
    the signature's (so it comes first top to bottom) -- as on the corpus's testament
    AN_0057, where a court's stamp sits beside the testator's signature."""
    from PIL import ImageDraw, ImageFont

    hand = handpages.fonts()[0]
    font = ImageFont.truetype(hand, 56)
    big = ImageFont.truetype(hand, 80)
    printed = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 60)
    w, h = 1700, 1500
    page = Image.new("RGB", (w, h), (236, 230, 214))
    brown, purple = (70, 45, 25), (125, 80, 170)
    texts = [
        "the weather has turned cold again and the river",
        "is high after three days of rain. Father went",
        "to town on Tuesday to sell the two calves and",
        "came back with a new lamp and some coffee",
        "Antoine Goutte",
    ]
    truth: list[list[float]] = []
    for i, text in enumerate(texts):
        xy = (120, 150 + 130 * i) if i < 4 else (820, 880)
        truth.append(_draw_line(page, xy, text, big if i == 4 else font, brown))
    d = ImageDraw.Draw(page)
    for k, text in enumerate(STAMP_TEXT):
        d.text((90, 740 + 64 * k), text, font=printed, fill=purple)
    return page, texts, truth


def test_a_coloured_stamp_beside_the_signature_is_not_taken_for_it() -> None:
    """The signature (the model's last line) goes to the signature, not to the purple
    stamp above-left of it: the stamp's ink is not the colour of the writing the other
    lines were placed on (on main the signature was placed on the stamp's first line)."""
    from ocrkit_plugins.engines.vlm.answer import _place_on_detected_lines

    page, texts, truth = _page_with_a_stamp()
    n = len(texts)
    boxes, kinds = _place_on_detected_lines(texts, [None] * n, [None] * n, page, {})
    got = [round(iou(b, t), 2) if b else 0.0 for b, t in zip(boxes, truth, strict=True)]
    assert all(v >= 0.5 for v in got), (got, boxes)


def test_a_page_in_violet_ink_keeps_its_lines() -> None:
    """The writing's colour is the colour of the lines placed, not a fixed one: the same
    page written in violet ink with a brown stamp is placed as well."""
    from ocrkit_plugins.engines.vlm.answer import _place_on_detected_lines

    page, texts, truth = _page_with_a_stamp()
    arr = np.asarray(page).copy()
    # swap the two inks' colours: brown writing -> violet, purple stamp -> brown
    brown = np.all(np.abs(arr.astype(int) - (70, 45, 25)) < 40, axis=2)
    purple = np.all(np.abs(arr.astype(int) - (125, 80, 170)) < 40, axis=2)
    arr[brown] = (110, 60, 170)
    arr[purple] = (70, 45, 25)
    n = len(texts)
    boxes, _ = _place_on_detected_lines(texts, [None] * n, [None] * n, Image.fromarray(arr), {})
    got = [round(iou(b, t), 2) if b else 0.0 for b, t in zip(boxes, truth, strict=True)]
    assert all(v >= 0.5 for v in got), (got, boxes)


def test_two_slanted_lines_the_detector_merged_get_a_box_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two written lines slanted alike and close together, which the text detector
    returns as one region (as the DB model does on the corpus's letters and on the made
    tuning pages 2 and 10): the region is cut along its two bands of ink, each line
    gets its own box (IoU >= 0.5 with its drawn ink). On main one line took the merged
    box (IoU < 0.5) and the other a slice of it."""
    from ocrkit_plugins.engines.vlm import detect
    from ocrkit_plugins.engines.vlm.answer import _place_on_detected_lines
    from PIL import ImageFont

    font = ImageFont.truetype(handpages.fonts()[0], 52)
    w, h = 1600, 1300
    page = Image.new("L", (w, h), 235)
    texts = [
        "the weather has turned cold again and the river",
        "is high after three days of rain. Father went",
        "to town on Tuesday to sell the two calves and",
        "came back with a new lamp, some coffee and",
        "a letter from our cousin who lives in Lyon",
    ]
    tops = [150, 290, 430, 495, 640]  # lines 2 and 3 only 65 px apart, slanted
    truth: list[list[float]] = []
    for i, text in enumerate(texts):
        turn = 2.5 if i in (2, 3) else 0.0
        truth.append(_draw_line(page, (120, tops[i]), text, font, 30, turn=turn, ink_above=96))
    merged = [
        min(truth[2][0], truth[3][0]),
        truth[2][1],
        max(truth[2][2], truth[3][2]),
        truth[3][3],
    ]
    real = detect.detect_regions

    def merging(image: Image.Image) -> tuple[list[detect.Region], str]:
        regions, _ = real(image)
        kept = [r for r in regions if not merged[1] <= (r.box[1] + r.box[3]) / 2 <= merged[3]]
        return [*kept, detect.Region(list(merged))], "db"

    monkeypatch.setattr(detect, "detect_regions", merging)
    n = len(texts)
    boxes, _ = _place_on_detected_lines(texts, [None] * n, [None] * n, page.convert("RGB"), {})
    got = [round(iou(b, t), 2) if b else 0.0 for b, t in zip(boxes, truth, strict=True)]
    assert all(v >= 0.5 for v in got), (got, boxes, truth)


_LETTER = [
    "the weather has turned cold again and the river",
    "is high after three days of rain. Father went",
    "to town on Tuesday to sell the two calves and",
    "came back with a new lamp, some coffee and",
]


def _made_letter(
    texts: list[str] = _LETTER, height: int = 1400
) -> tuple[Image.Image, list[str], list[list[float]]]:
    """``texts`` as lines of made handwriting from the top of a page ``height`` pixels
    high (four lines: its top half), with their ink boxes."""
    from PIL import ImageFont

    font = ImageFont.truetype(handpages.fonts()[0], 52)
    page = Image.new("L", (1600, height), 235)
    truth = [_draw_line(page, (120, 150 + 120 * i), t, font, 30) for i, t in enumerate(texts)]
    return page.convert("RGB"), texts, truth


def test_a_page_is_read_upright_unless_upside_down_is_clearly_cheaper(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The placement is also tried on the page turned half way round; when that
    alignment is only a little cheaper (here made 1.0 cheaper than it is; on the real
    tuning pages 0.3-2.7 cheaper, every line then wrong) the upright one stands
    (answer.HALF_TURN_COST). On main the half turn won and every line lay upside down."""
    from ocrkit_plugins.engines.vlm import answer

    page, texts, truth = _made_letter()
    real = answer.place_on_pieces_scored

    def turned_a_bit_cheaper(*args: Any, **kw: Any) -> Any:
        places, cost = real(*args, **kw)
        pieces = args[1]
        # the lines were drawn in the top half: turned, they lie in the bottom half
        return places, cost - (1.0 if pieces and pieces[0][1][1] > page.height / 2 else 0.0)

    monkeypatch.setattr(answer, "place_on_pieces_scored", turned_a_bit_cheaper)
    n = len(texts)
    info: dict[str, Any] = {}
    boxes, _ = answer._place_on_detected_lines(texts, [None] * n, [None] * n, page, info)
    got = [round(iou(b, t), 2) if b else 0.0 for b, t in zip(boxes, truth, strict=True)]
    assert "placed_turned" not in info and all(v >= 0.5 for v in got), (got, info)


def test_a_line_the_cpu_engine_read_in_part_gets_its_whole_line() -> None:
    """The cpu engine's words matched only the first word of a line (its box is that
    word's); the detected ink beside it, which no other line took, widens it to the
    written line (IoU >= 0.7 with its ink; on main it kept the word's box, IoU < 0.3).
    The lines placed by the detector are not widened."""
    from ocrkit_plugins.engines.vlm.answer import _place_on_detected_lines

    page, texts, truth = _made_letter()
    first = truth[1]
    word = [first[0], first[1], first[0] + 0.2 * (first[2] - first[0]), first[3]]
    n = len(texts)
    boxes = [None, word, None, None]
    kinds = [None, "words", None, None]
    out, out_kinds = _place_on_detected_lines(texts, list(boxes), list(kinds), page, {})
    assert iou(word, truth[1]) < 0.3
    got = [round(iou(b, t), 2) if b else 0.0 for b, t in zip(out, truth, strict=True)]
    assert got[1] >= 0.7 and all(v >= 0.5 for v in got), (got, out)
    assert out_kinds[1] == "words" and len(out) == n


def test_lines_written_sideways_in_the_margin_and_read_first_get_the_margin() -> None:
    """A letter whose writer filled the left margin with lines written upwards, which
    the model (like the annotators of a real will, AN_0008) transcribed before the
    text: the margin is also read turned a quarter, so the sideways lines get their
    columns and the text's lines their rows (IoU >= 0.5 each with the drawn ink). On
    main the sideways lines got no box (the detector finds only letter fragments
    there; on the real will they took the text's first rows instead)."""
    from ocrkit_plugins.engines.vlm.answer import _place_on_detected_lines
    from PIL import ImageFont

    font = ImageFont.truetype(handpages.fonts()[0], 46)
    page = Image.new("L", (1500, 1500), 235)
    side = [
        "and do not forget to write to your aunt soon, she asks after you",
        "the apples are ripe and the cellar is full of wood for the winter",
    ]
    body = [
        "the weather has turned cold again and the",
        "river is high after three days of rain and",
        "Father went to town on Tuesday to sell the",
        "two calves and came back with a new lamp,",
        "some coffee and a letter from our cousin",
        "who lives in Lyon and sends her love to all",
    ]
    # written upwards from the bottom of the margin (turned a quarter anticlockwise)
    truth = [
        _draw_line(page, (60 + 80 * i, 1420), t, font, 30, turn=90.0, ink_above=96)
        for i, t in enumerate(side)
    ]
    truth += [
        _draw_line(page, (330, 200 + 130 * i), t, font, 30, ink_above=96)
        for i, t in enumerate(body)
    ]
    texts = side + body
    n = len(texts)
    info: dict[str, Any] = {}
    boxes, _ = _place_on_detected_lines(texts, [None] * n, [None] * n, page.convert("RGB"), info)
    got = [round(iou(b, t), 2) if b else 0.0 for b, t in zip(boxes, truth, strict=True)]
    assert all(v >= 0.5 for v in got), (got, boxes, truth, info)


def test_a_short_line_whose_words_matched_elsewhere_gets_its_own_row() -> None:
    """The cpu engine's words matched a short closing line to a word of the first line
    (as Tesseract matched "mes dépouilles" to a word eight rows lower on a real will):
    the alignment of the lines with the page's rows puts it on its own row, and that
    box is taken (IoU >= 0.5 with its ink); on main it kept the stray word's box."""
    from ocrkit_plugins.engines.vlm.answer import _place_on_detected_lines

    texts = [*_LETTER[:2], "to town on Tuesday to sell the two calves.", "your loving Anne"]
    page, texts, truth = _made_letter(texts, height=1000)
    first = truth[0]
    stray = [first[0], first[1], first[0] + 0.15 * (first[2] - first[0]), first[3]]
    boxes = [None, None, None, stray]
    kinds = [None, None, None, "words"]
    out, _ = _place_on_detected_lines(texts, list(boxes), list(kinds), page, {})
    got = [round(iou(b, t), 2) if b else 0.0 for b, t in zip(out, truth, strict=True)]
    assert iou(stray, truth[3]) == 0.0
    assert all(v >= 0.5 for v in got), (got, out)


def test_lines_written_in_a_fainter_ink_keep_their_boxes() -> None:
    """A letter whose last three lines are written in a lighter ink (as on the real will
    AD78_0064, whose writer's ink faded down the page): at the page's threshold those
    lines keep only the darkest specks of their strokes. Each faint region is binarised
    at its own threshold, so every line gets its box (IoU >= 0.5 with its drawn ink).
    On main the specks cut the faint lines into slivers, and no line of this page got
    a right box."""
    from ocrkit_plugins.engines.vlm.answer import _place_on_detected_lines
    from PIL import ImageFont

    texts = [
        *_LETTER,
        "a letter from our cousin who lives in Lyon",
        "and sends her love to all of you at home",
        "The school will open again next Monday",
    ]
    font = ImageFont.truetype(handpages.fonts()[0], 52)
    page = Image.new("L", (1600, 1400), 235)
    truth = [
        _draw_line(page, (120, 150 + 120 * i), t, font, 30 if i < 4 else 150)
        for i, t in enumerate(texts)
    ]
    # paper and pen vary a little: a few pixels of the faint strokes fall below the
    # page's threshold
    arr = np.asarray(page).astype(float) + np.random.default_rng(7).normal(0, 6, (1400, 1600))
    made = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).convert("RGB")
    n = len(texts)
    boxes, _ = _place_on_detected_lines(texts, [None] * n, [None] * n, made, {})
    got = [round(iou(b, t), 2) if b else 0.0 for b, t in zip(boxes, truth, strict=True)]
    assert all(v >= 0.5 for v in got), (got, boxes, truth)


def test_the_page_ink_mask_is_computed_once_for_placement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """build_result's ink mask of the page is handed down to the detection, the margin
    check and the stamp check instead of each computing it again (on main: four times
    on a page whose margin is inked, as here: the sideways lines' page)."""
    from ocrkit_plugins.engines.vlm import answer, detect
    from PIL import ImageFont

    from ocrkit.llm import Completion

    font = ImageFont.truetype(handpages.fonts()[0], 46)
    page = Image.new("RGB", (1500, 1500), (236, 230, 214))
    side = ["and do not forget to write to your aunt soon, she asks after you"]
    body = [
        "the weather has turned cold again and the",
        "river is high after three days of rain and",
        "Father went to town on Tuesday to sell the",
    ]
    _draw_line(page, (60, 1420), side[0], font, (60, 40, 20), turn=90.0)
    for i, t in enumerate(body):
        _draw_line(page, (330, 200 + 130 * i), t, font, (60, 40, 20))
    image = page
    real = detect.ink_mask
    sizes: list[tuple[int, int]] = []

    def counting(im: Image.Image) -> Any:
        sizes.append(im.size)
        return real(im)

    monkeypatch.setattr(detect, "ink_mask", counting)
    info: dict[str, Any] = {}
    res = answer.build_result(
        "\n".join(side + body), Completion("", None, None, {}), [], [], info, image
    )
    assert sum(b.bbox is not None for b in res.blocks) >= 3, res.blocks
    assert sizes.count(image.size) == 1, sizes


def test_an_upright_page_with_a_strip_of_upright_noise_at_its_edge_stays_upright() -> None:
    """The cpu engine read only the scan's right border (tall thin "lines" in a strip
    5 % of the page wide, as on the real envelope AN_0292-1): the page is not taken for
    one lying on its side, so its written lines get their rows (IoU >= 0.5). On main
    the page was placed turned a quarter and no line got its box. Upright "lines"
    spread across the page still mean a page on its side."""
    from ocrkit_plugins.engines.vlm import answer

    from ocrkit.models import Block

    page, texts, truth = _made_letter()
    w = page.width
    edge = [
        Block(
            text="RS",
            confidence=0.3,
            bbox=[w - 60 + 12 * i, 200 + 150 * i, w - 50 + 12 * i, 330 + 150 * i],
        )
        for i in range(5)
    ]
    assert not answer._sideways(edge, w)
    spread = [
        Block(text="RS", confidence=0.3, bbox=[100 + 300 * i, 200, 130 + 300 * i, 900])
        for i in range(5)
    ]
    assert answer._sideways(spread, w)
    n = len(texts)
    sideways = answer._sideways(edge, w)
    info: dict[str, Any] = {}
    boxes, _ = answer._place_on_detected_lines(
        texts, [None] * n, [None] * n, page, info, sideways=sideways
    )
    got = [round(iou(b, t), 2) if b else 0.0 for b, t in zip(boxes, truth, strict=True)]
    assert "placed_turned" not in info and all(v >= 0.5 for v in got), (got, info)


def test_a_band_lying_in_the_next_lines_region_is_not_cut_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Slanted lines close together: the detector's box of one line reaches over the top
    of the next line's ink, which has its own region (the real will AD78_0064-2). The
    band cut would cut the first region in two, the lower part being the next line
    again (on that page the cut won and put the list below one row off); a part lying
    half or more inside another region's box is not a second line, so no cut is
    offered. On main the region was cut."""
    from ocrkit_plugins.engines.vlm import detect
    from PIL import ImageFont

    font = ImageFont.truetype(handpages.fonts()[0], 52)
    page = Image.new("L", (1600, 1100), 235)
    tops = [150, 290, 430, 520, 660]
    truth = [
        _draw_line(page, (120, t), s, font, 30, turn=2.5 if i in (2, 3) else 0.0, ink_above=96)
        for i, (t, s) in enumerate(zip(tops, [*_LETTER, "a letter from our cousin"], strict=True))
    ]
    over = [truth[2][0], truth[2][1], truth[2][2], truth[3][1] + 0.6 * (truth[3][3] - truth[3][1])]
    real = detect.detect_regions

    def overreaching(image: Image.Image) -> tuple[list[detect.Region], str]:
        regions, _ = real(image)
        kept = [r for r in regions if not truth[2][1] <= (r.box[1] + r.box[3]) / 2 <= truth[3][3]]
        return [*kept, detect.Region(over), detect.Region(list(truth[3]))], "db"

    monkeypatch.setattr(detect, "detect_regions", overreaching)
    dark = detect.ink_mask(page.convert("RGB"))
    assert len(detect.text_bands(over, dark, 97)) == 2  # the cut itself would be offered
    plain, banded, _ = detect.detect_line_sets(page.convert("RGB"))
    assert banded is None, [ln.box for ln in banded]
    assert len(plain) == 5


def test_a_region_reaching_up_over_an_underline_is_trimmed_to_its_own_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A detector region is centred on its line but taller than it, and its top reaches
    over the line above's underline (on AD78_0064-2, the line above's descenders), which
    holds more ink per pixel row than the line itself. The region is trimmed to the ink
    around its own middle, not to the underline: every line gets its own box (IoU >= 0.5
    with its drawn ink). On main the line was trimmed to the underline's strip, cut at
    its word gaps into slivers, and the lines after it took the wrong rows."""
    from ocrkit_plugins.engines.vlm import detect
    from ocrkit_plugins.engines.vlm.answer import _place_on_detected_lines
    from PIL import ImageDraw, ImageFont

    font = ImageFont.truetype(handpages.fonts()[0], 52)
    page = Image.new("L", (1600, 1100), 235)
    texts = [
        "Last will of Jean Martin",
        "the weather has turned cold again and the river",
        "is high after three days of rain. Father went",
        "to town on Tuesday to sell the two calves and",
    ]
    tops = [150, 300, 420, 540]
    truth = [_draw_line(page, (120, y), t, font, 30) for y, t in zip(tops, texts, strict=True)]
    rule = truth[0][3] + 12  # an underline under the first line, across the page
    ImageDraw.Draw(page).rectangle([110, rule, 1300, rule + 5], fill=30)
    line = truth[1]
    mid = (line[1] + line[3]) / 2
    tall = [line[0] - 10, rule - 2, line[2] + 10, 2 * mid - (rule - 2)]
    real = detect.detect_regions

    def reaching(image: Image.Image) -> tuple[list[detect.Region], str]:
        regions, _ = real(image)
        kept = [r for r in regions if not line[1] <= (r.box[1] + r.box[3]) / 2 <= line[3]]
        return [*kept, detect.Region(tall)], "db"

    monkeypatch.setattr(detect, "detect_regions", reaching)
    n = len(texts)
    boxes, _ = _place_on_detected_lines(texts, [None] * n, [None] * n, page.convert("RGB"), {})
    got = [round(iou(b, t), 2) if b else 0.0 for b, t in zip(boxes, truth, strict=True)]
    assert all(v >= 0.5 for v in got), (got, boxes, truth)


def test_a_line_written_with_wide_word_gaps_stays_one_piece() -> None:
    """A writer who leaves gaps of 1.1 ink heights between words (AD78_0002-0): the
    detector's region of the line is not cut into its words (a note beside a line
    stands farther off), so the line's model text has one piece to take. On main (cut at
    gaps of one ink height) it came out as four pieces, further apart than one model
    line may span."""
    from ocrkit_plugins.engines.vlm import detect
    from PIL import ImageFont

    font = ImageFont.truetype(handpages.fonts()[0], 52)
    words = ["mobilise", "comme", "lieutenant", "reserve"]
    height = max(font.getbbox(w)[3] for w in words) - min(font.getbbox(w)[1] for w in words)
    page = Image.new("L", (1800, 400), 235)
    boxes: list[list[float]] = []
    x = 120
    for word in words:
        boxes.append(_draw_line(page, (x, 150), word, font, 30))
        x = int(boxes[-1][2] + 1.1 * height)
    dark = detect.ink_mask(page)
    top, bottom = min(b[1] for b in boxes), max(b[3] for b in boxes)
    assert bottom - top <= height + 2  # the gaps are 1.1 of the line's ink height
    region = detect.Region([boxes[0][0] - 8, top - 8, boxes[-1][2] + 8, bottom + 8])
    pieces = detect.split_at_gaps([region], dark)
    assert len(pieces) == 1, [p.box for p in pieces]


def test_a_cut_leaves_no_piece_taller_than_wide() -> None:
    """A line of a writer who spaces letters widely, in a region the detector drew about
    three ink heights tall (AD78_0037-0's "Ma Chère Soeur"): its gaps cut it into three
    pieces, the middle one narrower than the region is tall. On main that piece stood
    upright, was taken for a line of a page on its side (trimmed across to one stroke,
    a row of its own) and the lines after it went a row off. Now a piece narrower than
    the region is tall stays with its nearer neighbour."""
    from ocrkit_plugins.engines.vlm import detect

    dark = np.zeros((400, 1200), dtype=bool)
    for x0, x1 in ((100, 280), (345, 425), (488, 630)):  # gaps 65 and 63; ink 50 high
        dark[200:250, x0:x1:6] = True  # strokes, not a solid block
    region = detect.Region([80.0, 150.0, 650.0, 305.0])  # 155 tall
    pieces = [p.box for p in detect.split_at_gaps([region], dark)]
    assert len(pieces) == 2, pieces
    assert all(b[2] - b[0] >= b[3] - b[1] for b in pieces), pieces
    assert pieces[0][2] <= 285 and pieces[1][0] >= 340  # the middle piece went right
    lines = detect.lines_of([detect.Region(b) for b in pieces], dark)
    assert len(lines) == 1 and len(lines[0].parts) == 2


def test_a_missed_line_is_found_beside_a_note_written_down_the_margin() -> None:
    """Ink outside the detector's regions is looked for in bands of rows; a note written
    down the margin (or a fold, a scan's edge) inks every row, so on main the whole page
    was one band, far taller than a line, and a line the detector missed stayed missed
    (AD78_0030-0's margin note). The bands are now looked for in the columns the body's
    lines span."""
    from ocrkit_plugins.engines.vlm import detect

    dark = np.zeros((1000, 1400), dtype=bool)
    tops = [100, 220, 340, 460, 580]
    for y in tops:
        dark[y : y + 50, 300:1300:5] = True  # a line of writing: strokes 50 high
    for y in range(20, 980, 30):
        dark[y : y + 28, 60:110:4] = True  # the margin note, written downwards
    # the detector found four of the lines and, of the note, small pieces only
    found = [detect.Region([290.0, y - 10.0, 1310.0, y + 60.0]) for y in tops if y != 340]
    found += [detect.Region([70.0, y - 2.0, 100.0, y + 52.0]) for y in range(20, 980, 180)]
    missed = detect.missed_regions(found, dark)
    assert len(missed) == 1, [r.box for r in missed]
    x0, y0, x1, y1 = missed[0].box
    assert 320 <= y0 <= 345 and 385 <= y1 <= 400 and x0 <= 310 and x1 >= 1290


def test_ink_beside_the_body_is_not_taken_for_a_missed_line() -> None:
    """Leftover ink right of every line of the body (a note, a flourish, a stamp's
    text): on main it became a "missed line", a row the model's lines could take, which
    put lines one row off (AN_0192-0, AN_0327-0, AN_0008-3 in the tuning pool). Only
    the columns the body's lines span are looked at now."""
    from ocrkit_plugins.engines.vlm import detect

    dark = np.zeros((900, 1700), dtype=bool)
    tops = [100, 220, 340, 460]
    for y in tops:
        dark[y : y + 50, 300:1300:5] = True
    dark[700:740, 1380:1620:5] = True  # a note right of the body, not detected
    found = [detect.Region([290.0, y - 10.0, 1310.0, y + 60.0]) for y in tops]
    assert detect.missed_regions(found, dark) == []


def _placed_on(texts: list[str], boxes: list[list[float]], rows: list[int]) -> list[Any]:
    from ocrkit_plugins.engines.vlm import assign

    return assign.assign(texts, boxes, heights=[b[3] - b[1] for b in boxes], rows=rows)


def test_one_written_line_detected_as_two_pieces_is_not_cut_between_two_model_lines() -> None:
    """A written line the detector found as two pieces of one row close together (a
    word gap of under a height): on main the first model line took that row's first
    piece and the second line its second piece, the top row left over (the shape of
    the list of the real will AD78_0064-2, one row off, and of a heading on i21path's
    held-out page). Two model
    lines one after the other on neighbouring pieces of one such row now cost
    (``assign.ROW_SHARE``): every line gets its own written line."""
    from ocrkit_plugins.engines.vlm import assign

    texts = [
        "Dear Mother, thank",
        "you for the warm socks",
        "Anne",
        "the weather has turned cold here again",
        "and the river is high after three days of rain",
        "Father went to town on Tuesday to sell",
        "the two calves and came back with a new lamp",
        "some coffee and a letter from our cousin",
    ]
    # the pieces (row by row, as the detector's regions trimmed to the ink): the second
    # written line is two pieces 25 px apart in one row
    pieces = [[100, 100, 297, 140], [100, 170, 303, 208], [328, 170, 540, 208]]
    pieces += [[100, 240, 190, 279], [300, 310, 872, 349], [100, 380, 706, 422]]
    pieces += [[100, 450, 725, 487], [100, 520, 709, 557], [100, 590, 648, 631]]
    rows = [0, 1, 1, 2, 3, 4, 5, 6, 7]
    written = [[0], [1, 2], [3], [4], [5], [6], [7], [8]]
    truth = [assign._union([pieces[k] for k in w]) for w in written]
    got = [p.box for p in _placed_on(texts, [list(map(float, p)) for p in pieces], rows)]
    assert got == truth, got


def test_a_line_whose_last_word_is_low_spans_the_gap_before_it() -> None:
    """A written line detected as two pieces: its last words are written without
    ascenders, so their trimmed piece is low, and the gap before them (56 px) is more
    than 1.5 times both pieces' heights (36 and 28 px) though less than 1.5 times the
    page's writing height (40 px). The gap a line may span is now measured in at least
    the page's writing height (``assign.SPAN_BODY``), so the line takes both pieces; on
    main it took the first piece alone (as lines of the real will AD78_0002-0 did)."""
    from ocrkit_plugins.engines.vlm import assign

    texts = [
        "the weather has turned cold here again and",
        "the river is high after three days of rain, and Father",
        "went to town on Tuesday to sell the two calves",
        "and came back with a new lamp and coffee",
    ]
    pieces = [[100, 100, 880, 140], [100, 170, 720, 206], [776, 178, 1000, 206]]
    pieces += [[100, 240, 900, 280], [100, 310, 830, 350]]
    rows = [0, 1, 1, 2, 3]
    written = [[0], [1, 2], [3], [4]]
    truth = [assign._union([pieces[k] for k in w]) for w in written]
    got = [p.box for p in _placed_on(texts, [list(map(float, p)) for p in pieces], rows)]
    assert got == truth, got


def test_a_short_line_matched_to_one_short_misread_word_is_not_pinned_there() -> None:
    """The cpu engine read one word of a handwritten page, "loi", at the start of the
    fourth written line, and the model's short last line "moi" matched it (as on the
    real will AN_0006-2, where "moi -" so matched held every line one row early).
    One cpu word of three letters or fewer read inexactly no longer pins a line
    (``answer.WEAK_LETTERS``): the last line gets its own written line. On main it kept
    the stray word's box."""
    from ocrkit_plugins.engines.vlm import answer

    from ocrkit.llm import Completion
    from ocrkit.models import Block, Word

    page, texts, truth = _made_letter([*_LETTER, "moi"])
    row = truth[3]
    stray = [row[0], row[1], row[0] + 0.08 * (row[2] - row[0]), row[3]]
    cpu = [Block(text="loi", bbox=stray, confidence=0.5, words=[Word("loi", stray, 0.5)])]
    info: dict[str, Any] = {}
    res = answer.build_result("\n".join(texts), Completion("", None, None, {}), cpu, [], info, page)
    got = [
        round(iou(b.bbox, t), 2) if b.bbox else 0.0 for b, t in zip(res.blocks, truth, strict=True)
    ]
    assert iou(stray, truth[4]) == 0.0
    assert all(v >= 0.5 for v in got), (got, [b.bbox for b in res.blocks])
    assert (res.blocks[4].extra or {}).get("box") != "words"


# Pieces the DB detector found on the real will AN_0006-2 (tuning half; rows of pieces as
# ``detect.detect_line_sets`` joined them, x0 y0 x1 y1) and its annotated lines: a writer
# who leaves gaps of one to two letter heights between words, so most rows are cut into
# their words; above the text a heading fragment, below it a signature and stamps.
_WIDE_GAPS_ROWS = [
    [[1145, 78, 1161, 103]],
    [[0, 55, 413, 143]],
    [[120, 129, 1214, 240]],
    [[108, 226, 440, 325], [549, 236, 1124, 289]],
    [[102, 326, 386, 403], [462, 325, 1128, 413]],
    [[136, 421, 390, 470], [492, 418, 1080, 467]],
    [[128, 514, 314, 557], [403, 511, 660, 555], [738, 527, 837, 553], [894, 523, 1149, 548]],
    [[637, 511, 645, 536]],
    [[195, 575, 517, 667], [599, 590, 1053, 639]],
    [[499, 625, 514, 639]],
    [[135, 685, 444, 731], [567, 668, 1120, 752]],
    [[152, 758, 218, 814]],
    [[345, 791, 497, 813], [594, 784, 683, 808], [745, 766, 1128, 809]],
    [[127, 866, 333, 906]],
    [[291, 940, 745, 1000], [822, 954, 1088, 999]],
    [[124, 1056, 698, 1111], [784, 1020, 1088, 1103]],
    [[131, 1125, 665, 1194]],
    [[216, 1195, 431, 1258], [507, 1200, 802, 1261], [886, 1204, 966, 1256]],
    [[1027, 1285, 1166, 1324]],
    [[268, 1287, 500, 1342], [577, 1302, 717, 1355]],
    [[995, 1373, 1173, 1432]],
    [[34, 1385, 650, 1518]],
    [[0, 1443, 662, 1581], [662, 1459, 1045, 1536]],
    [[0, 1506, 640, 1648], [776, 1475, 1183, 1734]],
    [[503, 1425, 1153, 1809]],
    [[681, 1678, 809, 1793], [871, 1638, 1029, 1777], [1006, 1612, 1136, 1711]],
    [[120, 1664, 367, 1748]],
]
_WIDE_GAPS_LINES = [
    ("spécialement à l’hospice de Carentan", [96, 143, 1214, 233]),
    ("qui devrait recevoir en tous cas", [96, 234, 1147, 321]),
    ("ma petite propriété de méautis -", [96, 314, 1172, 412]),
    ("ma sœur agirait de même", [116, 414, 1091, 492]),
    ("si elle devenait mon héritière", [109, 492, 1175, 576]),
    ("Ma femme et ma sœur", [118, 583, 1065, 664]),
    ("voudraient bien offrir à mes", [115, 668, 1130, 749]),
    ("bons amis un souvenir de", [135, 758, 1133, 831]),
    ("moi -", [126, 856, 350, 916]),
    ("Ce testament annule", [273, 934, 1090, 1021]),
    ("ceux que j’aurais pu faire", [108, 1028, 1089, 1108]),
    ("précédemment.", [120, 1118, 689, 1190]),
    ("Fait à Carentan, le", [203, 1191, 950, 1275]),
    ("3 août 1914", [253, 1282, 723, 1356]),
    ("Ed. Cauville", [642, 1449, 982, 1532]),
]


def test_rows_cut_into_words_by_wide_gaps_give_whole_lines() -> None:
    """The width per character is also started from the rows' widths (pieces of a row
    joined) and re-estimated from lines on several pieces, the cheaper alignment
    winning (``assign.K_FROM_ROWS``): from the pieces alone (single words) every whole
    line looked 2-2.5 times too wide, and lines took single words, the rest of the page
    then a row off. On the real will's rows as found (without the band cut, which the
    page's replay picks: 14 of 15 there) 12 of 15 lines get IoU >= 0.5 with the
    annotated line; on main 3."""
    from ocrkit_plugins.engines.vlm.answer import place_on_pieces

    pieces = [(r, list(map(float, p))) for r, row in enumerate(_WIDE_GAPS_ROWS) for p in row]
    texts = [t for t, _ in _WIDE_GAPS_LINES]
    places = place_on_pieces(texts, pieces, [None] * len(texts))
    got = [
        round(iou(p.box, b), 2) if p.box else 0.0
        for p, (_, b) in zip(places, _WIDE_GAPS_LINES, strict=True)
    ]
    assert sum(v >= 0.5 for v in got) >= 12, got


def test_printed_pages_keep_the_width_start_of_their_pieces() -> None:
    """Where the cpu engine's words placed over half the lines (printed pages), the
    rows' start is not tried (``assign.ROWS_K_READ``): the same placement as with the
    pieces' start alone."""
    from ocrkit_plugins.engines.vlm import assign

    pieces = [list(map(float, p)) for row in _WIDE_GAPS_ROWS for p in row]
    rows = [r for r, row in enumerate(_WIDE_GAPS_ROWS) for _ in row]
    texts = [t for t, _ in _WIDE_GAPS_LINES]
    anchors: list[list[float] | None] = [
        list(map(float, b)) if i % 3 else None for i, (_, b) in enumerate(_WIDE_GAPS_LINES)
    ]
    hs = [p[3] - p[1] for p in pieces]
    got = assign.assign_scored(texts, pieces, anchors, hs, rows)
    old = assign.K_FROM_ROWS
    try:
        assign.K_FROM_ROWS = False
        alone = assign.assign_scored(texts, pieces, anchors, hs, rows)
    finally:
        assign.K_FROM_ROWS = old
    assert [p.box for p in got[0]] == [p.box for p in alone[0]] and got[1] == alone[1]


# The real will AD78_0064-2 (bench/data/poilus_pages, CC-BY-4.0): the rows of pieces the DB
# detector's regions gave (our geometry, the input), and the annotators' line boxes
# (the truth). Its list of payments has each amount at a tab stop far right of its name.
_LIST_ROWS = [
    [[152, 58, 1140, 128]],
    [[152, 109, 1067, 186]],
    [[156, 192, 990, 235]],
    [[153, 244, 1065, 312]],
    [[153, 285, 808, 357]],
    [[158, 333, 1091, 427]],
    [[158, 398, 1042, 477]],
    [[162, 452, 1100, 514]],
    [[164, 526, 695, 584]],
    [[164, 565, 1129, 633]],
    [[165, 651, 326, 682]],
    [[96, 649, 1161, 757]],
    [[170, 737, 434, 795], [476, 743, 1000, 793]],
    [[420, 796, 433, 800]],
    [[164, 774, 1167, 870]],
    [[171, 839, 910, 907]],
    [[91, 890, 1139, 988]],
    [[176, 947, 1063, 1032]],
    [[186, 989, 1163, 1086]],
    [[197, 1041, 1057, 1148]],
    [[197, 1132, 749, 1177], [800, 1106, 1099, 1150]],
    [[981, 1197, 984, 1203]],
    [[207, 1194, 575, 1231]],
    [[414, 1236, 751, 1280], [843, 1216, 976, 1254]],
    [[414, 1265, 975, 1324]],
    [[857, 1340, 944, 1365]],
    [[407, 1340, 694, 1378]],
    [[850, 1397, 942, 1423]],
    [[405, 1391, 499, 1423], [547, 1404, 733, 1427]],
    [[218, 1441, 1192, 1506]],
    [[844, 1490, 947, 1528]],
    [[408, 1493, 688, 1546]],
    [[222, 1532, 1177, 1624]],
    [[222, 1590, 1193, 1688]],
    [[236, 1692, 343, 1724]],
    [[501, 1707, 1114, 1764]],
    [[252, 1782, 404, 1822]],
    [[500, 1839, 1141, 1898]],
]
_LIST_LINES = [
    ("Tout le reste, tableaux y compris, m’appartenait", [138, 45, 1114, 130]),
    ("en propre lors de mon mariage. Le petit bureau", [140, 110, 1076, 183]),
    ("Louis XV qui est dans ma chambre a coucher,", [140, 176, 989, 242]),
    ("m’appartenait également (il m’a été donné par ma", [140, 236, 1068, 303]),
    ("mère). L’auto est à la communauté.", [146, 278, 811, 356]),
    ("Ce que m a femme a apporté en mariage, linge", [146, 340, 1096, 418]),
    ("et bijou est sur le contrat de mariage. Elle n’a", [146, 400, 1054, 471]),
    ("contrairement a ce qui est ecrit dans le contrat,", [152, 456, 1093, 523]),
    ("apporté aucun objet mobilier.", [148, 516, 703, 592]),
    ("Ceci dit la communauté a à sa charge les dettes", [148, 568, 1143, 643]),
    ("suivantes :", [150, 639, 340, 693]),
    ("1° 22.500 frdus sur la maison a Mr Corbin, dont", [95, 663, 1151, 742]),
    ("les interets a 4 1/2 % ont eté regulièrement", [153, 723, 1028, 801]),
    ("payés a ce jour. Ces interets ont deux echéances, le", [152, 776, 1176, 860]),
    ("22 fevrier et le 22 aout chaque annee.", [170, 848, 918, 913]),
    ("2° les mémoirs des entrepreneurs qui n ont pas été réglés", [76, 898, 1201, 975]),
    ("par l’architecte Mr Welsch en raison de la", [171, 948, 1068, 1028]),
    ("mobilisation. Certains de ces mémoires sont très exagérés", [178, 996, 1231, 1081]),
    ("il appartiendra a Mr Jaillet de veiller sur les", [178, 1044, 1048, 1138]),
    ("intérêts de mon fils a cet égard. D’autre part jai", [183, 1094, 1110, 1196]),
    ('versé des accomptes :"', [186, 1178, 596, 1239]),
    ("Beunon (maçon) 3000 frs", [398, 1204, 985, 1285]),
    ("Berson (toiture salle de bain etc) 1000 frs", [398, 1261, 983, 1338]),
    ("Le Lan (peintre) 1000.", [395, 1328, 935, 1379]),
    ("Scheid (menuisier) 1000.", [398, 1368, 944, 1441]),
    ("J’ai payé le mouleur mr Dupont rue Hoche totalement.", [202, 1429, 1236, 1493]),
    ("Ferré (serrurier) 200 frs.", [400, 1478, 960, 1546]),
    ("D’autre part Mr Tunzini me doit environ 500 fr", [210, 1531, 1183, 1619]),
    ("d’honoraires, qui sont portés sur mes livres de 1914 et", [220, 1596, 1233, 1672]),
    ("1916.", [221, 1671, 360, 1738]),
    ("Mr Berson me doit egalement des", [500, 1694, 1125, 1768]),
    ("honoraires", [240, 1778, 406, 1831]),
    ("Mr Delahaye (papier)  également.", [486, 1822, 1136, 1897]),
]


def _placed_on_rows(
    texts: list[str], rows: list[list[list[int]]], size: tuple[int, int], monkeypatch: Any
) -> list[list[float] | None]:
    """The boxes :func:`answer._place_on_detected_lines` gives ``texts`` (no cpu words)
    when the detector finds ``rows`` (pieces per row) on a blank page of ``size``."""
    from ocrkit_plugins.engines.vlm import answer, assign, detect

    lines = [
        detect.DetectedLine(
            assign._union([list(map(float, p)) for p in r]), [list(map(float, p)) for p in r]
        )
        for r in rows
    ]
    monkeypatch.setattr(detect, "detect_line_sets", lambda image, dark=None: (lines, None, "db"))
    image = Image.new("L", size, 255)
    dark = np.zeros((size[1], size[0]), dtype=bool)
    none: list[list[float] | None] = [None] * len(texts)
    boxes, _ = answer._place_on_detected_lines(
        texts, none, [None] * len(texts), image, {}, dark=dark
    )
    return boxes


def test_amounts_at_a_tab_stop_and_low_words_get_their_whole_line(monkeypatch: Any) -> None:
    """A list whose amounts stand at a tab stop 2-4 heights right of their names (the
    real will AD78_0064-2, its detected rows and annotated lines): each line of the
    list takes the amount's piece beside it, which the alignment leaves over (one
    line spans only close pieces; ``answer.widen_wanting``), and a short word written
    without ascenders ("1916.", "suivantes :") gets a box 0.6 of the writing height
    tall, as its annotated line box is (``answer.LOW_LINE``): 32 of 33 lines at IoU >=
    0.5 with the annotated boxes; on main 27."""
    texts = [t for t, _ in _LIST_LINES]
    got = _placed_on_rows(texts, _LIST_ROWS, (1283, 2000), monkeypatch)
    ious = [round(iou(b, t), 2) if b else 0.0 for b, (_, t) in zip(got, _LIST_LINES, strict=True)]
    assert sum(v >= 0.5 for v in ious) >= 32, ious


def test_a_line_of_wide_word_gaps_takes_its_first_words_back(monkeypatch: Any) -> None:
    """The real will AN_0006-2's rows (a writer who leaves gaps of two letter heights):
    "bons amis un souvenir de" took its last pieces only (IoU 0.32 with its annotated
    line on main) and "bons", "amis" were left over; a line holding fewer pieces than it
    has words now takes the pieces left over beside it (not from the margin column):
    13 of 15 lines at IoU >= 0.5, that line among them (main 12)."""
    texts = [t for t, _ in _WIDE_GAPS_LINES]
    got = _placed_on_rows(texts, _WIDE_GAPS_ROWS, (1279, 2000), monkeypatch)
    ious = [
        round(iou(b, t), 2) if b else 0.0 for b, (_, t) in zip(got, _WIDE_GAPS_LINES, strict=True)
    ]
    assert ious[7] >= 0.5 and sum(v >= 0.5 for v in ious) >= 13, ious


def test_a_stamp_beside_a_one_word_heading_is_not_taken_into_it(monkeypatch: Any) -> None:
    """Widening stops once a line holds a piece per word: a one-word heading keeps its
    own piece and leaves the stamp written left of it (as on the real will AN_0107-0),
    and no line takes a note in the margin column left of the writing."""
    texts = ["Testament", "Je soussigné Jean Martin demeurant", "à Paris rue de Rivoli"]
    rows = [
        [[330, 60, 440, 110], [520, 60, 860, 120]],
        [[60, 180, 110, 220], [200, 180, 1100, 240]],
        [[200, 270, 980, 330]],
    ]
    got = _placed_on_rows(texts, rows, (1200, 600), monkeypatch)
    assert got[0] == [520.0, 60.0, 860.0, 120.0], got
    assert got[1] is not None and got[1][0] == 200.0, got


_EVEN_LINES = [
    "the weather has turned cold and the river is high",
    "registered at the town hall on the fourth of May",
    "after three days of rain Father went to the mill",
    "to sell the two calves and came back with a lamp",
    "some coffee and a letter from our cousin Thomas",
]


def test_a_rough_reading_of_each_piece_tells_lines_of_equal_length_apart() -> None:
    """Five made handwritten lines of nearly equal length; the model's answer leaves out
    the second (a registration note it did not transcribe). By shape alone every row
    fits every line, and leaving the last row over is cheaper than a gap in the middle:
    on the old code the last three lines went one row up. The pieces read roughly
    (``read.py``, RapidOCR's recogniser) say which row is which: every line on its own
    row (IoU >= 0.5 with its ink)."""
    from ocrkit_plugins.engines.vlm import answer, read

    if not read.available():
        pytest.skip("rapidocr is not installed")
    page, _, truth = _made_letter(_EVEN_LINES)
    texts = [t for i, t in enumerate(_EVEN_LINES) if i != 1]
    want = [b for i, b in enumerate(truth) if i != 1]
    n = len(texts)
    info: dict[str, Any] = {}
    boxes, _ = answer._place_on_detected_lines(texts, [None] * n, [None] * n, page, info)
    got = [round(iou(b, t), 2) if b else 0.0 for b, t in zip(boxes, want, strict=True)]
    assert all(v >= 0.5 for v in got), (got, info)
    assert info["pieces_read"] >= 5, info


def test_the_recogniser_reads_a_made_handwritten_line_closer_to_its_text_than_to_others() -> None:
    """What ``read.read_boxes`` gives is rough, but it is nearer the line's own text than
    any other line's (the evidence the placement uses): real RapidOCR on made
    handwriting."""
    from ocrkit_plugins.engines.vlm import read

    if not read.available():
        pytest.skip("rapidocr is not installed")
    page, texts, truth = _made_letter(_EVEN_LINES)
    got = read.read_boxes(page, truth)
    assert got is not None and len(got) == len(texts)
    for i, r in enumerate(got):
        sims = [read.similarity(read.plain(t), read.plain(r)) for t in texts]
        assert max(range(len(texts)), key=lambda k: sims[k]) == i, (r, sims)
    assert read.read_boxes(page, [[10.0, 10.0, 14.0, 13.0]]) == [""]  # too small to read


def test_pieces_are_not_read_where_the_cpu_words_placed_most_lines() -> None:
    """On a printed page the cpu engine's words place most lines, and they are better
    evidence than a rough reading: the recogniser is not run (``answer.READ_PLACED``)."""
    from ocrkit_plugins.engines.vlm import answer

    page, texts, truth = _made_letter(_EVEN_LINES)
    n = len(texts)
    placed: list[list[float] | None] = [*truth[:3], None, None]
    info: dict[str, Any] = {}
    answer._place_on_detected_lines(texts, placed, ["words"] * 3 + [None] * 2, page, info)
    assert "pieces_read" not in info and info["line_detector"] == "db", info
    info = {}
    answer._place_on_detected_lines(texts, [truth[0]] + [None] * (n - 1), [None] * n, page, info)
    assert info.get("pieces_read", 0) >= 4, info


def test_a_piece_left_over_beside_a_line_joins_it_when_its_reading_fits_the_line() -> None:
    """A heading "Paris 7 Août 1914" whose first word the detector cut off (a string
    lying across the page joins it to the next words' region, as on the corpus's real
    will AN_0001-0): the line holds "7 Août 1914", and "Paris" lies over, reaching into
    its box. Read as "Pari", the piece makes the line's reading more like its text, so
    the line takes it (``answer.widen_by_reading``); a stamp read "ARCHIVES NATIONALES"
    beside it does not."""
    from ocrkit_plugins.engines.vlm import answer
    from ocrkit_plugins.engines.vlm.assign import Placement

    words = [430.0, 80.0, 1080.0, 170.0]
    paris = [200.0, 90.0, 450.0, 170.0]
    stamp = [1150.0, 60.0, 1400.0, 150.0]
    below = [200.0, 230.0, 1250.0, 320.0]
    pieces = [paris, words, stamp, below]
    texts = ["Paris 7 Août 1914", "Ceci est mon testament."]
    places = [Placement(words, True, "pair", 5.0, 0.1, 900.0), Placement(below, True, "pair")]
    reads = ["Pari", "7 Hout 1914", "ARCHIVES NATIONALES", "ecci est mon tertament"]
    got = answer.widen_by_reading(places, pieces, [None, None], texts, reads)
    assert got[0].box == [200.0, 80.0, 1080.0, 170.0] and not got[0].sure, got[0]
    assert got[1] == places[1]
    unread = answer.widen_by_reading(places, pieces, [None, None], texts, ["", *reads[1:]])
    assert unread[0] == places[0]  # a piece that read nothing is no evidence


def test_a_crop_the_recogniser_fails_on_reads_as_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The readings are evidence, not the page: a recogniser error on one crop gives ""
    for it (no evidence) and the other crops are still read, instead of the page's
    placement failing."""
    from ocrkit_plugins.engines.vlm import read

    if not read.available():
        pytest.skip("rapidocr is not installed")
    page, texts, truth = _made_letter(_EVEN_LINES[:2])
    real = read._load()
    calls = []

    def flaky(crop: Any) -> Any:
        calls.append(crop.shape)
        if len(calls) == 1:
            raise RuntimeError("onnxruntime: bad input")
        return real(crop)

    monkeypatch.setattr(read, "_load", lambda: flaky)
    got = read.read_boxes(page, truth)
    assert got is not None and got[0] == "" and len(calls) == 2
    assert read.similarity(read.plain(texts[1]), read.plain(got[1])) > 0.5, got
