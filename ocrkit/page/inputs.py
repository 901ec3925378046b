"""Inputs: what a file is, how many pages it has, and one upright page image at a time.

The type is read from the bytes (:func:`sniff`), never from the name. Sources that are
not files (bytes, stdin, an upload stream) are spooled to a private temp file (mode
0600) by :func:`open_source` and removed afterwards, so page workers can open the file
themselves and pages stream: only the page being processed is decoded.

Limits (:class:`Limits`) are checked before work is done: file size while spooling,
page count after the page range is applied (``max_pages`` counts the pages that will be
processed), and pixels per page from the *declared* dimensions before any pixel is
decoded (PNG/JPEG/... headers; PDF page size at the requested dpi). Pillow's own
decompression-bomb guard is set to the same ``max_pixels`` and its error turned into
:class:`~ocrkit.errors.LimitExceeded`.

Image dpi: an image keeps its own pixels; its dpi is the file's metadata when present
and plausible (50..2400), else :data:`DEFAULT_IMAGE_DPI` (300, what scanners commonly
write and what Tesseract assumes for text size heuristics).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ocrkit.errors import BadInput, BadOption, EncryptedInput, LimitExceeded

DEFAULT_IMAGE_DPI = 300
MIN_RENDER_DPI = 36
if TYPE_CHECKING:  # Pillow and PyMuPDF are imported when a page is actually read
    from PIL import Image

KINDS = ("pdf", "png", "jpeg", "webp", "gif", "bmp", "tiff")


@dataclass(frozen=True)
class Limits:
    """What one input may be. ``max_pages`` counts the pages selected for processing;
    ``max_pixels`` bounds one page image (declared image size, or a PDF page rendered
    at the job's dpi: a larger PDF page is rendered at a lower dpi, with a warning, down
    to :data:`MIN_RENDER_DPI`)."""

    max_bytes: int = 200 * 1024 * 1024
    max_pages: int = 2000
    max_pixels: int = 120_000_000
    # Decompressed drawing instructions of one PDF page (its content streams and the form
    # XObjects it draws). Rendering time grows with them: 100 MB of path operators took
    # 16 s to render here; dense real pages (maps, CAD) stay well under this.
    max_page_content_bytes: int = 24 * 1024 * 1024


# ----------------------------------------------------------------------------- sniff


def sniff(head: bytes) -> str:
    """The input type from the first bytes of a file (16 are enough)."""
    if not head:
        raise BadInput("the input is empty (0 bytes)")
    if head.startswith(b"%PDF-") or (b"%PDF-" in head[:1024] and head.lstrip()[:1] == b"%"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:2] == b"BM":
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    raise BadInput(
        "unsupported input type (not PDF, PNG, JPEG, WEBP, GIF, BMP or TIFF by its content)"
    )


# ------------------------------------------------------------------------ page ranges

_RANGE = re.compile(r"^\s*(\d+)?\s*(-)?\s*(\d+)?\s*$")


def parse_page_ranges(spec: str | None, count: int) -> list[int]:
    """``"1-3,7"`` (1-based, inclusive; ``"5-"`` to the end, ``"-3"`` from the start)
    to sorted 0-based page indices. ``None`` or ``""`` means every page."""
    if spec is None or not spec.strip():
        return list(range(count))
    chosen: set[int] = set()
    for part in spec.split(","):
        m = _RANGE.match(part)
        if not m or not (m.group(1) or m.group(3)) or (m.group(3) and not m.group(2)):
            raise BadOption(f"bad page range {part.strip()!r} in {spec!r}; use e.g. 1-3,7")
        a = int(m.group(1)) if m.group(1) else 1
        b = int(m.group(3)) if m.group(3) else (count if m.group(2) else a)
        if a < 1 or b < a:
            raise BadOption(f"bad page range {part.strip()!r}: pages count from 1, start <= end")
        if a > count:
            raise BadOption(f"page {a} does not exist: the input has {count} page(s)")
        chosen.update(range(a - 1, min(b, count)))
    return sorted(chosen)


def check_page_count(n: int, limits: Limits) -> None:
    if n > limits.max_pages:
        raise LimitExceeded(f"{n} pages selected; the limit is {limits.max_pages} pages per input")


# --------------------------------------------------------------------------- sources


@contextlib.contextmanager
def open_source(
    source: str | os.PathLike[str] | bytes | IO[bytes], limits: Limits
) -> Iterator[Path]:
    """A path to the input on disk; bytes and streams go to a private temp file that is
    removed on exit. Checks emptiness and ``max_bytes``."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise BadInput(f"cannot read {path}: {exc.strerror or exc}") from None
        if not path.is_file():
            raise BadInput(f"{path} is not a file")
        _check_size(size, limits)
        yield path
        return
    fd, name = tempfile.mkstemp(prefix="ocrkit-", suffix=".input")  # mode 0600
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(source, bytes | bytearray | memoryview):
                _check_size(len(source), limits)
                out.write(source)
            else:
                _spool(source, out, limits)
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _spool(stream: IO[bytes], out: IO[bytes], limits: Limits) -> None:
    total = 0
    while chunk := stream.read(1 << 20):
        total += len(chunk)
        if total > limits.max_bytes:
            raise LimitExceeded(_too_big(limits))
        out.write(chunk)
    if total == 0:
        raise BadInput("the input is empty (0 bytes)")


