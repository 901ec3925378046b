"""Text lines on a page image, found without reading a word.

A vision model answers text without coordinates, and on handwriting the cpu engine
(Tesseract) reads too little for its words to place the model's lines. So the lines are
found from the ink itself:

* **RapidOCR's text detector** (PP-OCR's DB model, which ships in the ``rapidocr``
  wheel, run alone: no recognition) when ``rapidocr`` is installed. It finds
  handwritten lines and word groups as polygons; their axis-aligned boxes are
  :class:`Region` objects.
* Otherwise a **classical segmentation**: the page binarised at Otsu's threshold,
  small specks dropped, and rows of ink cut where the horizontal projection profile
  falls to (almost) nothing.

With the DB model, ink it left out (a date or heading standing alone at the top of a
letter) is looked for in the bands of ink outside every region (:func:`missed_regions`).

Either way the regions are then joined into lines (:func:`rows`): regions whose vertical
extents overlap by most of the smaller one's height and that are not far apart
horizontally are one line; a line's box is trimmed to the ink inside it
(:func:`trim_to_ink`), so it hugs the writing like a cpu engine's line box does.

Only the standard library, numpy, Pillow and (optionally) rapidocr.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocrkit.layout import otsu, true_runs

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

Box = list[float]

# Detector input: the page scaled so its longer side is at most this (the DB model
# finds handwritten lines at 1000-2000 px; larger costs time and splits lines).
DET_MAX_SIDE = 2000
# Two regions are one line when their vertical overlap is at least this share of the
# taller one's height (a stamp beside a line is not part of it) ...
ROW_OVERLAP = 0.5
# ... and the horizontal gap between them is under this many heights of the lower one.
ROW_GAP = 2.0
# A region is cut where its ink has an empty gap at least this many ink heights wide
# (words of a handwritten line are closer; a note beside a line is farther). At 1.0 the
# word gaps of a writer who spaces words widely cut whole lines into words (AD78_0002-0).
SPLIT_GAP = 1.25
# ... but a piece such a cut would leave narrower than this share of the region's height
# (a word or two of a writer who spaces letters widely) stays with its nearer neighbour:
# cut off, it stood taller than wide, was taken for a line of a page on its side
# (trimmed across, a row of its own) and the lines after it went a row off (AD78_0037-0).
SLIVER = 1.0
# Missed lines (:func:`missed_regions`): the ink mask is looked at in cells this many
# pixels square; a band of leftover ink is a line when its height is within this range
# of the detected lines' median, it is this many heights wide and this share of its
# cells hold ink.
MISSED_STEP = 4
MISSED_HEIGHT = (0.35, 2.0)
MISSED_WIDTH = 3.0
MISSED_INK = 0.04
# ... looked for only in the columns the detected lines of writing (MISSED_WIDTH heights
# wide or more) span. Beside them, leftover ink is notes, flourishes and stamps, which
# became rows the model's lines took, one row off (AN_0192-0, AN_0327-0, AN_0008-3); and
# a note written down the margin, a fold or the scan's edge inked every row of the page,
# so no band stood apart (AD78_0030-0).
MISSED_BODY_COLUMNS = True
# Trimming: the rows kept are those around the densest one holding at least this share
# of its dark pixels (and 2): a descender's few pixels count, a blank margin does not.
TRIM_INK = 0.01
# A detected region (or row) is trimmed around the densest row of its middle this share
# of its height: the detector centres its box on the line, whose top may reach over the
# line above's descenders or underline, which can hold more ink than the line itself.
TRIM_MIDDLE = 0.5
# Faint writing (:func:`with_faint_ink`: part of a page written in lighter ink, which the
# page's own threshold leaves out): a region holding under this share of the regions'
# median share of dark pixels ...
FAINT_SHARE = 0.5
# ... is binarised at its own Otsu threshold, when that lies this many grey levels or
# more below the region's median (its paper; a region of bare paper has no such ink).
FAINT_CONTRAST = 20
# Stamps (:func:`off_colour_shares`): ink whose CIELAB chroma lies this far from the
# writing's is not writing.
STAMP_CHROMA = 15.0
# ... or than this many times the writing's own pixels' median distance, if more (a
# stamp's pixels among the writing's, when a line was first placed on it, stay few).
STAMP_SPREAD = 2.5
# Only strokes count: pixels this much darker than the mean of the page around them
# (a box this many pixels either side).
STAMP_STROKE = 20
STAMP_PAPER = 15
# ... and the placement is redone only when some piece has at least this share of it.
STAMP_MIN = 0.3

# Two written lines in one region (:func:`text_bands`: slanted or close lines the
# detector merged): a region at least this many writing heights tall is looked at in
# vertical slices this many writing heights wide (a slanted line's band moves from slice
# to slice) ...
BAND_TALL = 1.5
BAND_SLICE = 3.0
# ... a slice holds two bands when its row profile (smoothed over an eighth of a height)
# has two runs at this share of its peak or more, each this many heights high, whose
# centres lie this many heights apart, and falls between them to this share of the
# lower band's peak ...
BAND_ON = 0.3
BAND_MIN = 0.25
BAND_APART = 0.6
BAND_VALLEY = 0.25
# ... and the region is cut (along each slice's valley) when this share of its inked
# slices hold two bands; each part has to be this many heights wide.
BAND_SHARE = 0.5
BAND_WIDE = 2.0
# A region is not cut when one of its parts lies this much (share of the part's area)
# inside another detected region's box (AD78_0064-2).
BAND_NEIGHBOUR = 0.5

_lock = threading.Lock()
_detector: Any = None


@dataclass
class Region:
    box: Box
    score: float = 1.0


@dataclass
class DetectedLine:
    box: Box  # [x0, y0, x1, y1], trimmed to the ink
    parts: list[Box]  # the regions it was made of, left to right
    score: float = 1.0

    @property
    def height(self) -> float:
        """The median height of its parts (a slanted line's union box is taller)."""
        hs = sorted(p[3] - p[1] for p in self.parts)
        return max(1.0, hs[len(hs) // 2])


def method() -> str:
    """Which detector :func:`detect_lines` uses here: ``"db"`` or ``"profile"``."""
    return "db" if _det_model() is not None else "profile"


DET_MODELS = (
    "PP-OCRv6_det_small.onnx",
    "ch_PP-OCRv5_det_mobile.onnx",
    "ch_PP-OCRv4_det_infer.onnx",
)


def shipped_model(names: tuple[str, ...]) -> Path | None:
    """The first of the model files ``names`` the installed rapidocr wheel ships, or
    None (rapidocr or onnxruntime missing, or none shipped)."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or spec.origin is None or importlib.util.find_spec("onnxruntime") is None:
        return None
    root = Path(spec.origin).parent / "models"
    return next((root / n for n in names if (root / n).is_file()), None)


def quiet_rapidocr(params: dict[str, Any]) -> Any:
    """A ``rapidocr.RapidOCR`` with ``params``, on one thread, logging errors only."""
    import onnxruntime
    from rapidocr import RapidOCR

    onnxruntime.set_default_logger_severity(3)
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    engine = RapidOCR(
        params={
            "Global.log_level": "error",
            "EngineConfig.onnxruntime.intra_op_num_threads": 1,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            **params,
        }
    )
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    return engine


def _det_model() -> Path | None:
    return shipped_model(DET_MODELS)


def _load_detector() -> Any:
    global _detector
    with _lock:
        if _detector is None:
            model = _det_model()
            if model is None:
                return None
            _detector = quiet_rapidocr(
                {
                    "Global.use_cls": False,
                    "Global.use_rec": False,
                    "Global.max_side_len": DET_MAX_SIDE,
                    "Det.model_path": str(model),
                    "Det.limit_type": "max",
                    "Det.limit_side_len": DET_MAX_SIDE,
                }
            )
    return _detector


def detect_regions(image: Image.Image) -> tuple[list[Region], str]:
    """Text regions of ``image`` and the method that found them."""
    det = _load_detector()
    if det is None:
        return profile_regions(image), "profile"
    import numpy as np

    rgb = np.asarray(image.convert("RGB"))
    out = det(rgb, use_det=True, use_cls=False, use_rec=False)
    boxes = getattr(out, "boxes", None)
    if boxes is None:
        return [], "db"
    scores = list(getattr(out, "scores", None) or [1.0] * len(boxes))
    w, h = image.size
    regions = []
    for poly, score in zip(boxes, scores, strict=False):
        xs = [min(max(float(p[0]), 0.0), w) for p in poly]
        ys = [min(max(float(p[1]), 0.0), h) for p in poly]
        if max(xs) - min(xs) >= 2 and max(ys) - min(ys) >= 2:
            regions.append(Region([min(xs), min(ys), max(xs), max(ys)], float(score)))
    return regions, "db"


def detect_lines(image: Image.Image) -> tuple[list[DetectedLine], str]:
    """The text lines of ``image`` (top to bottom, then left to right) and the method.
    Each line's parts (left to right) are trimmed to the ink too; a region with a wide
    empty gap in its ink (a date beside a heading note, a signature beside the last
    words) is cut there first, so its pieces can go to different lines of the answer."""
    lines, _, how = detect_line_sets(image)
    return lines, how


def detect_line_sets(
    image: Image.Image, dark: np.ndarray | None = None
) -> tuple[list[DetectedLine], list[DetectedLine] | None, str]:
    """:func:`detect_lines`, and the same lines with every region that holds two bands of
    writing cut into them (:func:`text_bands`), or None when no region does. Which of
    the two fits the model's answer is for the caller to say (the alignment's cost: a
    band cut that no model line asks for leaves a piece over, which costs)."""
    regions, how = detect_regions(image)
    if dark is None:
        dark = ink_mask(image)
    if how == "db":
        dark = with_faint_ink(image, regions, dark)
        regions += missed_regions(regions, dark)
    regions = split_at_gaps(regions, dark)
    lines = lines_of(regions, dark)
    # the writing's height: the median ink height of the (flat) regions
    inked = [
        trim_to_ink(r.box, dark) for r in regions if r.box[2] - r.box[0] >= r.box[3] - r.box[1]
    ]
    flat = sorted(b[3] - b[1] for b in inked)
    if len(flat) < 2:
        return lines, None, how
    body = flat[len(flat) // 2]
    banded: list[Region] = []
    cut = False
    for r in regions:
        parts = text_bands(r.box, dark, body)
        if len(parts) > 1 and any(
            _inside(p, o.box) >= BAND_NEIGHBOUR for p in parts for o in regions if o is not r
        ):
            # a band lying in another region's box is that region's line, whose ink
            # reaches into this box (slanted lines close together), not a second line
            parts = [r.box]
        cut = cut or len(parts) > 1
        banded += [Region(b, r.score) for b in parts]
    return lines, (lines_of(banded, dark) if cut else None), how


def _inside(a: Box, b: Box) -> float:
    """The share of ``a``'s area inside ``b``."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    area = (a[2] - a[0]) * (a[3] - a[1])
    return w * h / area if w > 0 and h > 0 and area > 0 else 0.0


def with_faint_ink(image: Image.Image, regions: list[Region], dark: np.ndarray) -> np.ndarray:
    """``dark`` (the page's ink at its own threshold) with the ink of faint regions
    added: a detected region holding under :data:`FAINT_SHARE` of the regions' median
    share of dark pixels (writing in a lighter ink than the rest of the page, which the
    page's threshold cuts into specks, so its line is broken into slivers and trimmed to
    nothing) is binarised at its own Otsu threshold, when that lies
    :data:`FAINT_CONTRAST` grey levels or more below the region's median grey (paper).
    ``dark`` itself when no region is faint."""
    import numpy as np

    h, w = dark.shape

    def _cut(box: Box) -> tuple[slice, slice]:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        return slice(max(0, y0), max(0, min(h, y1))), slice(max(0, x0), max(0, min(w, x1)))

    flat = [r for r in regions if r.box[2] - r.box[0] >= r.box[3] - r.box[1]]
    if len(flat) < 3:
        return dark
    shares = [float(dark[_cut(r.box)].mean()) if dark[_cut(r.box)].size else 0.0 for r in flat]
    usual = sorted(shares)[len(shares) // 2]
    faint = [r for r, s in zip(flat, shares, strict=True) if s < FAINT_SHARE * usual]
    if not faint:
        return dark
    grey = np.asarray(image.convert("L"))
    out = dark.copy()
    for r in faint:
        cut = _cut(r.box)
        crop = grey[cut]
        if crop.size == 0:
            continue
        t = otsu(np.bincount(crop.ravel(), minlength=256).astype(float))
        if float(np.median(crop)) - t >= FAINT_CONTRAST:
            out[cut] |= crop < t
    return out


def lines_of(regions: list[Region], dark: np.ndarray) -> list[DetectedLine]:
    """The regions joined into rows (:func:`rows`), boxes and parts trimmed to ``dark``
    ink, top to bottom."""
    lines = rows(regions)
    for ln in lines:
        ln.box = trim_to_ink(ln.box, dark, middle=TRIM_MIDDLE)
        ln.parts = [
            trim_to_ink(p, dark, middle=TRIM_MIDDLE) for p in sorted(ln.parts, key=lambda p: p[0])
        ]
    lines.sort(key=lambda ln: ((ln.box[1] + ln.box[3]) / 2, ln.box[0]))
    return lines


def text_bands(box: Box, dark: np.ndarray, body: float) -> list[Box]:
    """``box`` as the boxes of the written lines in it: one (``[box]``) unless the region's
    ink is :data:`BAND_TALL` writing heights (``body``: the page's median ink height of a
    region) tall or more and most of its inked
    vertical slices show two bands of ink (see the constants); then the ink above each
    slice's valley and the ink below it, each as its bounding box. A slanted pair of
    lines is followed slice by slice, so the parts' boxes overlap as the lines' do."""
    import numpy as np

    x0, y0, x1, y1 = (int(round(v)) for v in trim_to_ink(box, dark))
    x0, y0 = max(0, x0), max(0, y0)
    crop = dark[y0:y1, x0:x1]
    h, w = crop.shape
    if h < BAND_TALL * body or w < h or body < 4:
        return [box]
    sw = max(8, int(BAND_SLICE * body))
    r = max(1, int(body / 8))
    kernel = np.ones(2 * r + 1) / (2 * r + 1)
    cuts: list[tuple[int, int, int | None]] = []
    for a in range(0, w, sw):
        sl = crop[:, a : a + sw]
        if sl.sum() < body:  # (almost) no ink in this slice
            continue
        prof = np.convolve(sl.sum(axis=1).astype(float), kernel, mode="same")
        cuts.append((a, min(w, a + sw), _valley(prof, body)))
    found = [c for c in cuts if c[2] is not None]
    if not found or len(found) < BAND_SHARE * len(cuts):
        return [box]
    top = np.zeros_like(crop)
    low = np.zeros_like(crop)
    for a, b, v in cuts:
        if v is None:  # the nearest slice's valley
            v = min(found, key=lambda c: abs(c[0] - a))[2]
        assert v is not None
        top[:v, a:b] = crop[:v, a:b]
        low[v:, a:b] = crop[v:, a:b]
    out = []
    for part in (top, low):
        cols = np.flatnonzero(part.sum(axis=0) >= 2)
        rws = np.flatnonzero(part.sum(axis=1) >= 2)
        if len(cols) < 2 or len(rws) < 2 or cols[-1] - cols[0] < BAND_WIDE * body:
            return [box]
        out.append(
            [
                float(x0 + cols[0]),
                float(y0 + rws[0]),
                float(x0 + cols[-1] + 1),
                float(y0 + rws[-1] + 1),
            ]
        )
    return out


def _valley(prof: np.ndarray, body: float) -> int | None:
    """The row between two bands of ink in a slice's smoothed row profile ``prof``
    (the deepest such valley), or None for a slice with one band."""
    import numpy as np

    peak = float(prof.max())
    if peak <= 0:
        return None
    runs = [(a, b) for a, b in true_runs(prof >= BAND_ON * peak) if b - a >= BAND_MIN * body]
    best: tuple[float, int] | None = None
    for (a1, b1), (a2, b2) in zip(runs, runs[1:], strict=False):
        if (a2 + b2) / 2 - (a1 + b1) / 2 < BAND_APART * body or a2 <= b1:
            continue
        v = b1 + int(np.argmin(prof[b1:a2]))
        depth = float(prof[v]) / min(float(prof[a1:b1].max()), float(prof[a2:b2].max()))
        if depth <= BAND_VALLEY and (best is None or depth < best[0]):
            best = (depth, v)
    return best[1] if best else None


def missed_regions(regions: list[Region], dark: np.ndarray) -> list[Region]:
    """Lines of writing the detector left out (a date or heading standing alone at the
    top, written larger or fainter than the body): bands of ink outside every detected
    region (each widened by a quarter of its height), cut into regions at empty column
    runs :data:`SPLIT_GAP` band heights wide, kept when about as high as the page's
    lines (:data:`MISSED_HEIGHT`), :data:`MISSED_WIDTH` heights wide or more and holding
    ink like writing (:data:`MISSED_INK`); specks and ruled strokes are not lines."""
    import numpy as np

    flat = [r for r in regions if r.box[2] - r.box[0] >= r.box[3] - r.box[1]]
    if len(flat) < 3:
        return []
    hs = sorted(r.box[3] - r.box[1] for r in flat)
    body = hs[len(hs) // 2]
    f = MISSED_STEP
    h, w = dark.shape
    rest = dark[: h - h % f, : w - w % f].reshape(h // f, f, w // f, f).sum(axis=(1, 3)) >= 2
    for r in regions:
        pad = 0.25 * (r.box[3] - r.box[1])
        y0, y1 = int((r.box[1] - pad) // f), int((r.box[3] + pad) // f) + 1
        x0, x1 = int((r.box[0] - pad) // f), int((r.box[2] + pad) // f) + 1
        rest[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = False
    if MISSED_BODY_COLUMNS:
        # only the columns the body's lines span (see MISSED_BODY_COLUMNS)
        lines = [r.box for r in flat if r.box[2] - r.box[0] >= MISSED_WIDTH * body]
        if lines:
            c0 = max(0, int(min(b[0] for b in lines) // f))
            c1 = int(max(b[2] for b in lines) // f) + 1
            rest[:, :c0] = False
            rest[:, c1:] = False
    on = rest.sum(axis=1) >= max(2, int(0.01 * rest.shape[1]))
    out: list[Region] = []
    for a, b in true_runs(on):
        bh = (b - a) * f
        if not MISSED_HEIGHT[0] * body <= bh <= MISSED_HEIGHT[1] * body:
            continue
        band = rest[a:b]
        xs = np.flatnonzero(band.sum(axis=0) >= 1)
        if len(xs) < 2:
            continue
        for c0, c1 in gap_runs(xs, max(2, int(SPLIT_GAP * (b - a)))):
            piece = band[:, c0:c1]
            if c1 - c0 >= MISSED_WIDTH * (b - a) and piece.mean() >= MISSED_INK:
                out.append(Region([float(c0 * f), float(a * f), float(c1 * f), float(b * f)], 0.0))
    return out


def gap_runs(xs: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """The sorted positions ``xs`` (at least one) as runs ``(start, end)`` (end
    exclusive), a new run wherever two neighbours lie more than ``gap`` apart."""
    start = prev = int(xs[0])
    runs = []
    for x in xs[1:]:
        x = int(x)
        if x - prev > gap:
            runs.append((start, prev + 1))
            start = x
        prev = x
    runs.append((start, prev + 1))
    return runs


def split_at_gaps(regions: list[Region], dark: np.ndarray) -> list[Region]:
    """Each (wide) region cut at runs of ink-free columns at least :data:`SPLIT_GAP`
    times its ink height wide; pieces with (almost) no ink are dropped."""
    import numpy as np

    out: list[Region] = []
    for r in regions:
        x0, y0, x1, y1 = (int(round(v)) for v in r.box)
        crop = dark[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)]
        if crop.size == 0 or r.box[3] - r.box[1] > r.box[2] - r.box[0]:
            out.append(r)
            continue
        t = trim_to_ink(r.box, dark, middle=TRIM_MIDDLE)
        gap = max(4, int(SPLIT_GAP * (t[3] - t[1])))
        inked = crop.sum(axis=0) >= 2
        xs = np.flatnonzero(inked)
        if len(xs) < 2:
            out.append(r)
            continue
        pieces = _without_slivers(gap_runs(xs, gap), SLIVER * (r.box[3] - r.box[1]))
        if len(pieces) == 1:
            out.append(r)
            continue
        for a, b in pieces:
            if b - a >= 4 and crop[:, a:b].sum() >= 20:
                out.append(Region([float(x0 + a), r.box[1], float(x0 + b), r.box[3]], r.score))
    return out


def _without_slivers(runs: list[tuple[int, int]], least: float) -> list[tuple[int, int]]:
    """``runs`` (left to right) with each run narrower than ``least`` joined to its nearer
    neighbour, the narrowest first, until every run is as wide or only one is left."""
    runs = list(runs)
    while len(runs) > 1:
        k = min(range(len(runs)), key=lambda i: runs[i][1] - runs[i][0])
        if runs[k][1] - runs[k][0] >= least:
            break
        left = runs[k][0] - runs[k - 1][1] if k > 0 else None
        right = runs[k + 1][0] - runs[k][1] if k + 1 < len(runs) else None
        o = k - 1 if right is None or (left is not None and left <= right) else k + 1
        a, b = min(k, o), max(k, o)
        runs[a : b + 1] = [(runs[a][0], runs[b][1])]
    return runs


def rows(regions: list[Region]) -> list[DetectedLine]:
    """Regions joined into lines (see the module docstring)."""
    todo = sorted(regions, key=lambda r: r.box[0])
    lines: list[DetectedLine] = []
    for r in todo:
        best, best_overlap = None, 0.0
        if r.box[3] - r.box[1] > r.box[2] - r.box[0]:  # upright: not part of a line
            lines.append(DetectedLine(list(r.box), [list(r.box)], r.score))
            continue
        rh = r.box[3] - r.box[1]
        for ln in lines:
            if ln.box[3] - ln.box[1] > ln.box[2] - ln.box[0]:
                continue
            b = ln.parts[-1]  # the part nearest on the left (a union may span rows)
            across = min(b[2], r.box[2]) - max(b[0], r.box[0])
            if across > 0.5 * min(b[2] - b[0], r.box[2] - r.box[0]):
                continue  # stacked over the same columns: two lines, not one
            overlap = min(b[3], r.box[3]) - max(b[1], r.box[1])
            lh = b[3] - b[1]
            share = overlap / max(1.0, rh, lh)
            gap = r.box[0] - b[2]
            if share >= ROW_OVERLAP and gap < ROW_GAP * min(rh, lh) and share > best_overlap:
                best, best_overlap = ln, share
        if best is None:
            lines.append(DetectedLine(list(r.box), [list(r.box)], r.score))
        else:
            best.parts.append(list(r.box))
            b = best.box
            best.box = [
                min(b[0], r.box[0]),
                min(b[1], r.box[1]),
                max(b[2], r.box[2]),
                max(b[3], r.box[3]),
            ]
            best.score = min(best.score, r.score)
    return lines


def ink_mask(image: Image.Image) -> np.ndarray:
    """Dark pixels (below Otsu's threshold of the page), as a boolean array."""
    import numpy as np

    grey = np.asarray(image.convert("L"))
    t = otsu(np.bincount(grey.ravel(), minlength=256).astype(float))
    return grey < t


def off_colour_shares(
    image: Image.Image, dark: np.ndarray, boxes: list[Box], writing: list[Box]
) -> list[float] | None:
    """Per box of ``boxes``: the share of its dark pixels whose colour is not the
    writing's (a purple or red stamp on a page written in brown ink), the writing's
    colour being the median CIELAB chroma (a*, b*) of the dark pixels in the boxes
    ``writing`` (the lines the model's text was placed on: a page may be written in
    violet ink and have black print elsewhere, so the page's own median will not do). A
    pixel is off-colour when its chroma lies more than :data:`STAMP_CHROMA` from the
    writing's. None for an image without colour or without writing boxes."""
    import numpy as np
    from PIL import ImageFilter

    if image.mode not in ("RGB", "RGBA", "P", "CMYK") or not writing:
        return None
    lab = np.asarray(image.convert("RGB").convert("LAB"))
    ab = lab[..., 1:].view(np.int8)  # PIL stores a*, b* as signed bytes
    if not ab.any():
        return None
    h, w = dark.shape
    # strokes: dark pixels clearly darker than the paper around them (a tinted band,
    # such as tape over the page, is dark at Otsu's threshold but is not ink)
    grey = image.convert("L")
    paper = np.asarray(grey.filter(ImageFilter.BoxBlur(STAMP_PAPER)), dtype=np.int16)
    strokes = dark & (np.asarray(grey, dtype=np.int16) < paper - STAMP_STROKE)

    def _cut(box: Box) -> tuple[slice, slice]:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        return slice(max(0, y0), max(0, min(h, y1))), slice(max(0, x0), max(0, min(w, x1)))

    ref = np.zeros_like(dark)
    for b in writing:
        ys, xs = _cut(b)
        ref[ys, xs] = strokes[ys, xs]
    if ref.sum() < 20:
        return None
    ra, rb = ab[..., 0][ref].astype(float), ab[..., 1][ref].astype(float)
    ma, mb = float(np.median(ra)), float(np.median(rb))
    # violet ink's chroma varies more than brown's: the writing's own spread counts
    far = max(STAMP_CHROMA, STAMP_SPREAD * float(np.median(np.hypot(ra - ma, rb - mb))))
    out = []
    for b in boxes:
        ys, xs = _cut(b)
        m = strokes[ys, xs]
        if m.sum() < 20:
            out.append(0.0)
            continue
        pa = ab[ys, xs, 0][m].astype(float)
        pb = ab[ys, xs, 1][m].astype(float)
        out.append(float((np.hypot(pa - ma, pb - mb) > far).mean()))
    return out


def trim_to_ink(box: Box, dark: np.ndarray, share: float = TRIM_INK, middle: float = 1.0) -> Box:
    """``box`` shrunk to the ink: columns holding 2+ dark pixels; the run of rows around
    the densest row holding at least ``share`` of its dark pixels (and 2), the densest
    row being sought in the box's middle ``middle`` share of its height (the densest row
    anywhere when that holds no ink). Unchanged
    when it holds (almost) no ink. A box taller than wide (a line of a page on its
    side) is trimmed the same way across: rows with ink, the run of columns."""
    import numpy as np

    x0, y0, x1, y1 = (int(round(v)) for v in box)
    crop = dark[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)]
    if crop.size == 0:
        return list(box)
    upright = crop.shape[0] > crop.shape[1]  # a line of a page on its side: transposed
    if upright:
        crop = crop.T
    h, w = crop.shape
    cols = np.flatnonzero(crop.sum(axis=0) >= 2)
    prof = crop.sum(axis=1)
    if len(cols) < 2 or prof.max() < 2:
        return list(box)
    on = prof >= max(2.0, share * float(prof.max()))
    lo = int(h * (1 - middle) / 2)
    hi = max(lo + 1, h - lo)
    top = bottom = lo + int(np.argmax(prof[lo:hi]))
    if not on[top]:  # no ink in the middle: the densest row anywhere
        top = bottom = int(np.argmax(prof))
    while top > 0 and on[top - 1]:
        top -= 1
    while bottom < h - 1 and on[bottom + 1]:
        bottom += 1
    a0, a1, b0, b1 = int(cols[0]), int(cols[-1]) + 1, top, bottom + 1
    if upright:
        a0, a1, b0, b1 = b0, b1, a0, a1
    return [
        float(max(0, x0) + a0),
        float(max(0, y0) + b0),
        float(max(0, x0) + a1),
        float(max(0, y0) + b1),
    ]


def profile_regions(image: Image.Image) -> list[Region]:
    """Classical line segmentation: rows of ink between (almost) empty rows of the
    binarised page, each cut at wide empty column runs into regions."""
    import numpy as np

    dark = ink_mask(image)
    h, w = dark.shape
    if not dark.any():
        return []
    # Page edges and scanner borders are often dark: ignore rows/columns mostly dark.
    dark = (
        dark & (dark.mean(axis=1, keepdims=True) < 0.5) & (dark.mean(axis=0, keepdims=True) < 0.5)
    )
    prof = dark.mean(axis=1)
    on = prof > max(0.002, 0.1 * float(np.median(prof[prof > 0])) if (prof > 0).any() else 0.0)
    regions: list[Region] = []
    for start, y in true_runs(on):
        if y - start < 4:
            continue
        band = dark[start:y]
        cols = band.any(axis=0)
        xs = np.flatnonzero(cols)
        if len(xs) == 0:
            continue
        gap_max = 3 * (y - start)
        run_start = int(xs[0])
        prev = int(xs[0])
        for x in xs[1:]:
            x = int(x)
            if x - prev > gap_max:
                regions.append(Region([run_start, start, prev + 1, y]))
                run_start = x
            prev = x
        regions.append(Region([run_start, start, prev + 1, y]))
    return [r for r in regions if r.box[2] - r.box[0] >= 4]
