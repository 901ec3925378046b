"""Page orientation, skew, script and ink: what the pipeline checks before it trusts OCR.

* :func:`ink` -- how much of the page is dark, on a downscaled copy (specks of scanner
  dust average away); :func:`is_blank` says a page has nothing to read.
* :func:`estimate_skew` -- the small angle (a few degrees) of the text lines, from the
  horizontal projection profile of the dark pixels (the angle whose profile is most
  peaked); :func:`deskew` turns the image by it about its centre, keeping its size.
* :func:`osd` -- Tesseract's orientation and script detection (``--psm 0``, the ``osd``
  traineddata): the clockwise turn that makes the page upright and its script
  (``Latin``, ``Cyrillic``, ``Han``, ...). A single line is too little for OSD; it is
  then stacked a few times into a taller image and asked again.

**Coordinates.** The pipeline OCRs the *upright* image: the page as given (a PDF page
rendered with its ``/Rotate``; an image with its EXIF orientation applied) turned
clockwise by ``page.extra["engine_rotation"]`` degrees (a multiple of 90, also counted in
``page.rotation``), then turned clockwise by ``page.extra["deskew"]`` degrees (a small
float) about the image centre, keeping the image size. Boxes are in that image's pixels.
:func:`to_given` maps a point back onto the page as given, :func:`box_to_given` a box
(the axis-aligned box of its four mapped corners).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

    from ocrkit.models import Page

# Ink is judged at about this resolution (box-filtered), where 1-2 px specks of a 200 or
# 300 dpi scan fade below the threshold and text does not (a 2x2 black speck at 200 dpi
# leaves no dark pixel; "Hi" in 11 pt leaves 23, a line of text hundreds).
INK_DPI = 75
INK_THRESHOLD = 128
# A page with fewer dark pixels than this at INK_DPI (~1.2 mm^2) has nothing to read.
BLANK_PIXELS = 10
# Skew is searched within +-MAX_SKEW degrees, applied from MIN_SKEW on.
MAX_SKEW = 6.0
MIN_SKEW = 0.4
# ... from at least this many dark pixels (at ~100 dpi; a short line has ~2000) ...
MIN_SKEW_INK = 1500
# ... and only when the best angle's profile beats the straight one by this factor.
SKEW_GAIN = 1.05

# ------------------------------------------------------------------------------ ink


def grey(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit grey: itself when it is already ``L`` (no copy), else
    Pillow's conversion. The checks before OCR (:func:`is_blank`, :func:`estimate_skew`)
    take either; :func:`~ocrkit.page.read.read_page` converts a colour page once for
    both."""
    return image if image.mode == "L" else image.convert("L")


