"""Building the searchable PDF, the way OCRmyPDF makes one (see :mod:`.pdf`).

**PDF input** (``ctx.source`` is a PDF): every original page is kept as it is (vector
content, size, crop box, ``/Rotate``, annotations); only pages the job OCR'd
(``page.source == "ocr"``) get an invisible text layer, drawn in a Form XObject on top
of the page. Pages that kept their own text layer, and pages the job did not cover,
are untouched. A word's box is in pixels of the upright page image at ``page.dpi``:
the page rendered as displayed (its ``/Rotate`` applied), then turned by the engine.
``page.rotation`` counts both, as the pipeline records it, so the engine's turn is
``page.rotation - /Rotate``; the box is turned back by that, scaled to points and
mapped to the page's unrotated space by its derotation matrix, so text lands on the
words on rotated and cropped pages too.

**Image input** (``ctx.source`` is an image, or only ``ctx.page_image`` is known): one
page per job page, ``width*72/dpi`` by ``height*72/dpi`` points, showing the page image
at its own resolution (a JPEG or PNG source is embedded as it is, a JPEG stays a JPEG;
other formats and TIFF frames are stored losslessly) with the text layer on top.

The text layer is described in :mod:`ocrkit_plugins.exporters.pdf_textlayer` (glyphless
font, any script in the BMP). Without a source file or page images the export fails
with :class:`~ocrkit.errors.ExportFailed`. The result is garbage-collected and
deflated. An encrypted source needs ``options["password"]``; the output keeps the
source's encryption. A PDF source's active content (JavaScript, ``/OpenAction``,
``javascript:`` links, embedded files) is removed
(:mod:`ocrkit_plugins.exporters.pdf.sanitise`) unless ``options["keep_active_content"]``.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import pymupdf
from ocrkit_plugins.exporters.pdf import images as pdf_images
from ocrkit_plugins.exporters.pdf.sanitise import strip_active_content
from ocrkit_plugins.exporters.pdf.textlayer import (
    add_glyphless_font,
    draw_on_page,
    put_stream,
    text_layer_page,
)
from PIL import Image

from ocrkit.errors import ExportFailed
from ocrkit.hookspecs import ExportContext
from ocrkit.models import Job, Page

NEEDS_SOURCE = (
    "pdf export needs the original file: pass --source FILE (CLI) or export a job whose "
    "upload or page images are still kept (API); a job alone has no page images"
)


def upright_to_rendered(
    page: Page, turn: float, rendered_w: float, rendered_h: float
) -> pymupdf.Matrix:
    """Pixels of the upright page -> pixels of the image before the engine turned it.

    The rendered image was turned ``turn`` degrees clockwise (about its centre, the
    canvas grown to fit); this undoes that.
    """
    theta = math.radians(turn % 360)
    c, s = round(math.cos(theta), 12), round(math.sin(theta), 12)
    cx, cy = page.width / 2, page.height / 2
    rx, ry = rendered_w / 2, rendered_h / 2
    return pymupdf.Matrix(c, -s, s, c, -cx * c - cy * s + rx, cx * s - cy * c + ry)


def _words(page: Page) -> int:
    return sum(len(b.words) or bool(b.text.strip()) for b in page.blocks)


def engine_turn(job_page: Page, pdf_page: pymupdf.Page) -> int:
    """Degrees clockwise the engine turned the rendered page (beyond its /Rotate)."""
    return (job_page.rotation - pdf_page.rotation) % 360


def _check_size(job_page: Page, pdf_page: pymupdf.Page) -> None:
    turn = engine_turn(job_page, pdf_page)
    if turn % 90:
        return
    w = pdf_page.rect.width * job_page.dpi / 72
    h = pdf_page.rect.height * job_page.dpi / 72
    if turn % 180:
        w, h = h, w
    if abs(w - job_page.width) > 2 + 0.01 * w or abs(h - job_page.height) > 2 + 0.01 * h:
        raise ExportFailed(
            f"the source file does not match the job: page {job_page.index + 1} is "
            f"{round(w)}x{round(h)} px at {job_page.dpi} dpi in the file but "
            f"{job_page.width}x{job_page.height} px in the job"
        )


def _inherited_box(doc: pymupdf.Document, xref: int, key: str) -> pymupdf.Rect | None:
    seen = set()
    while xref and xref not in seen:
        seen.add(xref)
        kind, value = doc.xref_get_key(xref, key)
        if kind == "xref":
            value, kind = doc.xref_object(int(value.split()[0]), compressed=True), "array"
        if kind == "array":
            try:
                x0, y0, x1, y1 = (float(v) for v in value.strip().strip("[]").split())
            except ValueError:
                return None
            return pymupdf.Rect(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        kind, parent = doc.xref_get_key(xref, "Parent")
        xref = int(parent.split()[0]) if kind == "xref" else 0
    return None


def visible_box(doc: pymupdf.Document, page: pymupdf.Page) -> pymupdf.Rect:
    """The page's crop box within its media box, in PDF user space (y up)."""
    media = _inherited_box(doc, page.xref, "MediaBox") or pymupdf.Rect(0, 0, 612, 792)
    crop = _inherited_box(doc, page.xref, "CropBox")
    box = media & crop if crop is not None else media
    return box if not box.is_empty else media


