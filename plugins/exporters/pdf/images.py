"""Page images for the searchable PDF of an image input.

The original encoded bytes are embedded whenever they show the page as the job saw
it: a single-frame JPEG or PNG whose size matches the job page (turned by a multiple
of 90 degrees, which the PDF does by placement, not by re-encoding). Otherwise the
frame is decoded and stored losslessly (PNG), or the upright page image
``ctx.page_image(index)`` is used (JPEG at quality 90 for JPEG inputs, else PNG).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pymupdf
from ocrkit_plugins.exporters.pdf.textlayer import put_stream
from PIL import Image, ImageOps

from ocrkit.errors import ExportFailed
from ocrkit.models import Job, Page

PASSTHROUGH = ("JPEG", "PNG")
# EXIF orientation -> degrees clockwise, as ocrkit.page.inputs applies it (5 and 7 also mirror).
EXIF_ROTATION = {3: 180, 6: 90, 8: 270, 5: 90, 7: 270}


@dataclass
class SourceImage:
    data: bytes
    format: str
    frames: int
    size: tuple[int, int]
    orientation: int = 1

    @classmethod
    def open(cls, path: Path) -> SourceImage:
        data = Path(path).read_bytes()
        try:
            with Image.open(io.BytesIO(data)) as img:
                frames = getattr(img, "n_frames", 1)
                orientation = int(img.getexif().get(0x0112, 1) or 1)
                return cls(data, img.format or "", frames, img.size, orientation)
        except Exception as err:  # PIL raises many kinds for a bad file
            raise ExportFailed(f"cannot read the source image {path}: {err}") from None

    def frame(self, index: int) -> Image.Image:
        img = Image.open(io.BytesIO(self.data))
        img.seek(index)
        img.load()
        return img


def _upright_size(size: tuple[int, int], rotation: int) -> tuple[int, int]:
    return (size[1], size[0]) if rotation % 180 == 90 else size


def encode(img: Image.Image, jpeg: bool = False) -> bytes:
    buf = io.BytesIO()
    if jpeg and img.mode in ("RGB", "L"):
        img.save(buf, "JPEG", quality=90)
        return buf.getvalue()
    if img.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
        img = img.convert("RGB")
    img.save(buf, "PNG", optimize=False)
    return buf.getvalue()


def page_image(
    job: Job,
    page: Page,
    source: SourceImage | None,
    upright: Callable[[int], Image.Image] | None,
    *,
    decoded: bool = False,
) -> tuple[bytes | Image.Image, int]:
    """The image bytes for ``page`` and the rotation (degrees counter-clockwise, as
    :meth:`pymupdf.Page.insert_image` takes it) that shows it upright.

    ``decoded``: an image that would be stored losslessly (a TIFF frame, a page image)
    is returned as it is, not PNG-encoded: the caller may embed its pixels directly
    (:func:`add_image`).

    ``page.rotation`` counts the EXIF orientation the pipeline applied (first frame
    only) plus the engine's turn, as :mod:`ocrkit.page.inputs` and the pipeline record it.
    """
    want = (page.width, page.height)

    def lossless(img: Image.Image) -> bytes | Image.Image:
        return img if decoded else encode(img)

    # A deskewed page (ocrkit.page.orient) is shown as the levelled image its boxes refer to.
    if source is not None and page.index < source.frames and not page.extra.get("deskew"):
        orientation = source.orientation if page.index == 0 else 1
        turn = (page.rotation - EXIF_ROTATION.get(orientation, 0)) % 360
        rotate = -turn % 360
        if turn % 90 == 0 and orientation == 1:
            if source.frames == 1 and _upright_size(source.size, turn) == want:
                if source.format in PASSTHROUGH:
                    return source.data, rotate
                return lossless(source.frame(0)), rotate
            frame = source.frame(page.index) if source.frames > 1 else None
            if frame is not None and _upright_size(frame.size, turn) == want:
                return lossless(frame), rotate
        elif turn % 90 == 0:  # never pass EXIF-oriented bytes: viewers disagree on them
            base = ImageOps.exif_transpose(source.frame(0))
            if _upright_size(base.size, turn) == want:
                return encode(base, jpeg=source.format == "JPEG"), rotate
    if upright is not None:
        try:
            img = upright(page.index)
        except (OSError, KeyError, IndexError) as err:
            raise ExportFailed(f"no page image for page {page.index + 1}: {err}") from None
        if img.size != want:
            raise ExportFailed(
                f"page image {page.index + 1} is {img.size[0]}x{img.size[1]} px "
                f"but the job page is {want[0]}x{want[1]} px"
            )
        if job.input_type == "jpeg":
            return encode(img, jpeg=True), 0
        return lossless(img), 0
    raise ExportFailed(
        f"the source image does not match page {page.index + 1} of the job "
        f"({want[0]}x{want[1]} px): pass the file the job was made from"
    )


# PIL modes whose raw bytes are a PDF image as they are: (colour space, bits per component).
# "1" is packed 8 pixels a byte, most significant bit first, rows padded to a byte, 1
# white: DeviceGray at 1 bit reads it the same way.
RAW_MODES = {"1": ("DeviceGray", 1), "L": ("DeviceGray", 8), "RGB": ("DeviceRGB", 8)}


def add_image(doc: pymupdf.Document, img: Image.Image) -> int | None:
    """``img`` as an image XObject of ``doc`` holding its pixels deflated, at its own
    bit depth: the xref, or None when its mode or an ICC profile or transparency needs
    PNG's route (:func:`encode`, then ``insert_image``). That route encoded a PNG and
    MuPDF decoded it and deflated the pixels again: ~2 ms CPU of a 640x480 page's pdf."""
    if img.mode not in RAW_MODES or "icc_profile" in img.info or "transparency" in img.info:
        return None
    if img.mode == "L" and not any(img.histogram()[1:255]):
        # black and white only (a bilevel scan read as grey): 1 bit, as MuPDF stored it
        img = img.convert("1", dither=Image.Dither.NONE)
    space, bits = RAW_MODES[img.mode]
    xref = doc.get_new_xref()
    doc.update_object(
        xref,
        f"<< /Type /XObject /Subtype /Image /Width {img.width} /Height {img.height}"
        f" /ColorSpace /{space} /BitsPerComponent {bits} >>",
    )
    put_stream(doc, xref, img.tobytes())
    return xref