def _gray_small(image: Image.Image, dpi: int, target_dpi: int, min_width: int = 0) -> Any:
    """A grey numpy array of ``image`` box-filtered down to about ``target_dpi`` (but
    not below ``min_width`` pixels wide)."""
    import numpy as np

    # An "L" image is used as it is: convert("L") would copy it (a grey A4 page at 300
    # dpi is 8.4 MB), and nothing here writes to it.
    gray = grey(image)
    factor = max(1, round((dpi or 300) / target_dpi))
    if min_width:
        factor = max(1, min(factor, gray.width // min_width))
    if factor > 1 and min(gray.size) // factor >= 8:
        gray = gray.reduce(factor)
    return np.asarray(gray)


@dataclass(frozen=True)
class Ink:
    dark_pixels: int  # at INK_DPI
    fraction: float


def ink(image: Image.Image, dpi: int) -> Ink:
    # Not below 450 px wide: a screenshot or a crop without a dpi in the file (taken as
    # 300) would be box-filtered until its small text fades to grey and looks blank.
    arr = _gray_small(image, dpi, INK_DPI, min_width=450)
    dark = int((arr < INK_THRESHOLD).sum())
    return Ink(dark, dark / max(1, arr.size))


def is_blank(image: Image.Image, dpi: int) -> bool:
    """Nothing to read: fewer than :data:`BLANK_PIXELS` dark pixels at ~100 dpi."""
    return ink(image, dpi).dark_pixels < BLANK_PIXELS


# ----------------------------------------------------------------------------- skew


class _Profiles:
    """How peaked the horizontal projection profile of the points ``(ys, xs)`` is when
    they are sheared by an angle: the sum of the squared counts of the rows
    ``round(ys - xs * tan(angle))``.

    It used to be computed as ``bincount(idx - idx.min())`` squared and summed as
    floats, with new arrays for every angle (61 angles a page, 10 of the skew
    estimate's 18 ms). Here the same float operations, in the same order, write into
    two buffers made once; the rows are moved to non-negative bins by a fixed offset
    instead of by their minimum (a sum of squared counts does not depend on where the
    bins start), and the squares are summed as integers (exact, as the float sum of
    integer squares under 2**53 was): every score is the same number."""

    def __init__(self, ys: Any, xs: Any) -> None:
        import numpy as np

        self.ys, self.xs = ys, xs
        self.buf = np.empty_like(ys)
        self.idx = np.empty(ys.shape, np.int64)
        # |xs * tan| <= max|xs| * tan(MAX_SKEW + 0.25 + a margin); rows start at 0 or more
        reach = float(np.abs(xs).max(initial=0.0)) * math.tan(math.radians(MAX_SKEW + 1.0))
        self.offset = int(math.ceil(reach)) + 2

    def score(self, angle: float) -> float:
        import numpy as np

        buf, idx = self.buf, self.idx
        np.multiply(self.xs, math.tan(math.radians(angle)), out=buf)
        np.subtract(self.ys, buf, out=buf)
        np.rint(buf, out=buf)  # what np.round does for 0 decimals
        idx[...] = buf  # whole numbers: exact in int64
        idx += self.offset
        hist = np.bincount(idx)
        return float(np.dot(hist, hist))


def estimate_skew(image: Image.Image, dpi: int) -> float:
    """The clockwise turn (degrees, within +-:data:`MAX_SKEW`) that levels the page's
    text lines; 0.0 when the lines are level or there are none to measure."""
    import numpy as np

    arr = _gray_small(image, dpi, 100, min_width=1000)
    dark = arr < INK_THRESHOLD
    # np.nonzero's (rows, columns) of the dark pixels, from their flat indices (a
    # third of the time on a page's two million pixels)
    ys, xs = np.divmod(np.flatnonzero(dark), arr.shape[1])
    if ys.size < MIN_SKEW_INK:
        return 0.0
    if ys.size > 60_000:  # a sample is as good and keeps this fast
        pick = np.random.default_rng(0).choice(ys.size, 60_000, replace=False)
        ys, xs = ys[pick], xs[pick]
    ys = ys.astype(np.float64)
    xs = xs.astype(np.float64) - xs.mean()
    profiles = _Profiles(ys, xs)
    base = profiles.score(0.0)

    def best(angles: Any) -> tuple[float, float]:
        scores = [(profiles.score(float(a)), float(a)) for a in angles]
        return max(scores)

    score, angle = best(np.arange(-MAX_SKEW, MAX_SKEW + 1e-9, 0.25))
    score, angle = best(np.arange(angle - 0.25, angle + 0.25 + 1e-9, 0.05))
    if abs(angle) < MIN_SKEW or abs(angle) > MAX_SKEW - 0.3 or score < base * SKEW_GAIN:
        # level, or the best angle is at the edge of the search: no lines to go by
        return 0.0
    # Lines sloping down to the right in pixel rows (positive slope angle) need an
    # anticlockwise turn: the clockwise turn is minus the slope angle.
    return round(-angle, 2)


def deskew(image: Image.Image, angle: float) -> Image.Image:
    """``image`` turned ``angle`` degrees clockwise about its centre, same size, white
    fill (Pillow turns anticlockwise for a positive angle)."""
    from PIL import Image as PILImage

    if not angle:
        return image
    img = image if image.mode in ("L", "RGB") else image.convert("L")
    fill: Any = 255 if img.mode == "L" else (255, 255, 255)
    return img.rotate(-angle, resample=PILImage.Resampling.BICUBIC, expand=False, fillcolor=fill)


def turn(image: Image.Image, degrees: int) -> Image.Image:
    """``image`` turned clockwise by a multiple of 90 degrees (exact, no resampling)."""
    from PIL import Image as PILImage

    ops = {
        90: PILImage.Transpose.ROTATE_270,
        180: PILImage.Transpose.ROTATE_180,
        270: PILImage.Transpose.ROTATE_90,
    }
    degrees %= 360
    return image.transpose(ops[degrees]) if degrees in ops else image


# ------------------------------------------------------------------------------ OSD


@dataclass(frozen=True)
class Osd:
    rotate: int  # clockwise turn that makes the page upright
    orientation_confidence: float
    script: str
    script_confidence: float


_OSD_LINE = re.compile(r"^([A-Za-z ]+):\s*(\S+)\s*$")


def osd_available() -> bool:
    from ocrkit.lang.codes import tesseract_languages

    return shutil.which("tesseract") is not None and "osd" in tesseract_languages()


def _run_osd(image: Image.Image, dpi: int) -> Osd | None:
    exe = shutil.which("tesseract")
    if exe is None:
        return None
    env = dict(os.environ)
    env.setdefault("OMP_THREAD_LIMIT", "1")
    with tempfile.TemporaryDirectory(prefix="ocrkit-osd-") as tmp:
        path = Path(tmp) / "page.png"
        gray = image if image.mode in ("1", "L") else image.convert("L")
        gray.save(path, format="PNG", compress_level=1)
        try:
            proc = subprocess.run(
                [exe, str(path), "-", "--psm", "0", "--dpi", str(max(70, int(dpi)))],
                capture_output=True,
                text=True,
                timeout=60,
                env=env,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
    fields: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        m = _OSD_LINE.match(line.strip())
        if m:
            fields[m.group(1).strip()] = m.group(2)
    try:
        return Osd(
            rotate=int(fields["Rotate"]) % 360,
            orientation_confidence=float(fields["Orientation confidence"]),
            script=fields["Script"],
            script_confidence=float(fields["Script confidence"]),
        )
    except (KeyError, ValueError):
        return None  # "Too few characters", or no osd traineddata


def _stacked(image: Image.Image, copies: int) -> Image.Image:
    from PIL import Image as PILImage

    gray = image.convert("L")
    pad = max(8, gray.height // 6)
    out = PILImage.new("L", (gray.width + 2 * pad, copies * (gray.height + pad) + pad), 255)
    for i in range(copies):
        out.paste(gray, (pad, pad + i * (gray.height + pad)))
    return out


def osd(image: Image.Image, dpi: int) -> Osd | None:
    """Tesseract's orientation and script for ``image``; None when it cannot tell.

    A wide, short image (a text line) that gives OSD too few characters is asked
    again stacked six times (from twice as wide as high: a line crop with margins, such
    as a 676x244 Persian line): its script then shows, and for a line the stacked image
    keeps the line's orientation (a line turned by 90 degrees is tall, so stacking is
    tried only for wide ones)."""
    res = _run_osd(image, dpi)
    if res is None and image.width >= 2 * image.height:
        res = _run_osd(_stacked(image, 6), dpi)
    return res


def script_languages(script: str, installed: list[str]) -> list[str]:
    """The installed Tesseract language for an OSD script ([] for Latin or unknown);
    the script table is :mod:`ocrkit.lang.codes`'."""
    from ocrkit.lang.codes import script_languages as pick

    return pick(script, installed)


def missing_script_language(script: str) -> str | None:
    """The Tesseract language an OSD script needs when none is installed (for a hint)."""
    from ocrkit.lang.codes import missing_script_language as need

    return need(script)


# --------------------------------------------------------------- mapping boxes back


def to_given(
    x: float, y: float, *, size: tuple[int, int], rotation: int, deskew_angle: float
) -> tuple[float, float]:
    """A point of the upright image (``size`` = its width, height) -> the same point on
    the page as given, undoing the deskew (about the centre) and then the clockwise
    quarter turn ``rotation``."""
    w, h = size
    if deskew_angle:
        a = math.radians(-deskew_angle)
        cx, cy = w / 2, h / 2
        dx, dy = x - cx, y - cy
        x, y = cx + dx * math.cos(a) - dy * math.sin(a), cy + dx * math.sin(a) + dy * math.cos(a)
    r = rotation % 360
    # The page as given is (h, w) for a quarter turn.
    gw, gh = (h, w) if r in (90, 270) else (w, h)
    if r == 90:  # given (gx, gy) -> upright (gh - gy, gx)
        return y, gh - x
    if r == 180:
        return gw - x, gh - y
    if r == 270:  # given (gx, gy) -> upright (gy, gw - gx)
        return gw - y, x
    return x, y


def box_to_given(bbox: list[float], page: Page) -> list[float]:
    """A box of ``page`` (upright image pixels) -> the axis-aligned box of its corners on
    the page as given (see the module docstring)."""
    turn_ = int(page.extra.get("engine_rotation", 0) or 0)
    angle = float(page.extra.get("deskew", 0.0) or 0.0)
    x0, y0, x1, y1 = bbox
    pts = [
        to_given(x, y, size=(page.width, page.height), rotation=turn_, deskew_angle=angle)
        for x, y in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))
    ]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return [min(xs), min(ys), max(xs), max(ys)]
