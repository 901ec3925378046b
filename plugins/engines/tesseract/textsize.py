"""How big a page's letters are, measured before Tesseract reads it.

Tesseract reads Latin print best with an x-height of roughly 15-30 px. Larger text
costs layout and line-finding time for nothing (a 300-dpi book page with a 27-px
x-height read at 0.59 scale: same words, ~15% less CPU); smaller text (a 9-px typescript
x-height, a screenshot) is misread, and used to be read twice: once as given, and again
from a 2-3x copy when the first reading's words came out small. Measuring the letters
first lets the page be read once, at the right size.

The measure: the width-weighted median height of the ink's connected components (on an
Otsu-binarised grey copy; Leptonica's ``pixConnCompBB``, the library Tesseract itself
runs on, already loaded in the process: OpenCV would add ~34 MB to every page worker).
Weighting by width makes the dots and diacritics of Arabic, and specks, count for
little (unweighted, an Arabic line measured 4 px for 30-px letters); for Latin print
the measure is the x-height (most letters are x-height letters), for CJK and Devanagari
the character's height. (Weighting by box area instead let capitals and ascenders pull
two typescripts from 22 to 26-28 px.)

The same distribution says how regular the letters are (:attr:`Letters.spread`, its
upper over its lower quartile): print has two heights (x-height and ascender/capital
height) and measured 1.0-1.6 on every printed and rotated corpus page, and 1.0-1.9 on
the non-Latin ones; the Poilus handwriting (letters of every size, joined strokes)
2.3-4.3. The engine does not scale irregular letters down (see its ``MAX_SPREAD``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from PIL import Image

# Components counted: 3-300 px high, at most 4x as wide as high (not rules, not
# underlined runs), boxes of at least 6 px.
MIN_H, MAX_H, MAX_ASPECT, MIN_AREA = 3, 300, 4, 6
# Fewer components than this: no estimate (a logo, a lone word: read as given).
MIN_COMPONENTS = 20
# Images above this many pixels are measured on a half-size copy (a quarter of the
# work; only large text is looked for there: small text is enlarged only in images up
# to the engine's SMALL_IMAGE_PIXELS, which is this).
HALF_ABOVE = 3_000_000


@lru_cache(maxsize=1)
def _leptonica() -> Any:
    """Leptonica through ctypes: the copy bundled with the tesserocr wheel, else the
    system's; None when neither loads."""
    paths = []
    try:
        import tesserocr

        site = Path(tesserocr.__file__).resolve().parent.parent
        paths += sorted(str(p) for p in (site / "tesserocr.libs").glob("libleptonica-*.so*"))
    except ImportError:
        pass
    found = ctypes.util.find_library("lept") or ctypes.util.find_library("leptonica")
    paths += [found] if found else []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        vp, i32 = ctypes.c_void_p, ctypes.c_int
        lib.pixCreate.restype, lib.pixCreate.argtypes = vp, [i32, i32, i32]
        lib.pixGetData.restype, lib.pixGetData.argtypes = vp, [vp]
        lib.pixGetWpl.restype, lib.pixGetWpl.argtypes = i32, [vp]
        lib.pixConnCompBB.restype, lib.pixConnCompBB.argtypes = vp, [vp, i32]
        pp = ctypes.POINTER(vp)
        lib.boxaExtractAsNuma.restype = i32
        lib.boxaExtractAsNuma.argtypes = [vp, pp, pp, pp, pp, pp, pp, i32]
        lib.numaGetCount.restype, lib.numaGetCount.argtypes = i32, [vp]
        lib.numaGetFArray.restype = ctypes.POINTER(ctypes.c_float)
        lib.numaGetFArray.argtypes = [vp, i32]
        lib.numaDestroy.argtypes = [pp]
        lib.pixDestroy.argtypes = [ctypes.POINTER(vp)]
        lib.boxaDestroy.argtypes = [ctypes.POINTER(vp)]
        return lib
    return None


def _component_sizes(ink: Any) -> Any:
    """(width, height) of each 8-connected component of a boolean image, or None."""
    import numpy as np

    lib = _leptonica()
    if lib is None:
        return None
    h, w = ink.shape
    pix = lib.pixCreate(w, h, 1)
    if not pix:
        return None
    boxa = None
    try:
        wpl = lib.pixGetWpl(pix)
        rows = np.zeros((h, wpl * 4), np.uint8)
        packed = np.packbits(ink, axis=1)  # leftmost pixel in the high bit, as Leptonica
        rows[:, : packed.shape[1]] = packed
        words = np.ascontiguousarray(rows.view(">u4").astype(np.uint32))  # native words
        ctypes.memmove(lib.pixGetData(pix), words.ctypes.data, words.nbytes)
        boxa = lib.pixConnCompBB(pix, 8)
        if not boxa:
            return None
        # widths and heights as two NUMAs (float arrays), read straight into numpy
        naw, nah = ctypes.c_void_p(), ctypes.c_void_p()
        if lib.boxaExtractAsNuma(
            boxa, None, None, None, None, ctypes.byref(naw), ctypes.byref(nah), 0
        ):
            return None
        try:
            n = lib.numaGetCount(naw)
            out = np.empty((n, 2), np.int32)
            if n:
                for col, na in enumerate((naw, nah)):
                    arr = np.ctypeslib.as_array(lib.numaGetFArray(na, 0), shape=(n,))  # L_NOCOPY
                    out[:, col] = arr
            return out
        finally:
            for na in (naw, nah):
                if na:
                    lib.numaDestroy(ctypes.byref(na))
    finally:
        lib.pixDestroy(ctypes.byref(ctypes.c_void_p(pix)))
        if boxa:
            lib.boxaDestroy(ctypes.byref(ctypes.c_void_p(boxa)))


class Letters(NamedTuple):
    height: float  # width-weighted median height of the ink components (px)
    spread: float  # their width-weighted 75th over 25th height percentile (>= 1)


def letter_height(image: Image.Image) -> float | None:
    """The width-weighted median height (px) of the page's ink components, or None when
    the page has too few of them to say (or Leptonica cannot be loaded)."""
    found = letters(image)
    return found.height if found else None


def letters(image: Image.Image) -> Letters | None:
    """:func:`letter_height` and how regular the letters are, or None."""
    import numpy as np

    from ocrkit.layout import otsu

    grey = image if image.mode == "L" else image.convert("L")
    f = 1
    if grey.width * grey.height > HALF_ABOVE:
        grey, f = grey.reduce(2), 2
    g = np.asarray(grey)
    # Pillow's histogram: the counts np.bincount gives, without its int64 copy of
    # every pixel (16 MB for a half-size A4 page)
    t = otsu(np.array(grey.histogram(), dtype=float))
    ink = g < t
    if np.count_nonzero(ink) > ink.size // 2:  # light text on a dark ground
        ink = ~ink
    sizes = _component_sizes(ink)
    if sizes is None:
        return None
    w, h = sizes[:, 0], sizes[:, 1]
    lo = max(2, MIN_H // f)
    keep = (h >= lo) & (h <= MAX_H // f) & (w <= MAX_ASPECT * h) & (w * h >= MIN_AREA // f)
    h, w = h[keep], w[keep]
    if len(h) < MIN_COMPONENTS:
        return None
    order = np.argsort(h, kind="stable")
    cum = np.cumsum(w[order])
    hs = h[order]

    def quantile(q: float) -> float:
        return float(hs[np.searchsorted(cum, cum[-1] * q)] * f)

    return Letters(quantile(0.5), quantile(0.75) / max(quantile(0.25), 1.0))