def _check_size(size: int, limits: Limits) -> None:
    if size == 0:
        raise BadInput("the input is empty (0 bytes)")
    if size > limits.max_bytes:
        raise LimitExceeded(_too_big(limits))


def _too_big(limits: Limits) -> str:
    return f"the input is larger than the limit of {limits.max_bytes / 1e6:g} MB"


def sniff_file(path: Path) -> str:
    with path.open("rb") as f:
        return sniff(f.read(1024))


# ------------------------------------------------------------------------ documents


@dataclass
class InputInfo:
    kind: str
    page_count: int
    warnings: list[str] = field(default_factory=list)


def inspect(path: Path, kind: str, *, password: str | None, limits: Limits) -> InputInfo:
    """Open the input once in the main process: page count, password, sanity."""
    if kind == "pdf":
        with open_pdf(path, password) as doc:
            info = InputInfo(kind, doc.page_count)
            if getattr(doc, "is_repaired", False):
                info.warnings.append("the PDF is damaged and was repaired: content may be missing")
            return info
    with open_image(path, limits) as im:
        n = getattr(im, "n_frames", 1) if kind in ("gif", "tiff", "webp") else 1
        return InputInfo(kind, max(1, int(n)))


@contextlib.contextmanager
def open_pdf(path: Path, password: str | None) -> Iterator[Any]:
    import pymupdf

    pymupdf.TOOLS.mupdf_display_errors(False)  # errors become exceptions, not stderr noise
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception as exc:
        # MuPDF names the file it failed on: that is a server path (the upload's spool
        # file), never something to show the caller.
        why = str(exc)
        if str(path) in why or "Failed to open file" in why:
            why = "the file is damaged or not a PDF"
        raise BadInput(f"not a readable PDF: {why}") from None
    try:
        if doc.needs_pass:
            if not password:
                raise EncryptedInput("the PDF is password-protected: pass its password")
            if not doc.authenticate(password):
                raise EncryptedInput("wrong password for the PDF")
        if doc.page_count < 1:
            raise BadInput("the PDF has no pages (truncated or corrupt?)")
        yield doc
    finally:
        doc.close()


_PILLOW_LIMIT = threading.Lock()


@contextlib.contextmanager
def open_image(path: Path, limits: Limits) -> Iterator[Image.Image]:
    """Open an image lazily, refusing oversized declared dimensions before decoding."""
    from PIL import Image, UnidentifiedImageError

    try:
        # Pillow's bomb check reads a process-wide limit: set ours only while the header is
        # read, then give the caller's process its own value back (a Python API user's
        # later Image.open must not inherit a job's limit).
        with _PILLOW_LIMIT, warnings.catch_warnings():
            before = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = limits.max_pixels
            try:
                warnings.simplefilter("ignore")
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = before
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise LimitExceeded(_pixels_msg(limits)) from None
    except UnidentifiedImageError:
        raise BadInput("the image cannot be read (corrupt or truncated?)") from None
    except OSError as exc:
        raise BadInput(f"the image cannot be read: {exc}") from None
    try:
        _check_pixels(im.size, limits)
        yield im
    finally:
        im.close()


def _check_pixels(size: tuple[int, int], limits: Limits) -> None:
    w, h = size
    if w * h > limits.max_pixels:
        raise LimitExceeded(f"a page is {w}x{h} pixels; {_pixels_msg(limits)}")


def _pixels_msg(limits: Limits) -> str:
    return f"the limit is {limits.max_pixels / 1e6:g} megapixels per page"


# ------------------------------------------------------------------------ one page


@dataclass
class LoadedImage:
    image: Image.Image
    dpi: int
    rotation: int
    warnings: list[str]


_EXIF_ROTATION = {3: 180, 6: 90, 8: 270, 5: 90, 7: 270}