def from_pdf(job: Job, data: bytes, password: str | None, keep_active: bool = False) -> bytes:
    doc = pymupdf.open(stream=data, filetype="pdf")
    if doc.needs_pass and not (password and doc.authenticate(password)):
        raise ExportFailed("the source PDF is encrypted: pass its password to export a pdf")
    text_doc = pymupdf.open()
    font = add_glyphless_font(text_doc)
    todo = [p for p in job.pages if p.source == "ocr" and _words(p)]
    for job_page in todo:
        if not 0 <= job_page.index < doc.page_count:
            raise ExportFailed(
                f"the source file does not match the job: it has {doc.page_count} pages, "
                f"the job has page {job_page.index + 1}"
            )
        _check_size(job_page, doc[job_page.index])
    for job_page in todo:
        page = doc[job_page.index]
        scale = job_page.dpi / 72
        turn = engine_turn(job_page, page)
        to_rendered = upright_to_rendered(
            job_page, turn, page.rect.width * scale, page.rect.height * scale
        )
        matrix = to_rendered * pymupdf.Matrix(1 / scale, 1 / scale) * page.derotation_matrix
        deskew = float(job_page.extra.get("deskew", 0.0) or 0.0)
        if deskew:  # the pipeline levelled the page about its centre (ocrkit.page.orient)
            size = (job_page.width, job_page.height)
            matrix = upright_to_rendered(job_page, deskew, *size) * matrix
        unrotated = page.rect * page.derotation_matrix
        text_page = text_layer_page(text_doc, font, unrotated, job_page.blocks, matrix)
        # Place the text page exactly over the visible box, in PDF user space. (PyMuPDF's
        # transformation_matrix forgets the crop box offset on rotated pages, so the
        # target rectangle is derived from the box itself.)
        target = visible_box(doc, page) * page.transformation_matrix
        page.show_pdf_page(target, text_doc, text_page.number, keep_proportion=False)
    if not keep_active:
        strip_active_content(doc)
    return _save(doc)


def from_images(job: Job, ctx: ExportContext) -> bytes:
    doc = pymupdf.open()
    font = add_glyphless_font(doc)
    source = pdf_images.SourceImage.open(ctx.source) if ctx.source else None
    for job_page in sorted(job.pages, key=lambda p: p.index):
        scale = 72 / job_page.dpi
        rect = pymupdf.Rect(0, 0, job_page.width * scale, job_page.height * scale)
        page = doc.new_page(width=rect.width, height=rect.height)
        image, rotate = pdf_images.page_image(job, job_page, source, ctx.page_image, decoded=True)
        _show_image(doc, page, rect, image, rotate)
        if _words(job_page):
            draw_on_page(doc, page, font, job_page.blocks, pymupdf.Matrix(scale, scale))
    if job.filename:
        doc.set_metadata({"title": Path(job.filename).stem, "producer": "ocrkit"})
    return _save(doc)


def _show_image(
    doc: pymupdf.Document,
    page: pymupdf.Page,
    rect: pymupdf.Rect,
    image: bytes | Image.Image,
    rotate: int,
) -> None:
    """The page image over the whole page (a new page of ``rect``'s size): a decoded
    image's pixels go in as they are (:func:`pdf_images.add_image`), drawn the way
    ``insert_image`` draws one; encoded bytes and turned images through ``insert_image``."""
    if isinstance(image, Image.Image):
        xref = pdf_images.add_image(doc, image) if rotate == 0 else None
        if xref is not None:
            doc.xref_set_key(page.xref, "Resources", f"<< /XObject << /Im0 {xref} 0 R >> >>")
            content = doc.get_new_xref()
            doc.update_object(content, "<< >>")
            w, h = _num(rect.width), _num(rect.height)
            put_stream(doc, content, f"q\n{w} 0 0 {h} 0 0 cm\n/Im0 Do\nQ\n".encode())
            doc.xref_set_key(page.xref, "Contents", f"{content} 0 R")
            return
        image = pdf_images.encode(image)
    page.insert_image(rect, stream=image, rotate=rotate, keep_proportion=False)


def _num(v: float) -> str:
    return f"{v:.4f}".rstrip("0").rstrip(".")


def _save(doc: pymupdf.Document) -> bytes:
    buf = io.BytesIO()
    doc.save(buf, garbage=3, deflate=True, encryption=pymupdf.PDF_ENCRYPT_KEEP)
    return buf.getvalue()


def export(job: Job, ctx: ExportContext) -> bytes:
    if ctx.source is not None:
        path = Path(ctx.source)
        try:
            data = path.read_bytes()
        except OSError as err:
            raise ExportFailed(f"cannot read the source file {path}: {err}") from None
        if not data:
            raise ExportFailed(f"the source file {path} is empty")
        if b"%PDF-" in data[:1024]:
            keep = bool(ctx.options.get("keep_active_content"))
            return from_pdf(job, data, ctx.options.get("password"), keep)
        return from_images(job, ctx)
    if ctx.page_image is not None:
        return from_images(job, ctx)
    raise ExportFailed(NEEDS_SOURCE)
