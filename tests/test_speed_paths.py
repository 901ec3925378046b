"""Issue 14's faster paths give what the slower ones gave: the in-process Tesseract
(tesserocr) the CLI's words, boxes and confidences; a decoded embedded scan the rendered
page's pixels; born-digital pages finished in the calling process the worker's pages."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from ocrkit_plugins.engines import tesseract
from ocrkit_plugins.engines.tesseract import tesserocr_backend
from PIL import Image

from ocrkit import api
from ocrkit.page import inputs
from ocrkit.page.inputs import load_image_page


def _words(blocks: list) -> list[tuple[str, tuple, float]]:
    return [(w.text, tuple(w.bbox), w.confidence) for b in blocks for w in b.words]


@pytest.mark.skipif(tesserocr_backend._module() is None, reason="tesserocr not installed")
@pytest.mark.parametrize(
    ("sample", "lang"),
    [("printed/tess_phototest.tif", "eng"), ("nonlatin/udhr_zh_corp_line1.png", "chi_sim")],
)
def test_tesserocr_reads_as_the_cli_does(
    corpus: Path, sample: str, lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = load_image_page(corpus / sample, 0, inputs.Limits()).image
    monkeypatch.setenv("OCRKIT_TESSERACT_BACKEND", "cli")
    cli = _words(tesseract._read(image, [lang], 300))
    monkeypatch.setenv("OCRKIT_TESSERACT_BACKEND", "tesserocr")
    assert tesserocr_backend.in_process()
    api_ = _words(tesseract._read(image, [lang], 300))
    assert lang in tesserocr_backend.loaded()  # the model stays loaded for the next page
    assert len(cli) > 10
    texts = sum(a[0] == b[0] for a, b in zip(cli, api_, strict=False))
    boxes = sum(a[1] == b[1] for a, b in zip(cli, api_, strict=False))
    assert len(api_) == len(cli)
    assert texts == len(cli) and boxes == len(cli)
    assert max(abs(a[2] - b[2]) for a, b in zip(cli, api_, strict=True)) < 0.02


def test_engines_says_which_tesseract_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from ocrkit.plugins import get_registry

    info = get_registry().engine("tesseract").info()
    monkeypatch.setenv("OCRKIT_TESSERACT_BACKEND", "cli")
    assert get_registry().engine("tesseract").info()["backend"].startswith("tesseract program")
    if tesserocr_backend._module() is not None:
        assert info["backend"].startswith("tesserocr ") and "in-process" in info["backend"]


def _scan_pdf(image: Image.Image, dpi: int = 300, rotate: int = 0) -> pymupdf.Document:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    doc = pymupdf.open()
    w, h = image.width * 72 / dpi, image.height * 72 / dpi
    page = doc.new_page(width=w, height=h)
    page.insert_image(pymupdf.Rect(0, 0, w, h), stream=buf.getvalue())
    page.set_rotation(rotate)
    return pymupdf.open(stream=doc.tobytes(), filetype="pdf")


def _rendered(page: pymupdf.Page, dpi: int) -> Image.Image:
    pix = page.get_pixmap(matrix=pymupdf.Matrix(dpi / 72, dpi / 72), alpha=False)
    return Image.frombytes("L" if pix.n == 1 else "RGB", (pix.width, pix.height), pix.samples)


@pytest.mark.parametrize("rotate", [0, 90])
def test_embedded_scan_is_the_rendered_page(corpus: Path, rotate: int) -> None:
    scan = Image.open(corpus / "printed" / "tess_phototest.tif").convert("L")
    page = _scan_pdf(scan, rotate=rotate)[0]
    got = inputs.embedded_scan(page, 300)
    assert got is not None and got.mode == "L"
    want = _rendered(page, 300)
    assert got.size == want.size
    diff = np.abs(np.asarray(got, dtype=int) - np.asarray(want.convert("L"), dtype=int))
    assert diff.max() == 0


def test_embedded_scan_not_used_when_the_page_is_more_than_the_image(corpus: Path) -> None:
    scan = Image.open(corpus / "printed" / "tess_phototest.tif").convert("L")
    doc = _scan_pdf(scan)
    assert inputs.embedded_scan(doc[0], 200) is None  # other resolution: rendered
    doc[0].insert_text((20, 20), "STAMP", fontsize=10)  # drawn over the scan
    assert inputs.embedded_scan(doc[0], 300) is None
    assert inputs.pdf_page_image(doc[0], 300).size == (scan.width, scan.height)


def test_embedded_scan_decodes_the_scan_once(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # PyMuPDF's get_image_info(xrefs=True) names the drawn image's xref by decoding
    # (and hashing) every listed image: the scan was decoded twice before ours.
    decoded: list[int] = []

    class Counting(pymupdf.Pixmap):
        def __init__(self, *args: object) -> None:
            if len(args) == 2 and isinstance(args[0], pymupdf.Document):
                decoded.append(int(args[1]))  # type: ignore[call-overload]
            super().__init__(*args)

    scan = Image.open(corpus / "printed" / "tess_phototest.tif").convert("L")
    page = _scan_pdf(scan)[0]
    monkeypatch.setattr(pymupdf, "Pixmap", Counting)
    got = inputs.embedded_scan(page, 300)
    assert got is not None and got.size == scan.size
    assert decoded == [page.get_images()[0][0]]


def test_embedded_scan_refuses_an_inline_image_over_an_unused_one(corpus: Path) -> None:
    # The one listed image is not the one drawn: the page draws an inline image of the
    # same size (a white page) and never uses the listed scan.
    scan = Image.open(corpus / "printed" / "tess_phototest.tif").convert("L")
    doc = _scan_pdf(scan)
    page = doc[0]
    w, h = scan.size
    inline = b"BI /W %d /H %d /CS /G /BPC 8 ID " % (w, h) + b"\xff" * (w * h) + b" EI"
    matrix = b"%.4f 0 0 %.4f 0 0 cm " % (page.rect.width, page.rect.height)
    doc.update_stream(page.get_contents()[0], b"q " + matrix + inline + b" Q")
    page = doc.reload_page(page)
    assert len(page.get_images(full=True)) == 1  # the scan is still listed
    assert inputs.embedded_scan(page, 300) is None
    drawn = inputs.pdf_page_image(page, 300)
    assert np.asarray(drawn.convert("L")).min() == 255  # the white inline image


def test_born_digital_pages_finish_without_workers(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ocrkit.pipeline import pages as pipeline

    pdf = corpus / "pdf" / "docling_multi_page.pdf"
    one = api.ocr(pdf, language="eng", jobs=1)

    def no_pool(n: int | None = None) -> None:
        raise AssertionError("a worker pool was started for text-layer pages")

    monkeypatch.setattr(pipeline, "make_executor", no_pool)
    here = api.ocr(pdf, language="eng", jobs=2)  # all pages keep their text layer
    assert [p.source for p in here.pages] == ["text-layer"] * len(here.pages)
    assert [p.text for p in here.pages] == [p.text for p in one.pages]
    assert [p.blocks[0].bbox for p in here.pages] == [p.blocks[0].bbox for p in one.pages]


def test_text_layer_interprets_the_page_content_once(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The text page, the drawing-operator pass and the ink probe replay one display
    list: the page's content (fonts, paths, shadings) is interpreted once, not three
    times (a page of the docling handbook drawing images and 157 shadings is probed)."""
    from ocrkit.page import textlayer

    calls: dict[str, int] = {}

    def counted(name: str) -> object:
        orig = getattr(pymupdf.Page, name)

        def wrapper(self: pymupdf.Page, *a: object, **k: object) -> object:
            calls[name] = calls.get(name, 0) + 1
            return orig(self, *a, **k)

        return wrapper

    for name in ("get_displaylist", "get_textpage", "get_bboxlog", "get_pixmap"):
        monkeypatch.setattr(pymupdf.Page, name, counted(name))
    with pymupdf.open(corpus / "pdf" / "docling_amt_handbook_sample.pdf") as doc:
        layer = textlayer.read_text_layer(doc[0], 300)
    assert "uncovered_page" in layer.stats  # the page was probed
    assert layer.usable and layer.blocks
    assert calls == {"get_displaylist": 1}, f"the page's content was run {calls}"