def load_image_page(path: Path, index: int, limits: Limits) -> LoadedImage:
    """Frame ``index`` of an image file, decoded, upright (EXIF orientation applied)."""
    from PIL import Image, ImageOps

    with open_image(path, limits) as im:
        try:
            if index:
                im.seek(index)
            _check_pixels(im.size, limits)
            with warnings.catch_warnings():
                # Pillow warns about corrupt EXIF and the like; the page either decodes
                # or fails with a BadInput below, so the warnings are only noise.
                warnings.simplefilter("ignore")
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im.load()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # corrupt EXIF: read what can be read
                orientation = im.getexif().get(0x0112, 1) if index == 0 else 1
                upright = ImageOps.exif_transpose(im) if orientation != 1 else im
            out = _normalise_mode(upright)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise LimitExceeded(_pixels_msg(limits)) from None
        except (OSError, EOFError, SyntaxError, ValueError) as exc:
            raise BadInput(f"the image cannot be decoded (truncated or corrupt?): {exc}") from None
        dpi = _image_dpi(im)
    return LoadedImage(out, dpi, _EXIF_ROTATION.get(int(orientation), 0), [])


def _image_dpi(im: Image.Image) -> int:
    raw = im.info.get("dpi")
    try:
        x = float(raw[0]) if raw else 0.0
    except (TypeError, ValueError, IndexError):
        x = 0.0
    return int(round(x)) if 50 <= x <= 2400 else DEFAULT_IMAGE_DPI


def _normalise_mode(im: Image.Image) -> Image.Image:
    """RGB or L, alpha flattened onto white (engines and PNG output want that)."""
    from PIL import Image, ImageOps

    if im.mode in ("RGB", "L"):
        return im.copy()
    if im.mode == "1":
        return im.convert("L")
    if im.mode in ("RGBA", "LA", "P", "PA") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        bg = Image.new("RGB", rgba.size, (255, 255, 255))
        bg.paste(rgba, mask=rgba.getchannel("A"))
        return bg
    if im.mode.startswith("I") or im.mode == "F":
        return ImageOps.autocontrast(im.convert("I").point(lambda v: v / 256).convert("L"))
    return im.convert("RGB")


def render_dpi(page_rect_pt: tuple[float, float], dpi: int, limits: Limits) -> tuple[int, str]:
    """The dpi to render a PDF page at so it fits ``max_pixels`` (and a warning)."""
    w, h = page_rect_pt
    px = (w * dpi / 72) * (h * dpi / 72)
    if px <= limits.max_pixels:
        return dpi, ""
    fit = int(dpi * (limits.max_pixels / px) ** 0.5)
    if fit < MIN_RENDER_DPI:
        raise LimitExceeded(
            f"a PDF page of {w:.0f}x{h:.0f} pt is too large even at {MIN_RENDER_DPI} dpi; "
            + _pixels_msg(limits)
        )
    return fit, f"page rendered at {fit} dpi instead of {dpi}: it is very large"


def check_page_content(page: Any, limits: Limits) -> None:
    """Refuse a PDF page whose drawing instructions are too large to render in bounded
    time (a "content bomb": a few KB of zlib that inflate to millions of operators)."""
    doc = page.parent
    total = 0
    xrefs = list(page.get_contents())
    xrefs += [x[0] for x in page.get_xobjects()]
    for xref in xrefs:
        try:
            length = doc.xref_get_key(xref, "Length")
            declared = int(length[1]) if length[0] == "int" else 0
        except (ValueError, RuntimeError):
            declared = 0
        # Cheap when the stream is stored uncompressed; inflating costs ~2 ms per MB.
        if declared > limits.max_page_content_bytes:
            total += declared
        else:
            try:
                total += len(doc.xref_stream(xref) or b"")
            except RuntimeError:
                continue
        if total > limits.max_page_content_bytes:
            raise LimitExceeded(
                f"page {page.number + 1} of the PDF has more than "
                f"{limits.max_page_content_bytes / 2**20:g} MiB of drawing instructions "
                "(the limit per page)"
            )


def embedded_scan(page: Any, dpi: int) -> Image.Image | None:
    """The page's one image, decoded at its own pixels, when it *is* the page at ``dpi``:
    a single image without a mask, placed axis-aligned and unflipped over the whole page,
    whose pixel size is exactly the rendered page's, and nothing else drawn (no text,
    vector drawing or annotation). None otherwise (the page is then rendered).

    A scanned PDF's page is usually just that; decoding the image skips MuPDF's drawing
    of it (~70-100 ms for an A4 300 dpi page) and keeps a grey scan grey (rendering
    gives RGB: three times the memory, and Tesseract converts it back)."""
    import pymupdf
    from PIL import Image

    try:
        images = page.get_images(full=True)
        if len(images) != 1 or images[0][1]:  # one image, no soft mask
            return None
        # The image drawn, without hashes: PyMuPDF's ``xrefs=True`` names the drawn
        # image's xref by decoding and MD5-hashing it and every listed image (two
        # decodes of the scan before ours, ~20 ms of an EHRI page). The one image
        # listed is the one drawn unless an inline image is (refused below).
        infos = page.get_image_info()
        if len(infos) != 1 or infos[0].get("has-mask"):
            return None
        info = infos[0]
        xref, _smask, width, height = images[0][:4]
        if (info["width"], info["height"]) != (width, height) or _inline_image(page):
            return None
        a, b, c, d, _, _ = info["transform"]
        rect = page.rect * page.derotation_matrix  # unrotated page space
        if b or c or a <= 0 or d <= 0:
            return None
        if pymupdf.Rect(info["bbox"]) != rect and not _same_rect(info["bbox"], rect):
            return None
        size = (page.rect * pymupdf.Matrix(dpi / 72, dpi / 72)).irect
        turned = page.rotation % 180 == 90
        want = (size.height, size.width) if turned else (size.width, size.height)
        if (info["width"], info["height"]) != want:
            return None
        if page.first_annot is not None or page.get_text("text").strip() or page.get_drawings():
            return None
        pix = pymupdf.Pixmap(page.parent, xref)
        if pix.alpha:
            return None
        if pix.colorspace is None or pix.n not in (1, 3):
            pix = pymupdf.Pixmap(pymupdf.csRGB, pix)
        if (pix.width, pix.height) != want or pix.n not in (1, 3):
            return None
        img = pixmap_image(pix)
        del pix
    except (RuntimeError, ValueError, KeyError, TypeError):
        return None  # anything unusual: render the page
    rot = page.rotation % 360
    if rot:
        ops = {
            90: Image.Transpose.ROTATE_270,
            180: Image.Transpose.ROTATE_180,
            270: Image.Transpose.ROTATE_90,
        }
        img = img.transpose(ops[rot])
    return img


# The inline-image operator (BI ... ID ... EI) as a token of a content stream.
_INLINE_IMAGE = re.compile(rb"(?:^|[\s\])>}])BI\s")


def _inline_image(page: Any) -> bool:
    """The page's content, or a form XObject it uses, has an inline image operator
    (conservative: a false hit only sends the page to rendering)."""
    doc = page.parent
    streams = [page.read_contents()]
    streams += [doc.xref_stream(x[0]) or b"" for x in page.get_xobjects()]
    return any(_INLINE_IMAGE.search(s) for s in streams)


def _same_rect(bbox: Any, rect: Any, tol: float = 0.01) -> bool:
    return all(abs(float(u) - float(v)) <= tol for u, v in zip(bbox, rect, strict=True))


def pdf_page_image(
    page: Any, dpi: int, limits: Limits | None = None, *, checked: bool = False
) -> Image.Image:
    """The page at ``dpi``: its scan as embedded (:func:`embedded_scan`) or rendered.
    ``checked``: the caller has already run :func:`check_page_content` on this page."""
    import pymupdf

    if not checked:
        check_page_content(page, limits or Limits())
    scan = embedded_scan(page, dpi)
    if scan is not None:
        return scan
    zoom = dpi / 72
    pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
    return pixmap_image(pix)


def pixmap_image(pix: Any) -> Image.Image:
    """A MuPDF pixmap (grey or RGB, no alpha) as a Pillow image, with one copy of its
    pixels instead of two.

    A grey page's pixels are one ``bytes`` object (``pix.samples``) that the image is
    mapped over (:func:`image_over_bytes`): no second copy when the image is made, and
    none when Tesseract is handed the page (:func:`held_bytes`). An RGB page is copied
    once, straight from the pixmap's memory (Pillow keeps RGB as 4 bytes a pixel, so it
    cannot be mapped). Before: ``pix.samples`` (a copy) then ``Image.frombytes`` (a
    second copy), three page buffers alive at once, and ``tobytes()`` made a fourth for
    Tesseract."""
    from PIL import Image

    size = (pix.width, pix.height)
    if pix.n == 1:
        return image_over_bytes(size, pix.samples)
    return Image.frombytes("RGB", size, pix.samples_mv)


# The attribute of an image made by image_over_bytes: (its Pillow core, the bytes).
_HELD = "_ocrkit_held_bytes"


def image_over_bytes(size: tuple[int, int], data: bytes) -> Image.Image:
    """An 8-bit grey Pillow image whose pixels *are* ``data`` (rows of ``size[0]``
    bytes, no copy). Pillow marks it read-only: anything that would write to it copies
    it first, so ``data`` always holds the pixels :func:`held_bytes` finds for it."""
    from PIL import Image

    img = Image.frombuffer("L", size, data, "raw", "L", 0, 1)
    setattr(img, _HELD, (img.im, data))
    return img


def held_bytes(image: Image.Image) -> bytes | None:
    """The ``bytes`` holding ``image``'s pixels row by row, when it was made by
    :func:`image_over_bytes` and is unchanged since (same Pillow core, still read-only);
    else None (use ``image.tobytes()``, a copy)."""
    held = getattr(image, _HELD, None)
    if held is None or image.mode != "L" or not image.readonly or held[0] is not image.im:
        return None
    data: bytes = held[1]
    return data if len(data) == image.width * image.height else None


def image_bytes_png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