def test_born_digital_pages_shared_with_workers_are_the_same_pages(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From api.SHARE_TEXT_PAGES pages, the job's own workers read text-layer pages too
    (each keeping the document open) and send them back packed: every page, a scanned
    one OCR'd in a worker after its text-layer try included, is the page jobs=1 gives."""
    import os

    from ocrkit.pipeline import pages as pipeline

    doc = pymupdf.open()
    for _ in range(3):
        with pymupdf.open(corpus / "pdf" / "docling_multi_page.pdf") as d:
            doc.insert_pdf(d)
    scan = doc.new_page(7, width=300, height=200)
    scan.insert_image(scan.rect, filename=str(corpus / "printed" / "tess_phototest.tif"))
    with pymupdf.open(corpus / "pdf" / "docling_amt_handbook_sample.pdf") as d:
        doc.insert_pdf(d)  # a page drawing shadings and images: probed
    pdf = tmp_path / "mixed.pdf"
    doc.save(pdf)
    assert doc.page_count >= api.SHARE_TEXT_PAGES
    one = api.ocr(pdf, language="eng", jobs=1)

    log = tmp_path / "pids"
    orig = pipeline.TextLayerFirst.__call__

    def logged(self: pipeline.TextLayerFirst, task: pipeline.PageTask) -> object:
        with log.open("a") as f:
            f.write(f"{os.getpid()}\n")
        return orig(self, task)

    monkeypatch.setattr(pipeline.TextLayerFirst, "__call__", logged)
    two = api.ocr(pdf, language="eng", jobs=2)
    assert [p.to_dict() for p in two.pages] == [p.to_dict() for p in one.pages]
    assert two.to_dict(pages=False) | {"uuid": 0, "created_at": 0, "finished_at": 0} == (
        one.to_dict(pages=False) | {"uuid": 0, "created_at": 0, "finished_at": 0}
    )
    assert one.pages[7].source == "ocr"
    assert sum(p.source == "text-layer" for p in one.pages) == doc.page_count - 1
    if pipeline._alone():  # workers forked from here run the logged reader
        pids = set(log.read_text().split())
        assert pids - {str(os.getpid())}, "no worker read a text-layer page"


def test_workers_on_every_core_leave_the_born_digital_pages_to_them(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With as many page workers as cores, the calling process reads no page itself
    (it would share a core three ways and leave the workers without pages while it
    reads one); with a core to spare it does, as before. Same pages either way."""
    import os

    from ocrkit.pipeline import pages as pipeline

    doc = pymupdf.open()
    for _ in range(4):
        with pymupdf.open(corpus / "pdf" / "docling_multi_page.pdf") as d:
            doc.insert_pdf(d)
    pdf = tmp_path / "born-digital.pdf"
    doc.save(pdf)
    assert doc.page_count >= api.SHARE_TEXT_PAGES
    one = api.ocr(pdf, language="eng", jobs=1)

    here: list[int] = []  # pages read by this process (a worker appends to its own copy)
    orig = pipeline.TextLayerFirst.__call__

    def logged(self: pipeline.TextLayerFirst, task: pipeline.PageTask) -> object:
        here.append(task.index)
        return orig(self, task)

    monkeypatch.setattr(pipeline.TextLayerFirst, "__call__", logged)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    two = api.ocr(pdf, language="eng", jobs=2)
    assert [p.to_dict() for p in two.pages] == [p.to_dict() for p in one.pages]
    assert not here, f"the calling process read pages {here} with no core to spare"

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    spare = api.ocr(pdf, language="eng", jobs=2)
    assert [p.to_dict() for p in spare.pages] == [p.to_dict() for p in one.pages]


@pytest.mark.parametrize("name", ["docling_right_to_left_01.pdf", "docling_code_and_formula.pdf"])
def test_exporters_that_skip_language_identification_never_show_it(corpus: Path, name: str) -> None:
    """The CLI skips language identification on text-layer pages when the exporter says
    it never shows detected_languages: each such exporter's bytes are the same with the
    languages as without (ALTO's LANG shows them: its bytes differ, so the check bites)."""
    from ocrkit.plugins import get_registry

    pdf = corpus / "pdf" / name
    full = api.ocr(pdf, language="eng", jobs=1)
    bare = api.ocr(pdf, language="eng", jobs=1, detect_languages=False)
    assert all(p.detected_languages for p in full.pages)
    assert not any(p.detected_languages for p in bare.pages)
    bare.uuid, bare.created_at, bare.finished_at = full.uuid, full.created_at, full.finished_at
    reg = get_registry()
    skipping = [n for n in reg.exporters if not reg.exporter(n).uses_detected_languages]
    assert "txt" in skipping
    for fmt in skipping:
        assert api.export(bare, fmt) == api.export(full, fmt), fmt
    assert api.export(bare, "alto") != api.export(full, "alto")


def test_cli_ends_without_the_interpreter_teardown(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ocrkit`` ends with os._exit after the atexit handlers (skipping Python's
    teardown, ~60 ms at the end of a 207-page run), and the ordinary way while
    another thread runs."""
    import atexit
    import threading

    from ocrkit.cli import group

    calls: list[str] = []

    class Exited(Exception):
        pass

    def fake_exit(code: int) -> None:
        calls.append(f"_exit {code}")
        raise Exited

    monkeypatch.setattr(group, "run", lambda argv=None: 3)
    monkeypatch.setattr(group.os, "_exit", fake_exit)
    # this test process's own handlers must not run: record the call instead
    monkeypatch.setattr(atexit, "_run_exitfuncs", lambda: calls.append("atexit"))
    # as in a CLI process, no other thread runs (in the suite, earlier tests' threads may)
    with monkeypatch.context() as m:
        m.setattr(threading, "active_count", lambda: 1)
        with pytest.raises(Exited):
            group.main([])
    assert calls == ["atexit", "_exit 3"]

    calls.clear()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with pytest.raises(SystemExit) as exc:
            group.main([])
    finally:
        stop.set()
        other.join()
    assert exc.value.code == 3 and calls == []


def test_born_digital_txt_run_loads_no_ocr_module(corpus: Path) -> None:
    """`ocrkit ocr -f txt` on born-digital pages (kept from the text layer, no language
    identified) never imports the OCR page modules (orientation, reading, language=auto:
    ~16 ms of the CLI's serial start-up when the bytecode is not cached)."""
    import os
    import subprocess
    import sys

    pdf = corpus / "pdf" / "docling_multi_page.pdf"
    ocr_modules = ("ocrkit.page.orient", "ocrkit.page.read", "ocrkit.page.autolang")
    code = (
        "import sys; from ocrkit.cli import run; rc = run(sys.argv[1:]); "
        f"print(rc, sorted(m for m in sys.modules if m.startswith({ocr_modules!r})), "
        "file=sys.stderr)"
    )
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    proc = subprocess.run(
        [sys.executable, "-c", code, "ocr", str(pdf), "-q", "-f", "txt", "-j", "1"],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert b"Lorem" in proc.stdout or proc.stdout.strip(), proc.stderr.decode()
    assert proc.stderr.decode().strip().splitlines()[-1] == "0 []"
